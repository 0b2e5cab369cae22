"""Background work on huey: the drain task's bounded batches, the sweep, the heartbeat and
/healthz/worker. Tasks run in-process at enqueue time (huey's immediate mode, settings.test);
the real worker process is tested in tests/live/test_worker_crash.py."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from crm import tasks
from crm.models import Contact, Operator
from crm.services.queue import queue_drain_later, sources_to_drain
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, UserFactory
from tests.invariants import assert_routing_invariants

pytestmark = pytest.mark.django_db


def waiting_ids(source_id):
    return list(
        Contact.objects.filter(source_id=source_id, status="open", operator__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


@pytest.fixture
def backlog():
    """An operator with room for 5 and 7 contacts waiting on his source."""
    op = OperatorFactory(max_load=5)
    link = OperatorSourceFactory(operator=op)
    contacts = [ContactFactory(source=link.source) for _ in range(7)]
    return op, link.source, [c.pk for c in contacts]


@pytest.fixture
def batches(monkeypatch):
    """What each drain job assigned, in order."""
    seen = []
    real = tasks.queue_drain

    def spy(**kwargs):
        assigned = real(**kwargs)
        seen.append(assigned)
        return assigned

    monkeypatch.setattr(tasks, "queue_drain", spy)
    return seen


def test_drain_task_assigns_the_oldest_in_bounded_batches_until_the_room_is_used(backlog, batches, settings):
    settings.QUEUE_DRAIN_BATCH = 2
    op, source, ids = backlog
    tasks.queue_drain_source(source.pk)
    assert batches == [2, 2, 1]
    assert waiting_ids(source.pk) == ids[5:]
    assert set(Contact.objects.filter(operator=op).values_list("id", flat=True)) == set(ids[:5])
    assert Operator.objects.get(pk=op.pk).open_load == 5
    assert_routing_invariants(timeline=False)  # contacts made by a factory have no events


def test_drain_task_with_nothing_to_do_writes_nothing(batches):
    op = OperatorFactory(max_load=0)
    link = OperatorSourceFactory(operator=op)
    ContactFactory(source=link.source)
    tasks.queue_drain_source(link.source_id)
    assert batches == [0]
    assert Contact.objects.filter(operator__isnull=False).count() == 0


def test_drain_later_runs_after_the_commit(backlog, django_capture_on_commit_callbacks):
    _, source, ids = backlog
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        queue_drain_later(source_ids=[source.pk, source.pk])
        assert waiting_ids(source.pk) == ids  # nothing ran inside the transaction
    # One enqueue for the source named twice (the drain it runs registers callbacks of its own:
    # the lock-hold metric).
    assert len([c for c in callbacks if getattr(c, "func", None) is tasks.queue_drain_source]) == 1
    assert waiting_ids(source.pk) == ids[5:]


def test_drain_later_in_a_rolled_back_transaction_enqueues_nothing(backlog, django_capture_on_commit_callbacks):
    _, source, ids = backlog
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queue_drain_later(source_ids=[source.pk])
        raise RuntimeError("the change failed")
    assert callbacks == []
    assert waiting_ids(source.pk) == ids


def test_sweep_drains_only_sources_with_both_room_and_waiting_contacts(backlog):
    _, with_room, ids = backlog
    full = OperatorSourceFactory(operator=OperatorFactory(max_load=0))
    ContactFactory(source=full.source)
    paused = OperatorSourceFactory(weight=0)
    ContactFactory(source=paused.source)
    inactive = OperatorSourceFactory(operator=OperatorFactory(is_active=False))
    ContactFactory(source=inactive.source)
    OperatorSourceFactory()  # room, nobody waiting
    assert tasks.queue_sweep.call_local() == [with_room.pk]
    # In immediate mode the enqueued drain ran at once.
    assert waiting_ids(with_room.pk) == ids[5:]
    assert len(waiting_ids(full.source_id)) == 1


def test_sweep_skips_sources_whose_operators_with_room_are_not_online(settings):
    offline = OperatorSourceFactory(operator=OperatorFactory(availability=Operator.Availability.OFFLINE))
    ContactFactory(source=offline.source)
    # A login idle for longer than OPERATOR_AWAY_AFTER counts as away, whatever he said.
    idle = OperatorFactory(user=UserFactory(), last_seen_at=timezone.now() - settings.OPERATOR_AWAY_AFTER * 2)
    idle_link = OperatorSourceFactory(operator=idle)
    ContactFactory(source=idle_link.source)
    active = OperatorFactory(user=UserFactory(), last_seen_at=timezone.now())
    active_link = OperatorSourceFactory(operator=active)
    ContactFactory(source=active_link.source)
    assert sources_to_drain() == [active_link.source_id]


def test_worker_health_without_any_heartbeat_is_down(client):
    cache.delete(tasks.HEARTBEAT_KEY)
    response = client.get("/healthz/worker")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "worker_down"
    assert body["worker"] == {"alive": False, "last_seen": None, "seconds_since": None}
    assert body["queue"] == {"waiting": 0, "oldest_waiting_seconds": None}


def test_worker_health_after_a_heartbeat_is_ok_with_the_oldest_waiting_age(backlog, client):
    ids = backlog[2]
    tasks.worker_heartbeat.call_local()
    response = client.get("/healthz/worker/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["worker"]["alive"] is True
    assert body["queue"]["waiting"] == 7
    oldest = Contact.objects.get(pk=ids[0]).created_at
    later = tasks.worker_health(now=oldest + timedelta(minutes=10))
    assert later["queue"] == {"waiting": 7, "oldest_waiting_seconds": 600}


def test_worker_health_goes_down_when_the_heartbeat_is_stale(settings):
    tasks.worker_heartbeat.call_local()
    stale = timezone.now() + settings.TASKS_WORKER_STALE_AFTER + timedelta(seconds=1)
    health = tasks.worker_health(now=stale)
    assert health["worker"]["alive"] is False
    assert health["worker"]["seconds_since"] >= settings.TASKS_WORKER_STALE_AFTER.total_seconds()
