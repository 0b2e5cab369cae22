"""Shapes of the API: types, lengths and ranges. Cross-row rules live in crm.services."""

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from crm.models import (
    EXTERNAL_ID_MAX_LENGTH,
    MAX_CAPACITY,
    MAX_ID,
    MAX_WEIGHT,
    NAME_MAX_LENGTH,
    WEBHOOK_URL_MAX_LENGTH,
    AffinityOutcome,
    AssignmentVia,
    ContactStatus,
    DecisionStrategy,
    Exclusion,
    Lead,
    Operator,
    OperatorSource,
    Source,
    SourceStrategy,
    UnassignedReason,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)


class StrictFieldsMixin:
    """A request body names only fields this serializer accepts. Any other key (a typo, a
    field of another CRM's API, a read-only field) is a 400 naming it, reported together with
    the other fields' errors: silently dropping it would let a client believe it was stored.
    The OpenAPI schema says the same (`additionalProperties: false`, crm.api.schema)."""

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for name in data:
                if name in writable:
                    continue
                if name in self.fields:
                    errors[name] = ["This field is read-only; leave it out."]
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

    class Meta:
        model = Operator
        fields = ["id", "name", "is_active", "max_load", "current_load", "created_at"]
        read_only_fields = ["id", "created_at"]


class OperatorUpdateSerializer(OperatorSerializer):
    """PUT/PATCH: fields left out of a PATCH keep their value (no defaults applied)."""

    is_active = StrictBooleanField(required=False)
    max_load = StrictIntegerField(min_value=0, max_value=MAX_CAPACITY, required=False)
    redistribute = StrictBooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text='With "is_active": false, return his open contacts to the queue and route them to others.',
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

    operator_id = IdField(required=False)
    source_id = IdField(required=False)

    def validate(self, attrs):
        for field in ("operator_id", "source_id"):
            if field in attrs and attrs[field] != getattr(self.instance, field):
                raise serializers.ValidationError(
                    {field: ["A link's operator and source cannot change; delete it and create a new one."]}
                )
        return attrs


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
    """A contact with the decision that put it where it is (`assignment`; null for bots)."""

    assignment = serializers.SerializerMethodField()

    @extend_schema_field(AssignmentRecordSerializer(allow_null=True))
    def get_assignment(self, contact):
        request = self.context.get("request")
        if request is not None and not request.user.is_staff:
            # Bots never see the decision record: it names operators, weights and loads.
            return None
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


class ContactCreateSerializer(StrictSerializer):
    external_id = StrictCharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        help_text="The lead's id in the channel; stripped and lower-cased, so ' Ann@X.org ' is 'ann@x.org'.",
    )
    source_id = IdField()


class LeadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lead
        fields = ["id", "external_id", "created_at"]
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


class WebhookEndpointSerializer(StrictModelSerializer):
    url = StrictCharField(
        max_length=WEBHOOK_URL_MAX_LENGTH,
        help_text="http or https. Hosts resolving to loopback, private, link-local or reserved addresses are "
        "refused (unless the server allows private addresses).",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
        max_length=len(WebhookEventType.values),
        help_text="Event types to receive.",
    )
    source_id = IdField(required=False, allow_null=True, help_text="Only this source's events; null: every source.")
    is_active = StrictBooleanField(required=False, default=True)
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    secret_grace_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        read_only=True,
        allow_null=True,
        help_text="After a rotation, the previous secret also signs until then.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "source_id", "is_active", "secret_grace_until", "created_at"]
        read_only_fields = ["id", "secret_grace_until", "created_at"]


class WebhookEndpointUpdateSerializer(WebhookEndpointSerializer):
    """PATCH keeps unsent fields."""

    url = StrictCharField(max_length=WEBHOOK_URL_MAX_LENGTH, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
        max_length=len(WebhookEventType.values),
        required=False,
    )
    is_active = StrictBooleanField(required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    """The endpoint with its signing secret: returned once, on creation and on rotation."""

    secret = serializers.CharField(
        read_only=True, help_text="whsec_...: verify deliveries with it. Shown only now; store it."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "give_up_at",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields
