"""GET /api/v1/contacts/{id}/events/: a contact's timeline, for staff (and, for his own
contacts, the operator; see test_operator_api)."""

import pytest

from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from tests.factories import OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_staff_reads_a_contacts_timeline_in_order(staff_client, rng, staff_user):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    contact_close(contact_id=contact.pk, actor=staff_user)
    r = staff_client.get(f"/api/v1/contacts/{contact.pk}/events/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert [e["type"] for e in body] == ["contact.registered", "contact.assigned", "contact.closed"]
    assert [e["id"] for e in body] == sorted(e["id"] for e in body)
    assert body[2]["actor_kind"] == "staff" and body[2]["actor_user_id"] == staff_user.pk
    assert body[1]["operator_id"] == link.operator_id and body[1]["data"]["via"] == "intake"
    assert set(body[0]) == {
        "id",
        "type",
        "occurred_at",
        "contact_id",
        "operator_id",
        "source_id",
        "actor_kind",
        "actor_user_id",
        "data",
    }


def test_timeline_of_an_unknown_contact_is_404(staff_client):
    assert staff_client.get("/api/v1/contacts/424242/events/").status_code == 404


def test_bots_and_anonymous_cannot_read_timelines(bot_client, anon_client, rng):
    contact = contact_register(external_id="a", source_id=SourceFactory().pk, rng=rng, registered_by=bot_client.user)
    assert bot_client.get(f"/api/v1/contacts/{contact.pk}/events/").status_code == 403
    assert anon_client.get(f"/api/v1/contacts/{contact.pk}/events/").status_code == 401
