"""Contacts: one appeal of a lead through a source, assigned to an operator or waiting; the
operator's own view of them (a proxy for his workspace)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models.leads import Lead
from crm.models.limits import MESSAGE_MAX_LENGTH
from crm.models.routing import Operator, Source


class ContactStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class UnassignedReason(models.TextChoices):
    """Why a contact waits without an operator (stored on the contact and in its decision)."""

    NO_OPERATORS = "no_operators", _("no operators linked to the source")
    ALL_INACTIVE = "all_inactive", _("all linked operators are inactive")
    ALL_PAUSED = "all_paused", _("all active operators have weight 0")
    ALL_AT_CAPACITY = "all_at_capacity", _("all eligible operators are at capacity")
    NOBODY_ONLINE = "nobody_online", _("no operator with room is online")
    # There is room, but older contacts of the source wait for it: this one waits behind them.
    BEHIND_QUEUE = "behind_queue", _("older contacts of the source are waiting first")


# A contact waits for an operator: open, nobody assigned. The queue, the stats, the admin and
# the partial index crm_contact_waiting_idx all use this one condition.
CONTACT_WAITING = Q(status=ContactStatus.OPEN, operator__isnull=True)


class ContactQuerySet(models.QuerySet):
    def waiting(self) -> "ContactQuerySet":
        """Contacts waiting for an operator (index crm_contact_waiting_idx by source):
        CONTACT_WAITING with the status written into the SQL (crm.compiled.LiteralExact). The
        index is partial on it, and a prepared statement's generic plan cannot match a bound
        status (on PostgreSQL the queue drain's read then walked crm_contact_source_idx from
        the source's oldest contact)."""
        return self.filter(status__literal=ContactStatus.OPEN, operator__isnull=True)


class Contact(models.Model):
    """One appeal of a lead through a source, assigned to an operator or waiting."""

    Status = ContactStatus
    UnassignedReason = UnassignedReason

    # No index of their own (db_index=False): crm_contact_lead_idx, _source_idx and
    # _operator_idx below lead with the same column and serve every lookup by it, the foreign
    # keys' checks on delete included; a second index only cost each intake its upkeep.
    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("lead"), db_index=False
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("source"), db_index=False
    )
    operator = models.ForeignKey(
        Operator,
        on_delete=models.PROTECT,
        related_name="contacts",
        null=True,
        blank=True,
        verbose_name=_("operator"),
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    unassigned_reason = models.CharField(
        _("why unassigned"), max_length=32, choices=UnassignedReason.choices, blank=True, default=""
    )
    # The decision that put the contact where it is: strategy, affinity, every candidate
    # with weight, load and why it was excluded (see crm.services.assignment.Decision).
    assignment = models.JSONField(_("assignment decision"), default=dict, blank=True)
    # What the lead wrote, and the channel's own data (a flat object of scalars, the channel's
    # ids, UTM tags...), as the intake received them; blanked by an erasure.
    message = models.TextField(_("message"), blank=True, default="")
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Who registered it (a bot, or staff): bots read back only their own contacts. PROTECT,
    # like the other references: a user with contacts is retired by deactivating him or
    # revoking his keys, not deleted, so attribution is never silently lost.
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="registered_contacts",
        null=True,
        blank=True,
        verbose_name=_("registered by"),
    )

    objects = ContactQuerySet.as_manager()

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ContactStatus.values), name="crm_contact_status_valid"),
            models.CheckConstraint(
                condition=(
                    Q(status=ContactStatus.OPEN, closed_at__isnull=True)
                    | Q(status=ContactStatus.CLOSED, closed_at__isnull=False)
                ),
                name="crm_contact_closed_at_iff_closed",
            ),
            # A reason exactly when there is no operator, and only a known one.
            models.CheckConstraint(
                condition=(
                    Q(operator__isnull=False, unassigned_reason="")
                    | Q(
                        operator__isnull=True,
                        unassigned_reason__in=UnassignedReason.values,
                    )
                ),
                name="crm_contact_reason_iff_unassigned",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("message"), MESSAGE_MAX_LENGTH), name="crm_contact_message_length"
            ),
        ]
        indexes = [
            # Contact lists filtered by source / operator / lead, newest first (cursor on id).
            models.Index(fields=["source", "-id"], name="crm_contact_source_idx"),
            models.Index(fields=["operator", "-id"], name="crm_contact_operator_idx"),
            models.Index(fields=["lead", "-id"], name="crm_contact_lead_idx"),
            # The waiting queue of a source, oldest first: open contacts without an operator.
            models.Index(
                fields=["source", "id"],
                condition=CONTACT_WAITING,
                name="crm_contact_waiting_idx",
            ),
            # Time windows: the distribution stats (created_at >= since) and admin's date hierarchy.
            models.Index(fields=["created_at"], name="crm_contact_created_idx"),
            # Recount of loads: open contacts per operator.
            models.Index(fields=["operator"], condition=Q(status=ContactStatus.OPEN), name="crm_contact_open_idx"),
        ]

    def __str__(self) -> str:
        return gettext("#%(id)s %(lead)s via %(source)s") % {"id": self.pk, "lead": self.lead, "source": self.source}


class OperatorContact(Contact):
    """A contact as its operator sees it in his workspace ("My contacts" in the admin): the
    same row, shown through crm.admin.workspace, which lists only his own open contacts."""

    class Meta:
        proxy = True
        verbose_name = _("my contact")
        verbose_name_plural = _("my contacts")
        # No model permissions: who may see it is decided by who the operator is.
        default_permissions = ()
