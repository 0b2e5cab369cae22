"""Shapes of the API: types, lengths and ranges. Cross-row rules live in crm.services."""

from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from crm.models import (
    EMAIL_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    LEAD_NAME_MAX_LENGTH,
    MAX_CAPACITY,
    MAX_ID,
    MAX_WEIGHT,
    MESSAGE_MAX_LENGTH,
    METADATA_MAX_BYTES,
    NAME_MAX_LENGTH,
    ActorKind,
    AffinityOutcome,
    AssignmentVia,
    ContactStatus,
    DecisionStrategy,
    EventType,
    Exclusion,
    Lead,
    Operator,
    OperatorSource,
    Source,
    SourceStrategy,
    UnassignedReason,
)
from crm.selectors import contact_decision_visible, operator_sources
from crm.services.assignment import availability_now
from crm.services.leads import METADATA_KEY_MAX_LENGTH, PHONE_INPUT_MAX_LENGTH


class StrictFieldsMixin:
    """A request body names only fields this serializer accepts. Any other key (a typo, a
    field of another CRM's API, a read-only field) is a 400 naming it, reported together with
    the other fields' errors: silently dropping it would let a client believe it was stored.
    The OpenAPI schema says the same (`additionalProperties: false`, crm.api.schema)."""

    # field -> why it is read-only here, for a more helpful 400 than the generic one
    read_only_hints: dict[str, str] = {}

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for name in data:
                if name in writable:
                    continue
                if name in self.fields:
                    errors[name] = [self.read_only_hints.get(name, "This field is read-only; leave it out.")]
                else:
                    errors[name] = ["Unknown field."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """A request body with exactly the declared fields (see StrictFieldsMixin)."""


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A model's request body with exactly the declared fields (see StrictFieldsMixin)."""


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 - reads like a field class
    """A positive database id. The upper bound keeps huge numbers from reaching the database."""
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class OperatorSerializer(StrictModelSerializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    is_active = StrictBooleanField(required=False, default=True)
    max_load = StrictIntegerField(min_value=0, max_value=MAX_CAPACITY, required=False, default=10)
    current_load = serializers.IntegerField(source="open_load", read_only=True, help_text="Open contacts now.")
    availability = serializers.ChoiceField(
        choices=Operator.Availability.choices,
        required=False,
        default=Operator.Availability.ONLINE,
        help_text="Only online operators receive new contacts. An operator with a login and no activity for "
        "OPERATOR_AWAY_AFTER counts as away (see `routing_availability`).",
    )
    routing_availability = serializers.SerializerMethodField(
        help_text="What routing sees now: `availability`, or away when an operator with a login has been idle."
    )
    availability_changed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_seen_at = serializers.DateTimeField(read_only=True, allow_null=True)
    has_login = serializers.SerializerMethodField(help_text="Whether the operator has his own login.")

    class Meta:
        model = Operator
        fields = [
            "id",
            "name",
            "is_active",
            "max_load",
            "current_load",
            "availability",
            "routing_availability",
            "availability_changed_at",
            "last_seen_at",
            "has_login",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=Operator.Availability.choices))
    def get_routing_availability(self, operator) -> str:
        return availability_now(operator, now=timezone.now())

    def get_has_login(self, operator) -> bool:
        return operator.user_id is not None


class OperatorUpdateSerializer(OperatorSerializer):
    """PUT/PATCH: fields left out of a PATCH keep their value (no defaults applied)."""

    is_active = StrictBooleanField(required=False)
    max_load = StrictIntegerField(min_value=0, max_value=MAX_CAPACITY, required=False)
    availability = serializers.ChoiceField(choices=Operator.Availability.choices, required=False)
    redistribute = StrictBooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text='With "is_active": false or "availability": "offline", return his open contacts to the queue '
        "and route them to others.",
    )

    class Meta(OperatorSerializer.Meta):
        fields = [*OperatorSerializer.Meta.fields, "redistribute"]


class SourceSerializer(StrictModelSerializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    strategy = serializers.ChoiceField(
        choices=SourceStrategy.choices,
        required=False,
        default=SourceStrategy.RANDOM,
        help_text="random: weighted random choice (the seed's). smooth: deterministic; every operator's "
        "count stays within one contact of his weighted share.",
    )
    affinity = StrictBooleanField(
        required=False,
        default=False,
        help_text="Give a returning lead the operator of his last contact on this source when that "
        "operator is eligible (active, weight > 0, under capacity).",
    )

    class Meta:
        model = Source
        fields = ["id", "name", "strategy", "affinity", "created_at"]
        read_only_fields = ["id", "created_at"]


class SourceUpdateSerializer(SourceSerializer):
    """PATCH keeps unsent fields; PUT sends them all."""

    strategy = serializers.ChoiceField(choices=SourceStrategy.choices, required=False)
    affinity = StrictBooleanField(required=False)


class OperatorSourceSerializer(StrictModelSerializer):
    operator_id = IdField()
    source_id = IdField()
    weight = StrictIntegerField(min_value=0, max_value=MAX_WEIGHT, help_text="0..1000; 0 keeps the link but pauses it.")

    class Meta:
        model = OperatorSource
        fields = ["id", "operator_id", "source_id", "weight", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []  # the duplicate pair is the service's rule, with a better message


class OperatorSourceUpdateSerializer(OperatorSourceSerializer):
    """Only the weight changes; the pair is fixed (delete the link and create another)."""

    operator_id = serializers.IntegerField(read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    read_only_hints = {
        name: "A link's operator and source cannot change; delete it and create a new one."
        for name in ("operator_id", "source_id")
    }


# A plain Serializer with declared fields: a ModelSerializer rebuilds its fields from the
# model for every instance, a cost the intake paid on each request (bench prototype 04).
class ContactSerializer(serializers.Serializer):
    """One appeal of a lead through a source: its operator (null while it waits, with the
    reason in `unassigned_reason`) and its status."""

    id = serializers.IntegerField(read_only=True)
    lead_id = serializers.IntegerField(read_only=True)
    external_id = serializers.CharField(source="lead.external_id", read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    operator_id = serializers.IntegerField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=ContactStatus.choices, read_only=True)
    unassigned_reason = serializers.ChoiceField(
        choices=UnassignedReason.choices, allow_blank=True, read_only=True, help_text="Empty when assigned."
    )
    created_at = serializers.DateTimeField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    message = serializers.CharField(read_only=True, help_text="What the lead wrote; empty when none was sent.")
    metadata = serializers.DictField(
        read_only=True, child=serializers.JSONField(), help_text="The channel's own data, as sent (flat object)."
    )


class CandidateRecordSerializer(serializers.Serializer):
    operator_id = serializers.IntegerField()
    name = serializers.CharField()
    weight = serializers.IntegerField()
    load = serializers.IntegerField()
    max_load = serializers.IntegerField()
    excluded = serializers.ChoiceField(choices=Exclusion.choices, allow_null=True, help_text="null: eligible.")


class AssignmentRecordSerializer(serializers.Serializer):
    """Why the contact is where it is (documentation of the stored JSON)."""

    via = serializers.ChoiceField(choices=AssignmentVia.choices)
    at = serializers.DateTimeField()
    strategy = serializers.ChoiceField(choices=DecisionStrategy.choices)
    affinity = serializers.ChoiceField(choices=AffinityOutcome.choices, allow_null=True)
    affinity_operator_id = serializers.IntegerField(allow_null=True, required=False)
    operator_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    candidates = CandidateRecordSerializer(many=True)


class ContactDetailSerializer(ContactSerializer):
    """A contact with the decision that put it where it is (`assignment`; null for callers who
    may not read operators, bots included)."""

    assignment = serializers.SerializerMethodField()

    @extend_schema_field(AssignmentRecordSerializer(allow_null=True))
    def get_assignment(self, contact):
        request = self.context.get("request")
        if request is not None and not contact_decision_visible(user=request.user):
            return None  # it names operators, weights and loads (crm.selectors)
        return contact.assignment or None


class EmptyBodySerializer(StrictSerializer):
    """An action that takes no input: any field sent is unknown (a 400 naming it)."""


class ContactReassignSerializer(StrictSerializer):
    operator_id = IdField(
        required=False,
        allow_null=True,
        help_text="Move to this operator (he must serve the source, be active and have room); "
        "leave out to run the routing again among the other operators.",
    )


class ContactTransferSerializer(StrictSerializer):
    operator_id = IdField(
        help_text="Hand the contact to this operator: he must serve its source and be eligible now "
        "(active, weight > 0, online) with room; otherwise 400 naming why."
    )


class MeSourceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    """The operator behind this login."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    availability = serializers.ChoiceField(choices=Operator.Availability.choices)
    availability_changed_at = serializers.DateTimeField(allow_null=True)
    load = serializers.IntegerField(source="open_load", help_text="His open contacts now.")
    max_load = serializers.IntegerField()
    sources = serializers.SerializerMethodField(help_text="The sources he serves.")

    @extend_schema_field(MeSourceSerializer(many=True))
    def get_sources(self, operator):
        return MeSourceSerializer(operator_sources(operator_id=operator.pk), many=True).data


class MeAvailabilitySerializer(StrictSerializer):
    availability = serializers.ChoiceField(choices=Operator.Availability.choices)
    redistribute = StrictBooleanField(
        required=False,
        default=False,
        help_text='Only with "availability": "offline": hand your open contacts to the source\'s other '
        "available operators (or the queue). By default you keep them.",
    )


class DistributionQuerySerializer(serializers.Serializer):
    """Query parameters of the statistics (an unknown, repeated or empty one is a 400 before
    this runs: crm.api.views.StrictQueryParameters)."""

    # A query parameter arrives as text: DRF's lenient IntegerField, not the strict IdField.
    source = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Only this source id.")
    since = serializers.DateTimeField(
        required=False, help_text="Count contacts created at or after this ISO-8601 time (default: all time)."
    )


class OperatorShareSerializer(serializers.Serializer):
    operator_id = serializers.IntegerField()
    operator_name = serializers.CharField()
    is_active = serializers.BooleanField()
    weight = serializers.IntegerField()
    configured_share = serializers.FloatField()
    contacts = serializers.IntegerField()
    actual_share = serializers.FloatField()
    open_load = serializers.IntegerField()
    max_load = serializers.IntegerField()
    is_full = serializers.BooleanField()


class SourceDistributionSerializer(serializers.Serializer):
    source_id = serializers.IntegerField()
    source_name = serializers.CharField()
    strategy = serializers.CharField()
    affinity = serializers.BooleanField()
    contacts = serializers.IntegerField()
    assigned = serializers.IntegerField()
    waiting = serializers.IntegerField()
    oldest_waiting_since = serializers.DateTimeField(allow_null=True)
    oldest_wait_seconds = serializers.FloatField(allow_null=True)
    operators = OperatorShareSerializer(many=True)


METADATA_SCHEMA = {
    "type": "object",
    "description": "The channel's own data: a flat object of string keys (1 to "
    f"{METADATA_KEY_MAX_LENGTH} characters) to strings, numbers, true/false or null; at most "
    f"{METADATA_MAX_BYTES} bytes as compact JSON. Nested objects and arrays are a 400.",
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
    },
    "example": {"utm_source": "newsletter", "chat_id": 48151623},
}


@extend_schema_field(METADATA_SCHEMA)
class MetadataField(serializers.Field):
    """Any JSON value here; crm.services.leads.metadata_clean holds the rule (flat, scalar
    values, size), so the API, the admin and the commands refuse the same things."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A contact with the lead's details",
            value={
                "external_id": "tg:48151623",
                "source_id": 1,
                "name": "Anna Petrova",
                "phone": "+7 912 345-67-89",
                "email": "Anna@Example.com",
                "message": "Hello! Is the blue sofa still available?",
                "metadata": {"utm_source": "newsletter", "chat_id": 48151623},
            },
            request_only=True,
        ),
        OpenApiExample(
            "Only the required fields", value={"external_id": "tg:48151623", "source_id": 1}, request_only=True
        ),
    ]
)
class ContactCreateSerializer(StrictSerializer):
    external_id = StrictCharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        help_text="The lead's id in the channel; stripped and lower-cased, so ' Ann@X.org ' is 'ann@x.org'.",
    )
    source_id = IdField()
    name = StrictCharField(
        max_length=LEAD_NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The lead's name. Updates the lead's profile when not empty (an empty or absent value "
        "keeps the stored one).",
    )
    phone = StrictCharField(
        max_length=PHONE_INPUT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The lead's phone in any usual writing ('+7 (912) 345-67-89', '0044 20 7946 0958'); stored "
        "as E.164 ('+79123456789'). Without a country code it is read in the server's PHONE_DEFAULT_REGION, "
        "if one is set; what is not a possible phone number is a 400. Updates the profile like `name`.",
    )
    email = StrictCharField(
        max_length=EMAIL_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The lead's email address; checked and lower-cased. Updates the profile like `name`.",
    )
    message = StrictCharField(
        max_length=MESSAGE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="What the lead wrote; stored on the contact as sent.",
    )
    metadata = MetadataField(required=False)


class LeadSerializer(serializers.ModelSerializer):
    """A lead and his profile: the latest non-empty name, phone (E.164) and email his contacts
    sent, and when he was first and last seen."""

    first_seen_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "external_id", "name", "phone", "email", "first_seen_at", "last_seen_at", "created_at"]
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    contacts = serializers.SerializerMethodField(
        help_text="The lead's most recent contacts, newest first (at most 100); "
        "all of them: GET /api/v1/contacts/?lead=ID."
    )

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "contacts"]
        read_only_fields = fields

    @extend_schema_field(ContactSerializer(many=True))
    def get_contacts(self, lead):
        return ContactSerializer(lead.recent_contacts, many=True).data


class EventSerializer(serializers.Serializer):
    """One entry of a contact's timeline (the append-only event log; `id` is its order)."""

    id = serializers.IntegerField(read_only=True)
    type = serializers.ChoiceField(choices=EventType.choices, read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    contact_id = serializers.IntegerField(read_only=True, allow_null=True)
    operator_id = serializers.IntegerField(read_only=True, allow_null=True)
    source_id = serializers.IntegerField(read_only=True, allow_null=True)
    actor_kind = serializers.ChoiceField(choices=ActorKind.choices, read_only=True)
    actor_user_id = serializers.IntegerField(read_only=True, allow_null=True)
    data = serializers.DictField(
        read_only=True,
        help_text="Details: `via` (intake, queue, affinity, reassign, transfer, redistribute, availability), "
        "`reason` (why it waits), `from_operator_id`, `to_operator_id`, `strategy`, `lead_id`...",
    )
