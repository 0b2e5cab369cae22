"""Viewsets: thin. Shapes come from the serializers, rules from crm.services."""

import time

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import idempotency
from crm.api import serializers as s
from crm.api.filters import ContactFilter, LeadFilter, OperatorSourceFilter
from crm.api.intake_log import intake_log
from crm.api.permissions import CanReadContacts, CanRegisterContacts, StaffChangePermissions, StaffModelPermissions
from crm.models import ID_PATH_REGEX, Contact, Lead, Operator, OperatorSource, Source
from crm.selectors import distribution_stats, lead_get_with_recent_contacts
from crm.services import routing_config
from crm.services.contacts import contact_close, contact_reassign
from crm.services.intake import contact_register


class _ListRetrieve(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [StaffModelPermissions]
    lookup_value_regex = ID_PATH_REGEX
    throttle_scope = "api"


@extend_schema_view(
    update=extend_schema(request=s.OperatorUpdateSerializer),
    partial_update=extend_schema(request=s.OperatorUpdateSerializer),
)
class OperatorViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, _ListRetrieve):
    """Operators: who works contacts, whether they are active and how many open contacts
    they may hold (`max_load`). `current_load` is their open contacts now."""

    queryset = Operator.objects.all()
    serializer_class = s.OperatorSerializer
    cursor_ordering = "id"

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.OperatorUpdateSerializer
        return s.OperatorSerializer

    def perform_create(self, serializer):
        serializer.instance = routing_config.operator_create(**serializer.validated_data, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = routing_config.operator_update(
            operator_id=serializer.instance.pk, **serializer.validated_data, actor=self.request.user
        )


@extend_schema_view(
    update=extend_schema(request=s.SourceUpdateSerializer),
    partial_update=extend_schema(request=s.SourceUpdateSerializer),
)
class SourceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, _ListRetrieve):
    """Sources: the bots and channels contacts come through, and how each one routes."""

    queryset = Source.objects.all()
    serializer_class = s.SourceSerializer
    cursor_ordering = "id"

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.SourceUpdateSerializer
        return s.SourceSerializer

    def perform_create(self, serializer):
        serializer.instance = routing_config.source_create(**serializer.validated_data, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = routing_config.source_update(
            source_id=serializer.instance.pk, **serializer.validated_data, actor=self.request.user
        )


@extend_schema_view(partial_update=extend_schema(request=s.OperatorSourceUpdateSerializer))
class OperatorSourceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, _ListRetrieve):
    """Weights: an operator serves a source with a weight (0..1000, 0 = paused). The share of
    a source's contacts an eligible operator gets is weight / sum of eligible weights."""

    queryset = OperatorSource.objects.all()
    serializer_class = s.OperatorSourceSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    cursor_ordering = "id"
    filterset_class = OperatorSourceFilter

    def get_serializer_class(self):
        if self.action == "partial_update":
            return s.OperatorSourceUpdateSerializer
        return s.OperatorSourceSerializer

    def perform_create(self, serializer):
        serializer.instance = routing_config.link_create(**serializer.validated_data, actor=self.request.user)

    def perform_update(self, serializer):
        weight = serializer.validated_data.get("weight", serializer.instance.weight)
        serializer.instance = routing_config.link_update(
            link_id=serializer.instance.pk, weight=weight, actor=self.request.user
        )

    def perform_destroy(self, instance):
        routing_config.link_delete(link_id=instance.pk, actor=self.request.user)


class ContactViewSet(mixins.CreateModelMixin, _ListRetrieve):
    """Contacts: one appeal of a lead through a source. Registering one (POST) assigns an
    operator at once, or keeps it waiting with `unassigned_reason` when nobody has room.
    Bots read back only the contacts they registered."""

    queryset = Contact.objects.select_related("lead")
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter

    @property
    def throttle_scope(self):
        return "intake" if self.action == "create" else "api"

    def get_permissions(self):
        if self.action == "create":
            return [CanRegisterContacts()]
        if self.action in ("list", "retrieve"):
            return [CanReadContacts()]
        return super().get_permissions()

    def get_queryset(self):
        queryset = super().get_queryset()
        user = self.request.user
        if not user.is_staff:
            # Bots (CanReadContacts lets no other non-staff in): their own contacts only.
            queryset = queryset.filter(registered_by=user)
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return s.ContactCreateSerializer
        if self.action == "list":
            return s.ContactSerializer
        return s.ContactDetailSerializer

    @extend_schema(
        request=s.ContactCreateSerializer,
        responses={201: s.ContactSerializer},
        parameters=[idempotency.KEY_PARAMETER, idempotency.REPLAYED_PARAMETER],
    )
    def create(self, request, *args, **kwargs):
        started = time.monotonic()
        key = idempotency.request_idempotency_key(request)
        serializer = s.ContactCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Before anything is written: a bot bound to other sources gets 403 and leaves no trace.
        self.check_object_permissions(request, Source(pk=data["source_id"]))

        def register() -> tuple[int, dict, int]:
            contact = contact_register(**data, registered_by=request.user)
            return status.HTTP_201_CREATED, dict(s.ContactSerializer(contact).data), contact.pk

        response, replayed = idempotency.idempotent_response(
            request, key=key, operation="contact_register", action=register
        )
        intake_log(user=request.user, body=response.data, key=key, replayed=replayed, started=started)
        return response

    @extend_schema(request=None, responses={200: s.ContactDetailSerializer})
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def close(self, request, pk=None):
        """Close an open contact and free its operator's capacity (closing twice is harmless)."""
        self.get_object()  # 404 for an unknown id, before any write
        contact = contact_close(contact_id=int(pk))
        return Response(s.ContactDetailSerializer(Contact.objects.select_related("lead").get(pk=contact.pk)).data)

    @extend_schema(request=s.ContactReassignSerializer, responses={200: s.ContactDetailSerializer})
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def reassign(self, request, pk=None):
        """Move an open contact to a given operator, or (empty body) route it again among the
        others. Refused with 400 when the operator is full, inactive or does not serve the
        source; 409 when the contact is closed."""
        self.get_object()
        body = s.ContactReassignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contact_reassign(contact_id=int(pk), operator_id=body.validated_data.get("operator_id"))
        return Response(s.ContactDetailSerializer(contact).data)


class LeadViewSet(_ListRetrieve):
    """Leads: end clients, one per normalised external id. The detail shows their contacts."""

    queryset = Lead.objects.all()
    serializer_class = s.LeadSerializer
    filterset_class = LeadFilter

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.LeadDetailSerializer
        return s.LeadSerializer

    def get_object(self):
        lead = lead_get_with_recent_contacts(lead_id=int(self.kwargs["pk"]))
        if lead is None:
            raise Http404
        return lead


class DistributionViewSet(viewsets.GenericViewSet):
    """Routing statistics: per source and operator, the configured share (weight / sum of
    weights) against the actual share of contacts since `since`, open load and capacity,
    and the waiting queue (count, oldest wait)."""

    permission_classes = [StaffModelPermissions]
    queryset = Contact.objects.none()  # for the model permission (crm.view_contact)
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[s.DistributionQuerySerializer], responses={200: s.SourceDistributionSerializer(many=True)}
    )
    def list(self, request):
        query = s.DistributionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = distribution_stats(source_id=query.validated_data.get("source"), since=query.validated_data.get("since"))
        return Response(s.SourceDistributionSerializer(rows, many=True).data)
