"""The health checks."""

import pytest
from django.db import OperationalError
from django.utils import timezone

from crm.models import EventType
from crm.services.events import event_record
from tests.factories import ContactFactory


@pytest.mark.django_db
def test_healthz_is_200_without_auth_and_shows_no_data(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from crm import views

    def broken():
        raise OperationalError("connection refused")

    monkeypatch.setattr(views.connection, "cursor", broken)
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_healthz_webhooks_reports_backlog_and_lag(client, settings):
    body = client.get("/healthz/webhooks").json()
    assert body == {
        "status": "ok",
        "undispatched_events": 0,
        "oldest_undispatched_age_seconds": None,
        "pending_deliveries": 0,
        "oldest_undelivered_age_seconds": None,
    }
    event = event_record(type=EventType.CONTACT_REGISTERED, contact=ContactFactory())
    event.occurred_at = timezone.now() - settings.WEBHOOK_DISPATCH_ALERT * 2
    event.save()
    response = client.get("/healthz/webhooks")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "lagging" and body["undispatched_events"] == 1
    assert body["oldest_undelivered_age_seconds"] >= settings.WEBHOOK_DISPATCH_ALERT.total_seconds() * 2
