"""Shapes of webhook endpoints (the secret only where it is shown once) and deliveries."""

from rest_framework import serializers

from crm.api.fields import StrictBooleanField, StrictCharField
from crm.api.serializers.base import IdField, StrictModelSerializer
from crm.models import (
    WEBHOOK_URL_MAX_LENGTH,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)


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
