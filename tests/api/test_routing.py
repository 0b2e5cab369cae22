"""Routing over HTTP: source settings, reassign, redistribute, the decision record, stats."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact, Source
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_source_strategy_and_affinity_round_trip(staff_client):
    r = staff_client.post("/api/v1/sources/", {"name": "tg", "strategy": "smooth", "affinity": True}, format="json")
    assert r.status_code == 201 and r.json()["strategy"] == "smooth" and r.json()["affinity"] is True
    sid = r.json()["id"]
    r = staff_client.patch(f"/api/v1/sources/{sid}", {"affinity": False}, format="json")
    assert r.status_code == 200
    source = Source.objects.get(pk=sid)
    assert (source.strategy, source.affinity) == ("smooth", False)
    r = staff_client.patch(f"/api/v1/sources/{sid}", {"strategy": "round-robin"}, format="json")
    assert r.status_code == 400 and "strategy" in r.json()
    assert Source.objects.get(pk=sid).strategy == "smooth"


def test_contact_detail_has_assignment_record(staff_client):
    link = OperatorSourceFactory()
    c = contact_register(external_id="x", source_id=link.source_id)
    body = staff_client.get(f"/api/v1/contacts/{c.pk}").json()
    assert body["assignment"]["operator_id"] == link.operator_id
    assert body["assignment"]["candidates"][0]["excluded"] is None


def test_reassign_endpoint(staff_client):
    source = SourceFactory()
    a, b = OperatorFactory(max_load=1), OperatorFactory(max_load=1)
    OperatorSourceFactory(source=source, operator=a, weight=1000)
    OperatorSourceFactory(source=source, operator=b, weight=1)
    c = contact_register(external_id="x", source_id=source.pk)
    target = b if c.operator_id == a.pk else a
    r = staff_client.post(f"/api/v1/contacts/{c.pk}/reassign/", {"operator_id": target.pk}, format="json")
    assert r.status_code == 200 and r.json()["operator_id"] == target.pk
    assert Contact.objects.get(pk=c.pk).operator_id == target.pk
    # The other is now free, the target full: moving back with {} works; to a full one is 400.
    other = contact_register(external_id="y", source_id=source.pk)
    r = staff_client.post(f"/api/v1/contacts/{other.pk}/reassign", {"operator_id": target.pk}, format="json")
    assert r.status_code == 400 and "full" in r.json()["operator_id"][0]
    assert (
        staff_client.post(f"/api/v1/contacts/{c.pk}/reassign/", {"operator_id": "x"}, format="json").status_code == 400
    )
    assert staff_client.post("/api/v1/contacts/987654/reassign/", {}, format="json").status_code == 404


def test_reassign_closed_is_409(staff_client):
    link = OperatorSourceFactory()
    c = contact_register(external_id="x", source_id=link.source_id)
    staff_client.post(f"/api/v1/contacts/{c.pk}/close/")
    r = staff_client.post(f"/api/v1/contacts/{c.pk}/reassign/", {}, format="json")
    assert r.status_code == 409


def test_bot_cannot_reassign(bot_client):
    link = OperatorSourceFactory()
    c = contact_register(external_id="x", source_id=link.source_id)
    assert bot_client.post(f"/api/v1/contacts/{c.pk}/reassign/", {}, format="json").status_code == 403


def test_patch_operator_deactivate_and_redistribute(staff_client):
    source = SourceFactory()
    leaving, other = OperatorFactory(max_load=3), OperatorFactory(max_load=3)
    OperatorSourceFactory(source=source, operator=leaving, weight=1000)
    c = contact_register(external_id="x", source_id=source.pk)
    OperatorSourceFactory(source=source, operator=other, weight=1)
    assert c.operator_id == leaving.pk
    r = staff_client.patch(f"/api/v1/operators/{leaving.pk}", {"is_active": False, "redistribute": True}, format="json")
    assert r.status_code == 200 and r.json()["current_load"] == 0 and "redistribute" not in r.json()
    assert Contact.objects.get(pk=c.pk).operator_id == other.pk
    r = staff_client.patch(f"/api/v1/operators/{other.pk}", {"redistribute": True}, format="json")
    assert r.status_code == 400 and "redistribute" in r.json()


def test_distribution_stats_endpoint(staff_client, bot_client, anon_client):
    link = OperatorSourceFactory(weight=10)
    contact_register(external_id="x", source_id=link.source_id)
    r = staff_client.get(f"/api/v1/stats/distribution/?source={link.source_id}")
    assert r.status_code == 200
    [row] = r.json()
    assert row["assigned"] == 1 and row["operators"][0]["actual_share"] == 1.0
    assert row["operators"][0]["configured_share"] == 1.0
    since = (timezone.now() + timedelta(hours=1)).isoformat()
    r = staff_client.get("/api/v1/stats/distribution", {"since": since})
    assert r.status_code == 200 and r.json()[0]["contacts"] == 0
    assert staff_client.get("/api/v1/stats/distribution/?since=yesterday").status_code == 400
    assert staff_client.get("/api/v1/stats/distribution/?source=abc").status_code == 400
    assert bot_client.get("/api/v1/stats/distribution/").status_code == 403
    assert anon_client.get("/api/v1/stats/distribution/").status_code == 401
