"""Shapes of the routing set-up (operators, sources, weights) and its statistics."""

from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from crm.api.serializers.base import IdField, StrictModelSerializer
from crm.models import (
    MAX_CAPACITY,
    MAX_ID,
    MAX_WEIGHT,
    NAME_MAX_LENGTH,
    Operator,
    OperatorSource,
    Source,
    SourceStrategy,
)
from crm.services.assignment import availability_now


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
        name: gettext_lazy("A link's operator and source cannot change; delete it and create a new one.")
        for name in ("operator_id", "source_id")
    }


# A plain Serializer with declared fields: a ModelSerializer rebuilds its fields from the
# model for every instance, a cost the intake paid on each request (bench prototype 04).


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
