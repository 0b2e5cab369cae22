"""Routing: operators serve sources with weights (the links), each source with its strategy."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from crm.models.limits import MAX_CAPACITY, MAX_WEIGHT, NAME_MAX_LENGTH


class OperatorAvailability(models.TextChoices):
    """What the operator says of himself. Only online operators receive new contacts."""

    ONLINE = "online", _("online")
    AWAY = "away", _("away")
    OFFLINE = "offline", _("offline")


class Operator(models.Model):
    Availability = OperatorAvailability

    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    is_active = models.BooleanField(_("active"), default=True)
    # His own login (optional). Operators without one are managed by staff, as always, and
    # are never auto-away. Unique by the one-to-one; a deleted user leaves the operator.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="operator",
        verbose_name=_("login"),
    )
    # Online by default: operators without a login keep receiving contacts as before.
    availability = models.CharField(
        _("availability"), max_length=16, choices=Availability.choices, default=Availability.ONLINE
    )
    availability_changed_at = models.DateTimeField(_("availability since"), null=True, blank=True, editable=False)
    # His last activity (workspace page or API call), written at most once a minute. With a
    # login and nothing newer than OPERATOR_AWAY_AFTER he counts as away for routing: the
    # rule is part of eligibility (crm.services.assignment), no job has to run.
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)
    max_load = models.PositiveIntegerField(_("max load"), default=10)
    # Number of this operator's open contacts. Stored, not counted, so the capacity rule is a
    # CHECK the database enforces and reading a load costs one row whatever the history.
    # Only crm.services change it, always under the operator's row lock.
    open_load = models.PositiveIntegerField(_("current load"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="crm_operator_name_unique_ci"),
            models.CheckConstraint(condition=~Q(name=""), name="crm_operator_name_not_blank"),
            models.CheckConstraint(
                condition=Q(max_load__gte=0) & Q(max_load__lte=MAX_CAPACITY),
                name="crm_operator_max_load_range",
            ),
            models.CheckConstraint(condition=Q(open_load__gte=0), name="crm_operator_load_non_negative"),
            models.CheckConstraint(condition=Q(open_load__lte=F("max_load")), name="crm_operator_load_within_capacity"),
            models.CheckConstraint(
                condition=Q(availability__in=OperatorAvailability.values), name="crm_operator_availability_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SourceStrategy(models.TextChoices):
    """How a source chooses among its eligible operators."""

    RANDOM = "random", _("weighted random")
    SMOOTH = "smooth", _("smooth (deterministic, by weight)")


class Source(models.Model):
    Strategy = SourceStrategy

    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    strategy = models.CharField(
        _("strategy"),
        max_length=16,
        choices=Strategy.choices,
        default=Strategy.RANDOM,
        help_text=_("How an operator is chosen among the eligible ones."),
    )
    affinity = models.BooleanField(
        _("lead affinity"),
        default=False,
        help_text=_("Give a returning lead the operator of their last contact on this source when he can take it."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="crm_source_name_unique_ci"),
            models.CheckConstraint(condition=~Q(name=""), name="crm_source_name_not_blank"),
            models.CheckConstraint(condition=Q(strategy__in=SourceStrategy.values), name="crm_source_strategy_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class OperatorSource(models.Model):
    """An operator serves a source with a weight; weight 0 keeps the link but pauses it."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="links", verbose_name=_("operator"))
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="links", verbose_name=_("source"))
    weight = models.PositiveIntegerField(_("weight"), default=10)
    # Contacts this link received in the current round of the "smooth" strategy; the round
    # restarts (all counts of the source to 0) when the source's weights or operators change.
    smooth_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("operator weight")
        verbose_name_plural = _("operator weights")
        ordering = ["id"]
        constraints = [
            # The pair is unique; its index also serves "links of an operator".
            models.UniqueConstraint(fields=["operator", "source"], name="crm_operatorsource_pair_unique"),
            models.CheckConstraint(
                condition=Q(weight__gte=0) & Q(weight__lte=MAX_WEIGHT), name="crm_operatorsource_weight_range"
            ),
        ]
        indexes = [
            # Intake: "links of this source" (the candidates).
            models.Index(fields=["source", "operator"], name="crm_opsrc_source_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} → {self.source} ({self.weight})"
