"""The baseline: the least a contact intake could do, served by the same stack.

Same middleware, the same token authentication (one query), the same request serializer,
then one INSERT (a lead, whose unique index on external_id is the same kind of write the
intake makes first). No permission lookup, no transaction, no lock. The intake's throughput
divided by this one's is the figure that survives a noisy machine."""

from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import ContactCreateSerializer
from crm.models import Lead


class BaselineIntakeView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request):
        serializer = ContactCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lead = Lead.objects.create(external_id=data["external_id"].strip().lower())
        return Response(
            {"id": lead.pk, "external_id": lead.external_id, "source_id": data["source_id"]},
            status=status.HTTP_201_CREATED,
        )
