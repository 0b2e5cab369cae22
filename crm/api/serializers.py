"""Shapes of the API: types, lengths and ranges. Cross-row rules live in crm.services."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from crm.models import (
    EXTERNAL_ID_MAX_LENGTH,
    MAX_CAPACITY,
    MAX_WEIGHT,
    NAME_MAX_LENGTH,
    Contact,
    Lead,
    Operator,
    OperatorSource,
    Source,
)

MAX_ID = 2**63 - 1


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 - reads like a field class
    """A positive database id. The upper bound keeps huge numbers from reaching the database."""
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class OperatorSerializer(serializers.ModelSerializer):
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


class SourceSerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)

    class Meta:
        model = Source
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class OperatorSourceSerializer(serializers.ModelSerializer):
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


class ContactSerializer(serializers.ModelSerializer):
    lead_id = serializers.IntegerField(read_only=True)
    external_id = serializers.CharField(source="lead.external_id", read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    operator_id = serializers.IntegerField(read_only=True, allow_null=True)
    unassigned_reason = serializers.ChoiceField(
        choices=Contact.UnassignedReason.choices, allow_blank=True, read_only=True, help_text="Empty when assigned."
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "lead_id",
            "external_id",
            "source_id",
            "operator_id",
            "status",
            "unassigned_reason",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


class ContactCreateSerializer(serializers.Serializer):
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
