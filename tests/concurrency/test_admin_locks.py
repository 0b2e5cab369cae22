"""An admin save locks the operators it changes and those of the sources concerned, never
every operator row: intake on an unrelated source goes on while the save holds its locks.

The save is held open inside its transaction (its service waits on an event), and intakes
run meanwhile from another connection with a lock timeout: on the unrelated source the
intake must not wait at all; on the operator's own source it must (the control that shows
the test would see a wait). PostgreSQL only: SQLite has one writer at a time by design, so
there every write waits for every other (README, "PostgreSQL")."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test import Client

from crm.models import Contact, Operator
from crm.services import routing_config
from crm.services.intake import contact_register
from tests.conftest import is_postgres
from tests.factories import OperatorFactory, OperatorSourceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _register_with_lock_timeout(*, source_id: int, timeout: str, external_id: str) -> Contact:
    """An intake on a connection of its own that gives up waiting for a lock after `timeout`."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{timeout}'")
            return contact_register(external_id=external_id, source_id=source_id)
    finally:
        connections.close_all()


def test_admin_save_of_an_operator_does_not_hold_up_intake_on_an_unrelated_source(monkeypatch):
    if not is_postgres():
        pytest.skip("SQLite serialises all writers: there is no 'unrelated' lock to show")
    ivan = OperatorFactory(name="ivan", max_load=5)
    ivans_source = OperatorSourceFactory(operator=ivan).source
    other = OperatorSourceFactory(operator=OperatorFactory(name="olga", max_load=5)).source
    admin = UserFactory(is_staff=True, is_superuser=True)

    locked, release = threading.Event(), threading.Event()
    real_update = routing_config.operator_update

    def held_update(**kwargs):
        locked.set()  # the admin's transaction holds its locks now
        assert release.wait(timeout=60)
        return real_update(**kwargs)

    monkeypatch.setattr(routing_config, "operator_update", held_update)
    outcome = {}

    def save():
        try:
            client = Client()
            client.force_login(admin)
            data = {
                "name": "ivan",
                "is_active": "on",
                "max_load": "9",
                "links-TOTAL_FORMS": "0",
                "links-INITIAL_FORMS": "0",
                "links-MIN_NUM_FORMS": "0",
                "links-MAX_NUM_FORMS": "1000",
            }
            outcome["status"] = client.post(f"/admin/crm/operator/{ivan.pk}/change/", data).status_code
        finally:
            connections.close_all()

    saver = threading.Thread(target=save)
    saver.start()
    try:
        assert locked.wait(timeout=60), "the admin save never reached its service"
        # Unrelated source: no wait at all (a wait would fail at once).
        result = {}

        def unrelated():
            try:
                result["contact"] = _register_with_lock_timeout(
                    source_id=other.pk, timeout="1ms", external_id="unrelated"
                )
            except OperationalError as exc:
                result["error"] = exc

        worker = threading.Thread(target=unrelated)
        worker.start()
        worker.join(timeout=60)
        assert "error" not in result, f"intake on an unrelated source waited for the admin save: {result}"
        assert result["contact"].operator_id is not None
        # Ivan's own source: the save holds his lock, so this intake has to wait.
        failed = {}

        def related():
            try:
                _register_with_lock_timeout(source_id=ivans_source.pk, timeout="50ms", external_id="related")
            except OperationalError as exc:
                failed["error"] = exc

        worker = threading.Thread(target=related)
        worker.start()
        worker.join(timeout=60)
        assert "lock timeout" in str(failed.get("error", "")), "the control intake did not wait for the save"
    finally:
        release.set()
        saver.join(timeout=60)
    assert outcome["status"] == 302  # the save went through
    assert Operator.objects.get(pk=ivan.pk).max_load == 9
    assert Contact.objects.filter(source=other).count() == 1
    assert not Contact.objects.filter(source=ivans_source).exists()  # the refused control left nothing
