"""The outbox under concurrency, with real threads and processes on real databases: events
committed out of id order, several workers at once, a worker SIGKILLed mid-delivery."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.db import connections, transaction

from crm.models import Contact, Event, EventType, WebhookAttempt, WebhookDelivery
from crm.services.events import event_record
from crm.services.intake import contact_register
from crm.services.webhook_outbox import webhook_fan_out, webhook_work
from crm.services.webhooks import webhook_endpoint_create
from tests.conftest import is_postgres, run_concurrently
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.live import server as live

pytestmark = pytest.mark.django_db(transaction=True)


def _endpoint(receiver):
    return webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_REGISTERED, EventType.CONTACT_CLOSED])


def _work_until_idle(rounds=1000):
    for _ in range(rounds):
        dispatched, run = webhook_work()
        if not dispatched and not run.claimed:
            return
    raise AssertionError("the worker kept finding work")


def test_an_event_committed_after_a_later_one_is_still_delivered(receiver):
    """Ids are taken at INSERT, visible at COMMIT: id N can become visible after N+1. A
    cursor would skip N; the dispatch state does not."""
    if not is_postgres():
        pytest.skip("SQLite serialises writers at BEGIN: commit order is id order there")
    _endpoint(receiver)
    early, late = ContactFactory(), ContactFactory()
    inserted, release = threading.Event(), threading.Event()
    holder = {}

    def slow_writer():
        try:
            with transaction.atomic():
                holder["event"] = event_record(type=EventType.CONTACT_REGISTERED, contact=early)
                inserted.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(timeout=30)
    later = event_record(type=EventType.CONTACT_REGISTERED, contact=late)
    _work_until_idle()
    assert receiver.message_ids() == [f"evt_{later.pk}"]
    release.set()
    thread.join(timeout=30)
    earlier = holder["event"]
    assert earlier.pk < later.pk
    _work_until_idle()
    assert receiver.message_ids() == [f"evt_{later.pk}", f"evt_{earlier.pk}"]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_writers_and_workers_together_deliver_every_event_once(receiver):
    """Writers record events while several workers fan out and deliver: every event arrives
    exactly once (no crash here, so no duplicate is allowed)."""
    _endpoint(receiver)
    contacts = [ContactFactory() for _ in range(40)]
    n_events, n_workers = 200, 3
    written = []
    lock = threading.Lock()

    def job(i):
        if i < n_events:
            pk = event_record(type=EventType.CONTACT_REGISTERED, contact=contacts[i % len(contacts)]).pk
            with lock:
                written.append(pk)
            return pk
        # The last jobs of their threads: workers, running while the other threads still write.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with lock:
                done = len(written) == n_events
            webhook_work()
            if done:
                return None
        raise AssertionError("writers did not finish")

    results, errors = run_concurrently(n_events + n_workers, job)
    assert errors == []
    _work_until_idle()
    ids = [f"evt_{pk}" for pk in results[:n_events]]
    counts = Counter(receiver.message_ids())
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert WebhookDelivery.objects.filter(status="succeeded").count() == n_events
    assert WebhookAttempt.objects.count() == n_events


def test_two_workers_never_send_the_same_delivery(receiver):
    _endpoint(receiver)
    for _ in range(60):
        event_record(type=EventType.CONTACT_REGISTERED, contact=ContactFactory())
    webhook_fan_out()

    def worker(_):
        sent = 0
        for _ in range(200):
            _, run = webhook_work()
            sent += run.claimed
            if not run.claimed and not WebhookDelivery.objects.filter(status="pending").exists():
                break
        return sent

    results, errors = run_concurrently(4, worker)
    assert errors == []
    assert sum(results) == 60
    assert Counter(receiver.message_ids()).most_common(1)[0][1] == 1
    assert len(receiver.received) == 60


def _start_worker(tmp_path, name):
    """The task engine's worker (huey's consumer), as `make run` starts it, on the test
    database, with its queue in a file of this test; its startup hook starts the webhook
    chain (crm.tasks.webhooks_tick)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "minicrm_project.settings.test",
        "DATABASE_URL": live.test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "TASKS_IMMEDIATE": "false",
        "TASKS_SQLITE_PATH": str(tmp_path / "tasks.sqlite3"),
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "WEBHOOK_DELIVERY_LEASE_SECONDS": "1",
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"],
        cwd=live.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def _stop(process):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_mid_delivery_loses_nothing(receiver, tmp_path):
    """The task worker is SIGKILLed while the receiver holds its request. A restarted worker sends
    the delivery again once the lease runs out: delivered, the interrupted attempt kept, and
    the receiver sees the message twice (the duplicate a crash may cause, counted here)."""
    _endpoint(receiver)
    event = event_record(type=EventType.CONTACT_REGISTERED, contact=ContactFactory())
    receiver.hold.clear()
    first, first_log = _start_worker(tmp_path, "first")
    try:
        assert receiver.got_request.wait(timeout=60), (tmp_path / "first.log").read_text()
    finally:
        # Killed whatever happened above: no worker outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        receiver.hold.set()
        first_log.close()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    second, second_log = _start_worker(tmp_path, "second")
    try:
        delivered = _wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").exists())
        assert delivered, (tmp_path / "second.log").read_text()
    finally:
        _stop(second)
        second_log.close()
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert [(a.number, a.finished_at is None, a.succeeded) for a in attempts] == [(1, True, False), (2, False, True)]
    counts = Counter(receiver.message_ids())
    assert counts == {f"evt_{event.pk}": 2}


def test_a_thousand_intakes_deliver_a_thousand_registered_events_once_each(receiver):
    """1,000 concurrent intakes while two workers deliver: every contact.registered arrives,
    each id exactly once (no crash here, so no duplicate is allowed)."""
    webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_REGISTERED])
    source = SourceFactory()
    for _ in range(3):
        OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100_000))
    n, writers, workers = 1000, 20, 2
    finished = []
    lock = threading.Lock()

    def writers_done() -> bool:
        with lock:
            return len(finished) == writers

    def job(i):
        if i < writers:
            try:
                for k in range(i, n, writers):
                    contact_register(external_id=f"lead-{k}", source_id=source.pk)
            finally:
                with lock:
                    finished.append(i)
            return None
        # Workers deliver while the writers write, and stop when every writer is done.
        while not writers_done():
            webhook_work()
        return None

    _, errors = run_concurrently(writers + workers, job)
    assert errors == []
    _work_until_idle()
    registered = Event.objects.filter(type=EventType.CONTACT_REGISTERED)
    assert registered.count() == n == Contact.objects.count()
    counts = Counter(receiver.message_ids())
    assert len(counts) == n and set(counts.values()) == {1}
    assert sorted(counts) == sorted(f"evt_{pk}" for pk in registered.values_list("id", flat=True))
    assert WebhookDelivery.objects.filter(status="succeeded").count() == n
