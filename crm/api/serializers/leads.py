"""Shapes of leads and their profile."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.serializers.base import API_DATETIME
from crm.api.serializers.contacts import ContactSerializer
from crm.models import (
    Lead,
)


class LeadSerializer(serializers.ModelSerializer):
    """A lead and his profile: the latest non-empty name, phone (E.164) and email his contacts
    sent, and when he was first and last seen."""

    first_seen_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "external_id", "name", "phone", "email", "first_seen_at", "last_seen_at", "created_at"]
        read_only_fields = fields

    def to_representation(self, lead):
        """The fields above, written out: a page of the lead list or of a search renders up
        to 200 of them, and DRF's generic rendering (a call per field per lead) was most of a
        page's CPU, so a search that finds many people cost far more than one that finds one.
        The same values as the generic rendering (tests/api/test_written_out_representations.py)."""
        created_at = API_DATETIME.to_representation(lead.created_at)
        return {
            "id": lead.pk,
            "external_id": lead.external_id,
            "name": lead.name,
            "phone": lead.phone,
            "email": lead.email,
            "first_seen_at": created_at,
            "last_seen_at": API_DATETIME.to_representation(lead.last_seen_at),
            "created_at": created_at,
        }


class LeadDetailSerializer(LeadSerializer):
    contacts = serializers.SerializerMethodField(
        help_text="The lead's most recent contacts, newest first (at most 100); "
        "all of them: GET /api/v1/contacts/?lead=ID."
    )

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "contacts"]
        read_only_fields = fields

    # Its field on top of LeadSerializer's: DRF's generic rendering, not the written-out one.
    to_representation = serializers.ModelSerializer.to_representation

    @extend_schema_field(ContactSerializer(many=True))
    def get_contacts(self, lead):
        return ContactSerializer(lead.recent_contacts, many=True).data
