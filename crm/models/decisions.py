"""The decision record (`Contact.assignment`): its words, as TextChoices.

Written by crm.services.assignment (Decision.record), documented by the API's serializers,
shown by the admin. The labels are what staff read."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models.routing import SourceStrategy


class AssignmentVia(models.TextChoices):
    """Which path put the contact where it is."""

    INTAKE = "intake", _("on registration")
    QUEUE = "queue", _("from the waiting queue")
    REASSIGN = "reassign", _("reassigned")
    REDISTRIBUTE = "redistribute", _("returned to the queue (operator deactivated)")
    TRANSFER = "transfer", _("transferred")


class DecisionStrategy(models.TextChoices):
    """The source's strategy at the time of the decision, or "manual" (staff chose)."""

    RANDOM = SourceStrategy.RANDOM.value, _("weighted random")
    SMOOTH = SourceStrategy.SMOOTH.value, _("smooth")
    MANUAL = "manual", _("by hand")


class AffinityOutcome(models.TextChoices):
    """Lead affinity on a source that has it on (the record holds null when it is off)."""

    HIT = "hit", _("the lead's previous operator took it")
    MISS = "miss", _("the lead's previous operator could not take it")
    NO_HISTORY = "no_history", _("no earlier contact of this lead here")


class Exclusion(models.TextChoices):
    """Why a candidate operator could not take the contact (null in the record: eligible)."""

    INACTIVE = "inactive", _("inactive")
    PAUSED = "paused", _("paused (weight 0)")
    AWAY = "away", _("away")
    OFFLINE = "offline", _("offline")
    FULL = "full", _("full")
    CURRENT = "current", _("current operator")
