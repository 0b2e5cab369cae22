"""A write that gives up waiting for the database (SQLite's busy timeout) is a 503 with
Retry-After that wrote nothing, never a 500."""

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from crm.models import Contact, Lead
from crm.services.accounts import bot_create
from tests.factories import SourceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_intake_that_cannot_get_the_write_lock_is_503(monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL waits on row locks without a timeout unless lock_timeout is set")
    source = SourceFactory()
    _, key = bot_create(name="blocked_bot")
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN IMMEDIATE")
                locked.set()
                release.wait(30)
                cursor.execute("ROLLBACK")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert locked.wait(30)
        # This thread's connection gives up after 0.2 s instead of 30 s.
        connection.close()
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        r = client.post("/api/v1/contacts/", {"external_id": "blocked", "source_id": source.pk}, format="json")
    finally:
        release.set()
        holder.join(30)
    assert r.status_code == 503 and r.json()["code"] == "busy" and r["Retry-After"] == "1"
    assert not Lead.objects.filter(external_id="blocked").exists() and Contact.objects.count() == 0
