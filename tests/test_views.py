"""The health check."""

import pytest
from django.db import OperationalError


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
