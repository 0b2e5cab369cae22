"""ContactSerializer and LeadSerializer write their fields out by hand (the intake, the lists,
the lead search): they must render exactly what DRF's generic rendering of the same declared
fields gives."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from crm.api.serializers import ContactDetailSerializer, ContactSerializer, LeadDetailSerializer, LeadSerializer
from crm.models import Contact, Lead
from tests.factories import ContactFactory, LeadFactory, OperatorFactory


def generic(contact: Contact) -> dict:
    return dict(serializers.Serializer.to_representation(ContactSerializer(), contact))


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Moscow", "America/New_York"])
def test_written_out_rendering_equals_the_generic_one(settings, time_zone):
    settings.TIME_ZONE = time_zone
    timezone.deactivate()
    lead = LeadFactory(external_id="ann@example.org")
    contacts = [
        ContactFactory(
            lead=lead,
            operator=OperatorFactory(),
            unassigned_reason="",
            message="Здравствуйте, нужна консультация",
            metadata={"utm_source": "ads", "chat_id": 123456789, "vip": True, "score": 1.5, "ref": None},
        ),
        ContactFactory(lead=lead),  # waiting, no message, no metadata
        ContactFactory(
            lead=lead,
            operator=OperatorFactory(),
            unassigned_reason="",
            status=Contact.Status.CLOSED,
            closed_at=timezone.now() + timedelta(minutes=5, microseconds=123),
        ),
    ]
    for contact in Contact.objects.filter(pk__in=[c.pk for c in contacts]).select_related("lead"):
        fast = ContactSerializer(contact).data
        assert dict(fast) == generic(contact)
        assert list(fast) == list(generic(contact))  # the same keys in the same order
    assert ContactSerializer(contacts, many=True).data == [generic(c) for c in contacts]


@pytest.mark.django_db
def test_the_detail_serializer_keeps_its_own_fields():
    contact = ContactFactory(assignment={"via": "manual"})
    data = ContactDetailSerializer(contact).data
    assert data["assignment"] == {"via": "manual"}
    assert {k: v for k, v in data.items() if k != "assignment"} == generic(contact)


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Yekaterinburg"])
def test_lead_rendering_equals_the_generic_one(settings, time_zone):
    settings.TIME_ZONE = time_zone
    timezone.deactivate()
    leads = [
        LeadFactory(external_id="tg:1", name="Анна Петрова", phone="+79123456789", email="anna@example.org"),
        LeadFactory(external_id="tg:2"),
    ]
    for lead in Lead.objects.filter(pk__in=[x.pk for x in leads]):
        fast = LeadSerializer(lead).data
        slow = dict(serializers.ModelSerializer.to_representation(LeadSerializer(), lead))
        assert dict(fast) == slow
        assert list(fast) == list(slow)
    leads[0].recent_contacts = []  # the detail view's prefetch
    detail = LeadDetailSerializer(leads[0]).data
    assert detail["contacts"] == []
    assert {k: v for k, v in detail.items() if k != "contacts"} == dict(LeadSerializer(leads[0]).data)
