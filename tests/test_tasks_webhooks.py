"""Webhook delivery on the task engine: a chain of short tasks held by a lease with an expiry.
Huey runs in immediate mode here, or (`queued_huey`) queues messages in memory for the test to
run one at a time, as one worker thread does. The real consumer, killed mid-delivery, is in
tests/concurrency/test_webhooks.py."""

import time
from itertools import pairwise

import pytest
from django.db import transaction
from huey.contrib.djhuey import HUEY
from huey.storage import MemoryStorage

from crm import tasks
from crm.models import Contact, EventType, WebhookDelivery
from crm.services.events import event_record
from crm.services.queue import queue_drain_later
from crm.services.webhooks import webhook_endpoint_create
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_huey(monkeypatch):
    """Huey queueing for real, in memory, with no consumer: the test is the worker thread
    (`run_next`). Scheduled messages stay in the schedule until the test moves them."""
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", MemoryStorage(HUEY.name))
    # A worker closes stale connections around each task; here the task runs in the test's
    # own connection and transaction, which must stay open.
    monkeypatch.setattr("huey.contrib.djhuey.close_old_connections", lambda: None)
    return HUEY


def run_next(huey) -> str | None:
    """What one consumer thread does: take the oldest message and run it, or, if it is due
    later, move it to the schedule. Returns its name (with " later" for a move)."""
    task = huey.dequeue()
    if task is None:
        return None
    due = huey.ready_to_run(task)
    huey.execute(task)
    return task.name if due else f"{task.name} later"


def scheduled_ticks(huey) -> list[str]:
    return [task.args[0] for task in huey.scheduled() if task.name == "webhooks_tick"]


def test_the_keepalive_starts_a_chain_that_delivers(receiver):
    webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_CLOSED])
    event = event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    token = tasks.webhooks_keepalive.call_local()  # immediate mode: its first tick runs now
    assert token and tasks.webhook_chain_holder() == token
    assert receiver.message_ids() == [f"evt_{event.pk}"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_an_idle_tick_hands_its_thread_back_and_looks_again_after_the_poll_interval(queued_huey, settings):
    settings.WEBHOOK_POLL_SECONDS = 1
    token = tasks.webhooks_chain_start()
    started = time.time()
    assert run_next(queued_huey) == "webhooks_tick"
    # Its successor is a message due later: a worker moves it to the schedule, not running it.
    assert run_next(queued_huey) == "webhooks_tick later"
    assert len(queued_huey) == 0
    assert scheduled_ticks(queued_huey) == [token]
    (successor,) = queued_huey.scheduled()
    assert successor.eta.timestamp() >= started + 1


def test_a_live_chain_is_left_alone(queued_huey):
    token = tasks.webhooks_chain_start()
    assert tasks.webhooks_keepalive.call_local() is None
    assert tasks.webhook_chain_holder() == token
    assert len(queued_huey) == 1  # the first chain's tick only


def test_a_stale_lease_is_taken_over_and_the_dead_chain_ends(queued_huey):
    """A worker killed mid-tick leaves its lease behind, never renewed: the keepalive leaves it
    while it runs and takes over once it has expired (the clock is moved, not waited for);
    the dead chain's surviving message then ends without a successor."""
    lease = tasks.webhook_chain_lease_seconds()
    now = time.time()
    dead = tasks.webhooks_chain_start(now=now)
    queued_huey.dequeue()  # the worker that took the first tick was killed: message gone
    assert tasks.webhooks_chain_start(now=now + lease - 1) is None
    assert tasks.webhook_chain_holder(now=now + lease - 1) == dead
    assert tasks.webhook_chain_holder(now=now + lease + 1) is None
    fresh = tasks.webhooks_chain_start(now=now + lease + 1)
    assert fresh and fresh != dead
    assert tasks.webhook_chain_holder(now=now + lease + 1) == fresh
    # A message of the dead chain that survived (a scheduled tick) runs: it ends its chain.
    assert tasks.webhooks_tick.call_local(dead) == {"ended": True}
    assert run_next(queued_huey) == "webhooks_tick"  # the fresh chain's tick
    assert run_next(queued_huey) == "webhooks_tick later"
    assert len(queued_huey) == 0 and scheduled_ticks(queued_huey) == [fresh]


def test_a_starting_worker_takes_over_a_live_lease(queued_huey):
    """A worker process starting is usually the replacement of a killed one, whose lease is
    still unexpired: it takes over at once. If the old chain was alive after all, it ends at
    its next tick: one chain again."""
    old = tasks.webhooks_chain_start()
    new = tasks.webhooks_chain_start(takeover=True)
    assert tasks.webhook_chain_holder() == new != old
    assert [run_next(queued_huey) for _ in range(3)] == ["webhooks_tick", "webhooks_tick", "webhooks_tick later"]
    assert len(queued_huey) == 0 and scheduled_ticks(queued_huey) == [new]


def test_with_one_worker_thread_a_drain_waits_for_at_most_one_short_webhook_task(
    queued_huey, receiver, settings, django_capture_on_commit_callbacks
):
    """One worker thread, webhooks to deliver and a drain asked for while a webhook task runs:
    the drain runs right after that task, and each webhook task makes at most one attempt once
    its budget is spent (a budget of 0 here: exactly one). Both finish completely."""
    settings.WEBHOOK_TICK_SECONDS = 0
    settings.QUEUE_DRAIN_BATCH = 2
    webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_CLOSED])
    events = [event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory()) for _ in range(6)]
    op = OperatorFactory(max_load=5)
    link = OperatorSourceFactory(operator=op)
    waiting = [ContactFactory(source=link.source).pk for _ in range(5)]
    tasks.webhooks_chain_start()

    assert run_next(queued_huey) == "webhooks_tick"
    assert len(queued_huey) == 1  # the chain's next tick: at most one webhook task is ever queued
    # Room appeared on the source (as after an activation): its drain is enqueued on commit.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        queue_drain_later(source_ids=[link.source_id])
    ran, sent = [], [len(receiver.received)]
    while name := run_next(queued_huey):
        ran.append(name)
        sent.append(len(receiver.received))

    tick, drain = "webhooks_tick", "queue_drain_source"
    # Batches of 2, 2 and 1, each behind exactly one webhook task; then the webhooks go on.
    assert ran[:6] == [tick, drain, tick, drain, tick, drain]
    assert set(ran[6:-1]) == {tick} and ran[-1] == f"{tick} later"
    assert all(after - before <= 1 for before, after in pairwise(sent))  # one attempt per task
    assert Contact.objects.filter(pk__in=waiting, operator=op).count() == 5
    assert sorted(receiver.message_ids()) == sorted(f"evt_{event.pk}" for event in events)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert len(scheduled_ticks(queued_huey)) == 1  # idle again: one tick waits in the schedule
