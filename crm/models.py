"""The domain: operators serve sources with weights; leads come in through sources as contacts.

Every rule a database can hold is a constraint here, so bad rows cannot exist even when they
are written around the services. The one cross-row rule, "an operator never has more open
contacts than max_load", is held by a stored counter (`Operator.open_load`) that the services
keep in step with the contacts under a row lock, and a CHECK that the counter never exceeds
`max_load`.
"""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Length, Lower, Reverse, StrIndex, Trim
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

NAME_MAX_LENGTH = 100
EXTERNAL_ID_MAX_LENGTH = 255
LEAD_NAME_MAX_LENGTH = 200
# A canonical phone is E.164: "+" and at most 15 digits (crm.services.leads.phone_normalise).
PHONE_MAX_LENGTH = 16
EMAIL_MAX_LENGTH = 254
MESSAGE_MAX_LENGTH = 4000
METADATA_MAX_BYTES = 4096
MAX_WEIGHT = 1000
MAX_CAPACITY = 100_000
# Ids are 64-bit integers: a larger number given as input is refused before it reaches a query.
MAX_ID = 2**63 - 1
# An id in a URL path: every number of up to 18 digits fits in MAX_ID; anything else is a 404.
ID_PATH_REGEX = rf"[0-9]{{1,{len(str(MAX_ID)) - 1}}}"
MAX_PATH_ID = 10 ** (len(str(MAX_ID)) - 1) - 1


def id_from_text(text: str) -> int | None:
    """`text` as a number that can be an id column's value (ASCII digits, at most MAX_ID), else
    None. Never int() on an overlong string (Python refuses over 4300 digits with an error)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


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


class Lead(models.Model):
    """An end client, identified by a normalised external id (stripped, lower-cased), with the
    profile his contacts told us: name, phone (E.164), email (lower-cased). `created_at` is
    when he was first seen, `last_seen_at` his latest contact. Only crm.services.leads writes
    the profile (a later non-empty value wins, an empty one never erases)."""

    external_id = models.CharField(_("external id"), max_length=EXTERNAL_ID_MAX_LENGTH, unique=True)
    name = models.CharField(_("name"), max_length=LEAD_NAME_MAX_LENGTH, blank=True, default="")
    # The name's words for search, lower-cased by Python, between spaces (" anna petrova ";
    # crm.services.leads.lead_name_search): SQLite's LOWER() knows only ASCII, and the spaces
    # make "begins with" and "has the word" plain LIKEs.
    name_search = models.TextField(blank=True, default="", editable=False)
    phone = models.CharField(_("phone"), max_length=PHONE_MAX_LENGTH, blank=True, default="")
    email = models.CharField(_("email"), max_length=EMAIL_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    # Set by crm.services.lead_erasure.lead_erase: the profile, the external id (now a random token)
    # and the contacts' messages and metadata were erased on request.
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["id"]
        indexes = [
            # Admin's date hierarchy on leads.
            models.Index(fields=["created_at"], name="crm_lead_created_idx"),
            # Lead search (crm.selectors.lead_search), OR-ed conditions each answered by its own
            # index (created on PostgreSQL only, see migrations 0006_lead_search_indexes and 0011_lead_search_btrees):
            # `external_id LIKE '%term%'` by a trigram GIN index; the name's whole words,
            # `to_tsvector('simple', name_search) @@ 'anna & petrova'`, by a full-text GIN
            # index (a name's trigrams, "ov " of every Ivanov, are in most rows);
            # `name_search LIKE ' anna pe%'`, `email LIKE 'term%'`, `phone LIKE '+digits%'`
            # and `REVERSE(phone) LIKE 'stigid%'` (a number's end) by B-trees in pattern order.
            GinIndex(fields=["external_id"], opclasses=["gin_trgm_ops"], name="crm_lead_external_id_trgm"),
            GinIndex(SearchVector("name_search", config="simple"), name="crm_lead_name_fts"),
            models.Index(fields=["name_search"], opclasses=["text_pattern_ops"], name="crm_lead_name_prefix"),
            models.Index(fields=["email"], opclasses=["varchar_pattern_ops"], name="crm_lead_email_prefix"),
            models.Index(fields=["phone"], opclasses=["varchar_pattern_ops"], name="crm_lead_phone_prefix"),
            models.Index(OpClass(Reverse("phone"), name="text_pattern_ops"), name="crm_lead_phone_suffix"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(external_id=""), name="crm_lead_external_id_not_blank"),
            models.CheckConstraint(
                condition=Q(external_id=Lower(Trim("external_id"))), name="crm_lead_external_id_normalised"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("external_id"), EXTERNAL_ID_MAX_LENGTH),
                name="crm_lead_external_id_length",
            ),
            models.CheckConstraint(condition=Q(name=Trim("name")), name="crm_lead_name_trimmed"),
            # E.164: empty, or "+" and 3 to 15 digits (the digits are the service's to check).
            models.CheckConstraint(
                condition=Q(phone="")
                | (
                    Q(phone__startswith="+")
                    & Q(GreaterThanOrEqual(Length("phone"), 4))
                    & Q(LessThanOrEqual(Length("phone"), PHONE_MAX_LENGTH))
                ),
                name="crm_lead_phone_e164",
            ),
            models.CheckConstraint(condition=Q(email=Lower(Trim("email"))), name="crm_lead_email_normalised"),
        ]

    def __str__(self) -> str:
        return self.external_id


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


# --- The decision record (Contact.assignment): its words -------------------------------------
# Written by crm.services.assignment (Decision.record), documented by the API's serializers,
# shown by the admin. The labels are what staff read.


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


# A contact waits for an operator: open, nobody assigned. The queue, the stats, the admin and
# the partial index crm_contact_waiting_idx all use this one condition.
CONTACT_WAITING = Q(status=ContactStatus.OPEN, operator__isnull=True)


class ContactQuerySet(models.QuerySet):
    def waiting(self) -> "ContactQuerySet":
        """Contacts waiting for an operator (index crm_contact_waiting_idx by source)."""
        return self.filter(CONTACT_WAITING)


class Contact(models.Model):
    """One appeal of a lead through a source, assigned to an operator or waiting."""

    Status = ContactStatus
    UnassignedReason = UnassignedReason

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("lead"))
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("source"))
    operator = models.ForeignKey(
        Operator,
        on_delete=models.PROTECT,
        related_name="contacts",
        null=True,
        blank=True,
        verbose_name=_("operator"),
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


# --- Access and reliability: bot bindings, idempotency keys, routing history ----------------

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class BotSource(models.Model):
    """A bot may post only to the sources it is bound to; a bot bound to none may post to
    every source. The source is PROTECTed: deleting a bound source would silently widen the
    bot's rights to every source."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_sources", verbose_name=_("bot")
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="bot_bindings", verbose_name=_("source"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("bot source binding")
        verbose_name_plural = _("bot source bindings")
        ordering = ["id"]
        constraints = [
            # Its index also serves the intake's "sources of this bot" check.
            models.UniqueConstraint(fields=["user", "source"], name="crm_botsource_pair_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.source}"


class IdempotencyKey(models.Model):
    """The stored outcome of a request sent with an `Idempotency-Key`, per client (user).

    The row is inserted in the same transaction as the contact it produces, so it exists
    exactly when the contact does: a crash mid-request leaves neither, and the retry is
    processed afresh. `fingerprint` is a hash of the request (method, path, body): the same
    key with another body is refused."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys", verbose_name=_("client")
    )
    key = models.CharField(_("key"), max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"))
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("contact")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)  # purge of expired keys

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        ordering = ["-id"]
        constraints = [
            # The one guarantee: a client's key is processed once. Concurrent twins wait on
            # this index until the first commits, then replay its response.
            models.UniqueConstraint(fields=["user", "key"], name="crm_idempotencykey_user_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="crm_idempotencykey_key_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.key}"


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
    action = models.CharField(_("action"), max_length=32)
    object_type = models.CharField(_("object type"), max_length=32)
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
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or '?'} {self.action} {self.object_repr}"


class ThrottleBucket(models.Model):
    """Rate-limit state of one client in one scope (crm.api.throttling, when the cache is not
    Redis): the generic cell rate algorithm's "theoretical arrival time". Each request reads
    and moves it in one atomic upsert; a row whose time has passed means the same as no row."""

    key = models.CharField(_("client and scope"), max_length=200, primary_key=True)
    # Seconds since the epoch; a float keeps sub-millisecond emission intervals (e.g. 100/s).
    tat = models.FloatField(_("theoretical arrival time"))

    class Meta:
        verbose_name = _("rate limit bucket")
        verbose_name_plural = _("rate limit buckets")

    def __str__(self) -> str:
        return self.key


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


class OperatorContact(Contact):
    """A contact as its operator sees it in his workspace ("My contacts" in the admin): the
    same row, shown through crm.admin.workspace, which lists only his own open contacts."""

    class Meta:
        proxy = True
        verbose_name = _("my contact")
        verbose_name_plural = _("my contacts")
        # No model permissions: who may see it is decided by who the operator is.
        default_permissions = ()


# --- Outgoing webhooks -------------------------------------------------------------------------

WEBHOOK_URL_MAX_LENGTH = 2000
WEBHOOK_EXCERPT_MAX_LENGTH = 1024


class WebhookEventType(models.TextChoices):
    """The events an endpoint may subscribe to: the event log's types that integrators get."""

    CONTACT_REGISTERED = EventType.CONTACT_REGISTERED.value, EventType.CONTACT_REGISTERED.label
    CONTACT_ASSIGNED = EventType.CONTACT_ASSIGNED.value, EventType.CONTACT_ASSIGNED.label
    CONTACT_WAITING = EventType.CONTACT_WAITING.value, EventType.CONTACT_WAITING.label
    CONTACT_CLOSED = EventType.CONTACT_CLOSED.value, EventType.CONTACT_CLOSED.label
    CONTACT_TRANSFERRED = EventType.CONTACT_TRANSFERRED.value, EventType.CONTACT_TRANSFERRED.label
    OPERATOR_AVAILABILITY_CHANGED = (
        EventType.OPERATOR_AVAILABILITY_CHANGED.value,
        EventType.OPERATOR_AVAILABILITY_CHANGED.label,
    )


class WebhookEndpoint(models.Model):
    """A URL that receives signed events. The secret is generated by the server, shown once
    (on creation and on rotation) and never again; after a rotation the previous secret
    signs too until `previous_secret_expires_at`, so receivers can switch without a gap."""

    url = models.URLField(_("URL"), max_length=WEBHOOK_URL_MAX_LENGTH)
    description = models.CharField(_("description"), max_length=200, blank=True, default="")
    events = models.JSONField(_("events"), default=list, help_text=_("The event types this endpoint receives."))
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,  # deleting the source would silently widen the filter to all sources
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        verbose_name=_("source"),
        help_text=_("Only this source's events; empty: every source."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(url=""), name="crm_webhookendpoint_url_not_blank"),
            # "Starts with" as INSTR/STRPOS = 1: __startswith's LIKE ... ESCAPE and SUBSTR(x, 1, 6)
            # in a SQLite CHECK both trip Django's SQLite introspection of the table's columns.
            models.CheckConstraint(
                condition=Exact(StrIndex("secret", Value("whsec_")), 1), name="crm_webhookendpoint_secret_format"
            ),
            models.CheckConstraint(
                condition=(
                    Q(previous_secret="", previous_secret_expires_at__isnull=True)
                    | (
                        Exact(StrIndex("previous_secret", Value("whsec_")), 1)
                        & Q(previous_secret_expires_at__isnull=False)
                    )
                ),
                name="crm_webhookendpoint_previous_secret_expiry",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event (or test message) to one endpoint, tried until delivered or given up.

    Written by the fan-out, never by a request that changes a contact. `order_key` names the
    thing whose events must arrive in order (the contact, or the operator for availability):
    a delivery is attempted only when no earlier delivery of the same key to the same endpoint
    is still pending."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("delivered")
        FAILED = "failed", _("failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    # NULL for a test message sent from the admin or the API.
    event = models.ForeignKey(
        Event, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("event")
    )
    message_id = models.CharField(_("message id"), max_length=64)
    event_type = models.CharField(_("event type"), max_length=64)
    order_key = models.CharField(max_length=64, editable=False)
    # Only a test message stores its body; an event's is rendered when it is sent.
    payload = models.JSONField(_("payload"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    give_up_at = models.DateTimeField(_("give up at"))
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last status code"), null=True, blank=True)
    last_response = models.CharField(_("last response"), max_length=WEBHOOK_EXCERPT_MAX_LENGTH, blank=True, default="")
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            # The fan-out may run again over an event (a crash after the insert): never twice.
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="crm_webhookdelivery_message_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="crm_webhookdelivery_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="pending", next_attempt_at__isnull=False, delivered_at__isnull=True)
                    | Q(status="succeeded", next_attempt_at__isnull=True, delivered_at__isnull=False)
                    | Q(status="failed", next_attempt_at__isnull=True, delivered_at__isnull=True)
                ),
                name="crm_webhookdelivery_state_consistent",
            ),
            # An event's delivery or a test message with its body.
            models.CheckConstraint(
                condition=Q(event__isnull=False) | Q(payload__isnull=False),
                name="crm_webhookdelivery_event_or_payload",
            ),
        ]
        indexes = [
            # The worker's claim: pending deliveries due now, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"], condition=Q(status="pending"), name="crm_whdelivery_due_idx"
            ),
            # The order check: "an earlier pending delivery of this key to this endpoint?".
            models.Index(
                fields=["endpoint", "order_key", "id"], condition=Q(status="pending"), name="crm_whdelivery_order_idx"
            ),
            # Admin: an endpoint's recent deliveries, newest first.
            models.Index(fields=["endpoint", "-id"], name="crm_whdelivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery. Inserted when the worker claims the delivery and
    completed after the request: an attempt without `finished_at` was interrupted (the worker
    died), and the delivery was tried again after its lease."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    response_excerpt = models.CharField(
        _("response excerpt"), max_length=WEBHOOK_EXCERPT_MAX_LENGTH, blank=True, default=""
    )
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="crm_webhookattempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
