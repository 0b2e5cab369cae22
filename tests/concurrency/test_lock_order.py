"""A lock that later locks of its transaction rely on (an admin save, a new link's drain) must
hold every operator they will take, so that they take nothing new, out of id order.

The race: a lock statement reads the source's links in the snapshot it started with; a link
committed while it waited for a row brings an operator it did not lock. A later lock of the
same transaction would then take that operator while holding higher ids, and an intake
holding it and waiting for those could deadlock with it. A covering lock reads the links
again once it holds its rows and widens (crm.services.locking._lock_serving).

Deterministic: the link's writer holds the source's operators until the locker is seen
waiting for them (pg_stat_activity), then commits. PostgreSQL only: SQLite serialises writers
at BEGIN, so a link cannot commit while another writer waits."""

import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test import Client

from crm.models import Operator, OperatorSource, Source
from crm.services import routing_config
from crm.services.locking import routing_locked
from tests.conftest import is_postgres
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if not is_postgres():
        pytest.skip("SQLite serialises writers at BEGIN: no link can commit while a lock waits")


def _wait_until_waiting_for_a_lock(pid: int, limit: float = 30.0) -> None:
    """Poll for an event, not a timing: the limit only stops a broken run."""
    deadline = time.monotonic() + limit
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            assert time.monotonic() < deadline, "the locker never waited for the operators' rows"
            time.sleep(0.01)


def _link_committed_while(locker, *, source, operator) -> dict:
    """Run `locker(started)` in a thread while another transaction, holding the source's
    operators, links `operator` to `source`; the link commits once the locker's statement
    waits for those rows. Returns what the locker returned, as {"result": ...}."""
    linked, release = threading.Event(), threading.Event()
    backend: dict = {}
    out: dict = {}

    def writer():
        try:
            with transaction.atomic(), routing_locked(source_ids=[source.pk], operator_ids=[operator.pk]):
                OperatorSource.objects.create(source=source, operator=operator, weight=1)
                linked.set()
                assert release.wait(timeout=60)
        finally:
            connections.close_all()

    def run_locker():
        try:
            assert linked.wait(timeout=60)
            out["result"] = locker(backend)
        except Exception as exc:  # asserted by the test
            out["error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer), threading.Thread(target=run_locker)]
    for thread in threads:
        thread.start()
    try:
        assert linked.wait(timeout=60)
        deadline = time.monotonic() + 30
        while "pid" not in backend:
            assert time.monotonic() < deadline and threads[1].is_alive(), out
            time.sleep(0.01)
        _wait_until_waiting_for_a_lock(backend["pid"])
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert "error" not in out, out["error"]
    return out


def _source_with_late_operator():
    """A source served by `held` (higher id), and `late` (lower id), not linked yet."""
    late = OperatorFactory(name="late")
    held = OperatorFactory(name="held")
    source = SourceFactory()
    OperatorSourceFactory(source=source, operator=held)
    assert late.pk < held.pk
    return source, held, late


@pytest.mark.parametrize("covering", [True, False])
def test_a_covering_lock_also_holds_the_operator_of_a_link_committed_while_it_waited(covering):
    source, held, late = _source_with_late_operator()

    def locker(backend):
        connection.ensure_connection()
        backend["pid"] = connection.connection.info.backend_pid
        with transaction.atomic(), routing_locked(source_ids=[source.pk], covering=covering) as ctx:
            return sorted(ctx.operators)

    locked = _link_committed_while(locker, source=source, operator=late)["result"]
    if covering:
        assert locked == [late.pk, held.pk]
    else:
        # The control: the plain lock's snapshot predates the link, so it misses `late`
        # (the race this test sets up really happens).
        assert locked == [held.pk]


def test_an_admin_save_holds_the_operator_of_a_link_committed_while_it_waited(monkeypatch):
    """A source's admin save locks its operators first; a link committed while it waited
    must be held by that first lock, before any service runs (seen from outside: NOWAIT on
    the new operator's row fails), and the save goes through."""
    source, _held, late = _source_with_late_operator()
    admin = UserFactory(is_staff=True, is_superuser=True)
    in_service, release_service = threading.Event(), threading.Event()
    real_update = routing_config.source_update

    def held_update(**kwargs):
        in_service.set()  # the admin's first lock is held now
        assert release_service.wait(timeout=60)
        return real_update(**kwargs)

    monkeypatch.setattr(routing_config, "source_update", held_update)
    seen: dict = {}

    def probe():
        """From outside, while the save waits in its service: is `late` locked?"""
        assert in_service.wait(timeout=60)
        try:
            with transaction.atomic():
                Operator.objects.select_for_update(nowait=True, no_key=True).filter(pk=late.pk).first()
            seen["late_locked"] = False
        except OperationalError:
            seen["late_locked"] = True
        finally:
            release_service.set()
            connections.close_all()

    def save(backend):
        client = Client()
        client.force_login(admin)
        connection.ensure_connection()
        backend["pid"] = connection.connection.info.backend_pid
        prober = threading.Thread(target=probe)
        prober.start()
        try:
            response = client.post(
                f"/admin/crm/source/{source.pk}/change/",
                {
                    "name": "renamed",
                    "strategy": "random",
                    "links-TOTAL_FORMS": "0",
                    "links-INITIAL_FORMS": "0",
                    "links-MIN_NUM_FORMS": "0",
                    "links-MAX_NUM_FORMS": "1000",
                },
            )
        finally:
            release_service.set()
            prober.join(timeout=60)
        return response.status_code

    status = _link_committed_while(save, source=source, operator=late)["result"]
    assert seen == {"late_locked": True}
    assert status == 302
    assert Source.objects.get(pk=source.pk).name == "renamed"
