"""Shapes of contacts: the intake, a contact and its decision record, the actions on it, its
timeline, and an operator's own view (/me/)."""

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField
from crm.api.serializers.base import API_DATETIME, FlatFieldsBuiltOnce, IdField, StrictSerializer
from crm.models import (
    EMAIL_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    LEAD_NAME_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    METADATA_MAX_BYTES,
    ActorKind,
    AffinityOutcome,
    AssignmentVia,
    ContactStatus,
    DecisionStrategy,
    EventType,
    Exclusion,
    Operator,
    UnassignedReason,
)
from crm.selectors import contact_decision_visible, operator_sources
from crm.services.leads import METADATA_KEY_MAX_LENGTH, PHONE_INPUT_MAX_LENGTH


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

    def to_representation(self, contact):
        """The fields above, written out: this is the intake's response and every item of the
        contact lists, and DRF's generic rendering (a deep copy of each declared field per
        serializer, then a call per field) was a fifth of the intake's CPU. The same values
        as the generic rendering (tests/api/test_written_out_representations.py compares them)."""
        return {
            "id": contact.pk,
            "lead_id": contact.lead_id,
            "external_id": contact.lead.external_id,
            "source_id": contact.source_id,
            "operator_id": contact.operator_id,
            "status": str(contact.status),
            "unassigned_reason": str(contact.unassigned_reason),
            "created_at": API_DATETIME.to_representation(contact.created_at),
            "closed_at": None if contact.closed_at is None else API_DATETIME.to_representation(contact.closed_at),
            "message": contact.message,
            "metadata": {str(key): value for key, value in contact.metadata.items()},
        }


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
    # Its fields on top of ContactSerializer's: DRF's generic rendering, not the written-out one.
    to_representation = serializers.Serializer.to_representation

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
class ContactCreateSerializer(FlatFieldsBuiltOnce, StrictSerializer):
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
