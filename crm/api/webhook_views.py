"""Webhook endpoints in the API: thin, like the other viewsets; rules in crm.services.webhooks."""

from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import docs
from crm.api import serializers as s
from crm.api.mixins import StrictQueryParameters
from crm.api.permissions import StaffChangePermissions, StaffModelPermissions
from crm.models import ID_PATH_REGEX, WebhookDelivery, WebhookEndpoint
from crm.services.webhook_outbox import webhook_send_test
from crm.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

RECENT_DELIVERIES = 50


@docs.webhooks
class WebhookEndpointViewSet(
    StrictQueryParameters,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook endpoints: URLs that receive signed events (Standard Webhooks). The signing
    secret is in the response to POST and to rotate-secret only."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = s.WebhookEndpointSerializer
    permission_classes = [StaffModelPermissions]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = ID_PATH_REGEX
    cursor_ordering = "id"
    throttle_scope = "api"

    def get_serializer_class(self):
        if self.action == "partial_update":
            return s.WebhookEndpointUpdateSerializer
        return s.WebhookEndpointSerializer

    def create(self, request, *args, **kwargs):
        serializer = s.WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = webhook_endpoint_create(**serializer.validated_data, actor=request.user)
        return Response(_with_secret(created), status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = webhook_endpoint_update(endpoint_id=serializer.instance.pk, **serializer.validated_data)

    @action(detail=True, methods=["post"], url_path="rotate-secret", permission_classes=[StaffChangePermissions])
    def rotate_secret(self, request, pk=None):
        """A new signing secret, shown once. The previous one keeps signing too (a second
        signature) until `secret_grace_until`."""
        self.get_object()
        return Response(_with_secret(webhook_endpoint_rotate_secret(endpoint_id=int(pk))))

    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def test(self, request, pk=None):
        """Queue a `webhook.test` message to this endpoint; the worker sends it at once."""
        self.get_object()
        delivery = webhook_send_test(endpoint_id=int(pk))
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def deliveries(self, request, pk=None):
        """The endpoint's most recent deliveries (at most 50), newest first."""
        endpoint = self.get_object()
        recent = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-id")[:RECENT_DELIVERIES]
        return Response(s.WebhookDeliverySerializer(recent, many=True).data)


def _with_secret(created) -> dict:
    data = dict(s.WebhookEndpointSecretSerializer(created.endpoint).data)
    data["secret"] = created.secret
    return data
