"""crm.compiled.insert_unless with children: the contact and its events in one statement on
PostgreSQL (two elsewhere); the children follow the parent, in order, or are not written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.compiled import insert_unless
from crm.models import Contact, Event, EventType
from crm.services.events import event_build
from crm.services.intake import _waiting_query
from tests.factories import ContactFactory, LeadFactory, SourceFactory

pytestmark = pytest.mark.django_db


def contact_and_events(source):
    contact = Contact(
        lead=LeadFactory(), source=source, unassigned_reason=Contact.UnassignedReason.NO_OPERATORS, metadata={"k": "v"}
    )

    def events():
        return [
            event_build(
                type=EventType.CONTACT_REGISTERED, contact=contact, data={"n": 1}, occurred_at=contact.created_at
            ),
            event_build(type=EventType.CONTACT_WAITING, contact=contact, data={"n": 2}, occurred_at=contact.created_at),
            event_build(type=EventType.CONTACT_CLOSED, contact=contact, data={"n": 3}, occurred_at=contact.created_at),
        ]

    return contact, events


def test_children_are_written_with_the_parent_in_order():
    source = SourceFactory()
    contact, events = contact_and_events(source)
    made = []
    with CaptureQueriesContext(connection) as queries:
        assert insert_unless(
            contact,
            _waiting_query(),
            children=lambda: made.extend(events()) or made,
            link="contact_id",
            source_id=source.pk,
        )
    assert len(queries.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    stored = list(Event.objects.order_by("id").values_list("pk", "contact_id", "type", "data", "occurred_at"))
    assert stored == [(e.pk, contact.pk, e.type, e.data, contact.created_at) for e in made]
    assert [e.data["n"] for e in made] == [1, 2, 3]
    assert Contact.objects.get().metadata == {"k": "v"}


def test_nothing_is_written_when_the_check_finds_a_row():
    source = SourceFactory()
    ContactFactory(source=source, operator=None)  # waits
    contact, events = contact_and_events(source)
    assert not insert_unless(contact, _waiting_query(), children=events, link="contact_id", source_id=source.pk)
    assert contact.pk is None
    assert Contact.objects.count() == 1
    assert not Event.objects.exists()
