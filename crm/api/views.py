"""Viewsets: thin. Shapes come from the serializers, rules from crm.services."""

import time

from django.http import Http404
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import metrics
from crm.api import docs, idempotency
from crm.api import serializers as s
from crm.api.filters import ContactFilter, LeadFilter, OperatorSourceFilter
from crm.api.intake_log import intake_log
from crm.api.mixins import AnswerWhatCallerMayRead, StrictQueryParameters
from crm.api.permissions import (
    CanReadContacts,
    CanReadOperators,
    CanRegisterContacts,
    IsOperator,
    StaffChangePermissions,
    StaffModelPermissions,
    request_operator,
)
from crm.models import ID_PATH_REGEX, Contact, Lead, Operator, OperatorSource, Source
from crm.selectors import contact_events, distribution_stats, lead_get_with_recent_contacts, lead_profile_visible
from crm.services import routing_config
from crm.services.availability import operator_activity_record
from crm.services.contacts import contact_close, contact_reassign, contact_transfer
from crm.services.intake import contact_register


class OperatorActivityMixin:
    """An operator's API call is activity: it keeps him from auto-away (at most one write a
    minute) and brings him back from it. Runs after authentication and permissions."""

    operator_activity_actions: tuple[str, ...] | None = None  # None: every action

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.operator_activity_actions is None or self.action in self.operator_activity_actions:
            operator = request_operator(request)
            if operator is not None:
                operator_activity_record(operator=operator)


class _ListRetrieve(
    StrictQueryParameters,
    AnswerWhatCallerMayRead,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [StaffModelPermissions]
    lookup_value_regex = ID_PATH_REGEX
    throttle_scope = "api"


@docs.operators
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


@docs.sources
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


@docs.weights
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


@docs.contacts
class ContactViewSet(OperatorActivityMixin, mixins.CreateModelMixin, _ListRetrieve):
    """Contacts: one appeal of a lead through a source. Registering one (POST) assigns an
    operator at once, or keeps it waiting with `unassigned_reason` when nobody has room.
    Bots read back only the contacts they registered. Operators may close and transfer
    their own contacts (anyone else's is a 404) and read their timeline."""

    queryset = Contact.objects.select_related("lead")
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter
    operator_activity_actions = ("close", "transfer", "events")

    @property
    def throttle_scope(self):
        return "intake" if self.action == "create" else "api"

    def get_permissions(self):
        if self.action == "create":
            return [CanRegisterContacts()]
        if self.action in ("list", "retrieve"):
            return [CanReadContacts()]
        return super().get_permissions()

    def caller_may_read(self, request) -> bool:
        # A bot reads the contacts it registered, and a bot's only write is registering one.
        # An operator's writes (close, transfer) concern his own contacts, which he reads.
        if self.action in self.operator_activity_actions and request_operator(request) is not None:
            return True
        return CanReadContacts().has_permission(request, self)

    def get_queryset(self):
        queryset = super().get_queryset()
        user = self.request.user
        if not user.is_staff:
            operator = request_operator(self.request) if self.action in self.operator_activity_actions else None
            if operator is not None:
                # An operator's own contacts only: anyone else's is a 404, its existence hidden.
                return queryset.filter(operator_id=operator.pk)
            # Bots (CanReadContacts lets no other non-staff in): their own contacts only.
            queryset = queryset.filter(registered_by=user)
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return s.ContactCreateSerializer
        if self.action == "list":
            return s.ContactSerializer
        return s.ContactDetailSerializer

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
        if response.status_code == 201:
            metrics.intake_observed(assigned=response.data.get("operator_id") is not None, replayed=replayed)
        return response

    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions | IsOperator])
    def close(self, request, pk=None):
        """Close an open contact and free its operator's capacity (closing twice is harmless).
        Staff: any contact; an operator: his own."""
        self.get_object()  # 404 for an unknown id (or, for an operator, anyone else's), before any write
        s.EmptyBodySerializer(data=request.data).is_valid(raise_exception=True)
        contact = contact_close(contact_id=int(pk), actor=request.user)
        contact = Contact.objects.select_related("lead").get(pk=contact.pk)
        return Response(s.ContactDetailSerializer(contact, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def reassign(self, request, pk=None):
        """Move an open contact to a given operator, or (empty body) route it again among the
        others. Refused with 400 when the operator is full, inactive or does not serve the
        source; 409 when the contact is closed."""
        self.get_object()
        body = s.ContactReassignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contact_reassign(
            contact_id=int(pk), operator_id=body.validated_data.get("operator_id"), actor=request.user
        )
        return Response(s.ContactDetailSerializer(contact, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions | IsOperator])
    def transfer(self, request, pk=None):
        """Hand an open contact to another operator of its source who is eligible now (active,
        weight > 0, online) and has room; otherwise 400 naming why. Staff: any contact; an
        operator: his own (anyone else's is a 404 and nothing is written)."""
        self.get_object()
        body = s.ContactTransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        operator = request_operator(request)
        contact = contact_transfer(
            contact_id=int(pk),
            operator_id=body.validated_data["operator_id"],
            actor=request.user,
            from_operator_id=operator.pk if operator is not None else None,
        )
        return Response(s.ContactDetailSerializer(contact, context=self.get_serializer_context()).data)

    @action(
        detail=True, methods=["get"], permission_classes=[StaffModelPermissions | IsOperator], pagination_class=None
    )
    def events(self, request, pk=None):
        """The contact's timeline, oldest first: registered, assigned (how), waiting (why),
        transferred, closed, each with its time and actor."""
        self.get_object()
        return Response(s.EventSerializer(contact_events(contact_id=int(pk)), many=True).data)


@docs.leads
class LeadViewSet(OperatorActivityMixin, _ListRetrieve):
    """Leads: end clients, one per normalised external id. The detail shows their contacts.
    An operator may read the lead of one of his own contacts (with his contacts only)."""

    queryset = Lead.objects.all()
    serializer_class = s.LeadSerializer
    filterset_class = LeadFilter
    operator_activity_actions = ("retrieve",)

    def get_permissions(self):
        if self.action == "retrieve":
            return [(StaffModelPermissions | IsOperator)()]
        return super().get_permissions()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.LeadDetailSerializer
        return s.LeadSerializer

    def get_object(self):
        lead = lead_get_with_recent_contacts(lead_id=int(self.kwargs["pk"]))
        if lead is None:
            raise Http404
        operator = request_operator(self.request)
        if operator is not None:
            # The profile rule (crm.selectors.lead_profile_visible): his contact's lead only, and
            # only his contacts of it; any other lead is a 404, its existence hidden.
            if not lead_profile_visible(user=self.request.user, lead=lead):
                raise Http404
            lead.recent_contacts = [c for c in lead.recent_contacts if c.operator_id == operator.pk]
        return lead


@docs.statistics
class DistributionViewSet(StrictQueryParameters, viewsets.GenericViewSet):
    """Routing statistics: per source and operator, the configured share (weight / sum of
    weights) against the actual share of contacts since `since`, open load and capacity,
    and the waiting queue (count, oldest wait)."""

    # crm.view_contact (the model permission of the queryset), and view_operator: the rows
    # name operators with their loads.
    permission_classes = [StaffModelPermissions, CanReadOperators]
    queryset = Contact.objects.none()
    pagination_class = None
    filter_backends = []
    query_serializer_class = s.DistributionQuerySerializer

    def list(self, request):
        query = s.DistributionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = distribution_stats(source_id=query.validated_data.get("source"), since=query.validated_data.get("since"))
        return Response(s.SourceDistributionSerializer(rows, many=True).data)
