"""What happened: the history of staff routing changes and the event log of contacts and
operators (which the outgoing webhooks send)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models.contacts import Contact
from crm.models.decisions import AssignmentVia
from crm.models.routing import Operator, Source


class RoutingChangeAction(models.TextChoices):
    """What a routing change did (RoutingChange.action)."""

    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    DELETE = "delete", _("deleted")


class RoutingObjectType(models.TextChoices):
    """What a routing change changed (RoutingChange.object_type): the model's name."""

    OPERATOR = "operator", _("operator")
    SOURCE = "source", _("source")
    OPERATOR_SOURCE = "operatorsource", _("operator weight")


class RoutingChange(models.Model):
    """History of staff changes to the routing configuration: who changed what, when.
    Written by crm.services.routing_config in the same transaction as the change itself."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    # The name survives the user's deletion (SET_NULL above): the history stays readable.
    actor_name = models.CharField(_("changed by (name)"), max_length=150, blank=True, default="")
    action = models.CharField(_("action"), max_length=32, choices=RoutingChangeAction.choices)
    object_type = models.CharField(_("object type"), max_length=32, choices=RoutingObjectType.choices)
    object_id = models.BigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=200)
    changes = models.JSONField(_("changes"), default=dict, help_text=_("field: [old, new]"))
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("routing change")
        verbose_name_plural = _("routing changes")
        ordering = ["-id"]
        indexes = [
            # Admin: the history of one object, newest first.
            models.Index(fields=["object_type", "object_id", "-id"], name="crm_routingchange_object_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or "?"
        return f"{self.created_at:%Y-%m-%d %H:%M} {who}: {self.object_repr} ({self.get_action_display()})"


class EventType(models.TextChoices):
    """What happened. Stored in `Event.type` and sent as the webhook's event type."""

    CONTACT_REGISTERED = "contact.registered", _("contact registered")
    CONTACT_ASSIGNED = "contact.assigned", _("contact assigned")
    CONTACT_WAITING = "contact.waiting", _("contact waiting")
    CONTACT_CLOSED = "contact.closed", _("contact closed")
    CONTACT_TRANSFERRED = "contact.transferred", _("contact transferred")
    OPERATOR_AVAILABILITY_CHANGED = "operator.availability_changed", _("operator availability changed")
    LEAD_ERASED = "lead.erased", _("lead erased")


class ActorKind(models.TextChoices):
    """Who caused an event: a bot (API client registering contacts), a staff user, an
    operator working his own contacts, or the system (routing on its own, a command)."""

    BOT = "bot", _("bot")
    STAFF = "staff", _("staff")
    OPERATOR = "operator", _("operator")
    SYSTEM = "system", _("system")


class EventVia(models.TextChoices):
    """`Event.data["via"]`: the path that put a contact where it is — the decision record's
    words (AssignmentVia), and "affinity" when the lead's previous operator took it."""

    INTAKE = AssignmentVia.INTAKE.value, AssignmentVia.INTAKE.label
    QUEUE = AssignmentVia.QUEUE.value, AssignmentVia.QUEUE.label
    AFFINITY = "affinity", _("by lead affinity")
    REASSIGN = AssignmentVia.REASSIGN.value, AssignmentVia.REASSIGN.label
    TRANSFER = AssignmentVia.TRANSFER.value, AssignmentVia.TRANSFER.label
    REDISTRIBUTE = AssignmentVia.REDISTRIBUTE.value, AssignmentVia.REDISTRIBUTE.label


class Event(models.Model):
    """The append-only, ordered log of what happened to contacts and operators: each row is
    written by crm.services.events in the same transaction as the change it records, so
    there is an event exactly when the change committed. `id` is the order (a contact's
    timeline, the outgoing webhooks' outbox). What happened is never updated, and no row is
    deleted (only the webhooks' `dispatched_at` stamp is set later); the PROTECT references
    keep what they point to. `data` holds ids and routing words, never key
    material or personal data (an erased lead leaves no value behind here)."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    type = models.CharField(_("event"), max_length=40, choices=EventType.choices)
    # No single-column index: crm_event_contact_idx (contact, id) starts with it.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
        verbose_name=_("contact"),
    )
    # Indexed (Django's default for a reference): an operator's events, and the PROTECT check
    # when an operator is deleted.
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, null=True, blank=True, related_name="events", verbose_name=_("operator")
    )
    # Repeated from the contact so that subscribers can filter by source without a join.
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
        verbose_name=_("source"),
    )
    actor_kind = models.CharField(_("actor"), max_length=16, choices=ActorKind.choices)
    # Not indexed: nothing reads events by user; the one query that would (the PROTECT check
    # when a user is deleted, a rare staff act) may scan, so the intake pays no extra index.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("by user"),
    )
    data = models.JSONField(_("details"), default=dict, blank=True)
    # The one column written after the insert, by the webhooks' fan-out only: when the event
    # was handed to the webhook endpoints (NULL: not yet). The fan-out selects by it, never by
    # a "last id seen" cursor, so an event whose transaction commits after a later id's is
    # still picked up (crm.services.webhook_outbox). What happened is never updated.
    dispatched_at = models.DateTimeField(_("dispatched to webhooks"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=EventType.values), name="crm_event_type_valid"),
            models.CheckConstraint(condition=Q(actor_kind__in=ActorKind.values), name="crm_event_actor_kind_valid"),
            # A contact's event names its contact and source; an operator's, its operator.
            models.CheckConstraint(
                condition=~Q(type__startswith="contact.") | Q(contact__isnull=False, source__isnull=False),
                name="crm_event_contact_event_has_contact",
            ),
            models.CheckConstraint(
                condition=~Q(type__startswith="operator.") | Q(operator__isnull=False),
                name="crm_event_operator_event_has_operator",
            ),
            # The system acts without a user; bots, staff and operators are users.
            models.CheckConstraint(
                condition=Q(actor_kind="system") | Q(actor_user__isnull=False),
                name="crm_event_actor_user_unless_system",
            ),
        ]
        indexes = [
            # A contact's timeline, in order (GET /contacts/{id}/events/, the contact's admin page).
            models.Index(fields=["contact", "id"], name="crm_event_contact_idx"),
            # Events of one source in order (webhook endpoints bound to a source).
            models.Index(fields=["source", "id"], name="crm_event_source_idx"),
            # Events in a time window, in order (admin list, "since T" catch-up).
            models.Index(fields=["occurred_at", "id"], name="crm_event_occurred_idx"),
            # Webhook fan-out: undispatched events, oldest first; as small as the backlog.
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="crm_event_undispatched_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type}"
