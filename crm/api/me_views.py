"""The operator's own API (/me/, /me/contacts/): who he is, his availability, his work list."""

from django.db.models import Case, IntegerField, Value, When
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import docs
from crm.api import serializers as s
from crm.api.filters import ContactFilter
from crm.api.mixins import StrictQueryParameters
from crm.api.pagination import IdCursorPagination
from crm.api.permissions import (
    IsOperator,
    request_operator,
)
from crm.api.schema import SingleObjectSchema
from crm.api.views import OperatorActivityMixin
from crm.models import Contact
from crm.services.availability import operator_availability_set


class OpenFirstCursorPagination(IdCursorPagination):
    """His open contacts first, oldest first (the work list), then the closed ones."""

    def get_ordering(self, request, queryset, view):
        return ("closed_rank", "id")


@docs.me
class MeViewSet(OperatorActivityMixin, StrictQueryParameters, viewsets.GenericViewSet):
    """The operator behind this login: who he is, his availability, his load and sources."""

    permission_classes = [IsOperator]
    serializer_class = s.MeSerializer
    pagination_class = None
    filter_backends = []
    throttle_scope = "api"
    schema = SingleObjectSchema()

    def list(self, request):
        return Response(s.MeSerializer(request_operator(request)).data)

    @action(detail=False, methods=["post"])
    def availability(self, request):
        """Set his availability (see docs.me)."""
        body = s.MeAvailabilitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        operator = operator_availability_set(
            operator_id=request_operator(request).pk, **body.validated_data, actor=request.user
        )
        return Response(s.MeSerializer(operator).data)


@docs.my_contacts
class MyContactViewSet(OperatorActivityMixin, StrictQueryParameters, mixins.ListModelMixin, viewsets.GenericViewSet):
    """His contacts, open first (oldest first), then closed; the filters of /contacts/."""

    permission_classes = [IsOperator]
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter
    pagination_class = OpenFirstCursorPagination
    throttle_scope = "api"
    queryset = Contact.objects.none()  # the model, for the schema; get_queryset narrows to his

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return (
            Contact.objects.select_related("lead")
            .filter(operator_id=request_operator(self.request).pk)
            .annotate(
                closed_rank=Case(
                    When(status=Contact.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
                )
            )
        )
