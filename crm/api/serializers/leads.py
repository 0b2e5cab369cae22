"""Shapes of leads and their profile."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
