"""Bounded work per request: a change that frees room assigns at most one batch of the queue
under its locks and leaves the rest to the background worker, after its commit; and a new
contact never takes room while an older contact of its source waits."""

from functools import partial

import pytest

from crm.models import Contact, Operator, UnassignedReason
from crm.services import routing_config
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from crm.services.queue import queue_drain, queue_drain_all
from crm.tasks import queue_drain_source
from tests.factories import ContactFactory, LeadFactory, OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.invariants import assert_routing_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.QUEUE_DRAIN_BATCH = 3


def drains(callbacks) -> list[int]:
    """The sources of the background drains among a transaction's on-commit callbacks."""
    return [c.args[0] for c in callbacks if isinstance(c, partial) and c.func is queue_drain_source]


def waiting_ids(source_id):
    return list(Contact.objects.waiting().filter(source_id=source_id).order_by("id").values_list("id", flat=True))


def assigned_ids(operator_id):
    return sorted(Contact.objects.filter(operator_id=operator_id, status="open").values_list("id", flat=True))


@pytest.fixture
def backlog():
    """An inactive operator with room for 10; 8 contacts wait on his source."""
    op = OperatorFactory(max_load=10, is_active=False)
    link = OperatorSourceFactory(operator=op)
    ids = [ContactFactory(source=link.source).pk for _ in range(8)]
    return op, link, ids


def test_activation_assigns_one_batch_now_and_the_rest_after_commit(backlog, django_capture_on_commit_callbacks):
    op, link, ids = backlog
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        routing_config.operator_update(operator_id=op.pk, is_active=True)
    # The request's share: the three oldest, under its locks.
    assert assigned_ids(op.pk) == ids[:3]
    assert Operator.objects.get(pk=op.pk).open_load == 3
    assert waiting_ids(link.source_id) == ids[3:]
    assert drains(callbacks) == [link.source_id]  # one background drain, for the one source
    queue_drain_source(link.source_id)  # the worker (in-process here): batches of 3 until done
    assert assigned_ids(op.pk) == ids
    assert Operator.objects.get(pk=op.pk).open_load == 8
    assert_routing_invariants(timeline=False)


def test_a_batch_that_was_not_full_leaves_nothing_to_the_worker(django_capture_on_commit_callbacks):
    op = OperatorFactory(max_load=1)
    link = OperatorSourceFactory(operator=op)
    first = contact_register(external_id="first", source_id=link.source_id)
    waiting = [contact_register(external_id=f"w{i}", source_id=link.source_id).pk for i in range(4)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        contact_close(contact_id=first.pk)
    assert assigned_ids(op.pk) == waiting[:1]
    assert drains(callbacks) == []
    assert_routing_invariants()


def test_raising_capacity_on_a_backlog_is_bounded_too(django_capture_on_commit_callbacks):
    op = OperatorFactory(max_load=0)
    link = OperatorSourceFactory(operator=op)
    ids = [ContactFactory(source=link.source).pk for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        routing_config.operator_update(operator_id=op.pk, max_load=4)
    assert drains(callbacks) == [link.source_id]
    assert assigned_ids(op.pk) == ids[:4]  # the room, oldest first: 3 now, 1 in the background
    assert waiting_ids(link.source_id) == ids[4:]


def test_new_link_on_a_backlog_assigns_one_batch_and_enqueues_the_rest(django_capture_on_commit_callbacks):
    source = SourceFactory()
    ids = [ContactFactory(source=source).pk for _ in range(5)]
    op = OperatorFactory(max_load=10)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        routing_config.link_create(operator_id=op.pk, source_id=source.pk, weight=1)
    assert assigned_ids(op.pk) == ids[:3]
    assert drains(callbacks) == [source.pk]


def test_a_new_contact_waits_behind_older_ones_even_when_there_is_room(backlog):
    op, link, ids = backlog
    Operator.objects.filter(pk=op.pk).update(is_active=True)  # room, but the queue is not drained yet
    contact = contact_register(external_id="newcomer", source_id=link.source_id)
    assert contact.operator_id is None
    assert contact.unassigned_reason == UnassignedReason.BEHIND_QUEUE
    assert contact.assignment["reason"] == UnassignedReason.BEHIND_QUEUE
    assert Operator.objects.get(pk=op.pk).open_load == 0
    # The drain serves them in order: the newcomer last.
    queue_drain_all()
    assert assigned_ids(op.pk) == [*ids, contact.pk]
    assert_routing_invariants(timeline=False)


def test_with_nobody_waiting_a_new_contact_takes_the_room():
    link = OperatorSourceFactory()
    contact = contact_register(external_id="alone", source_id=link.source_id)
    assert contact.operator_id == link.operator_id


def test_assign_waiting_drains_everything_in_batches(backlog):
    op, link, ids = backlog
    Operator.objects.filter(pk=op.pk).update(is_active=True)
    assert queue_drain_all() == [(link.source_id, 8, 0)]
    assert assigned_ids(op.pk) == ids


def test_one_batch_keeps_affinity_for_a_lead_that_waits_twice(rng):
    source = SourceFactory(affinity=True)
    ops = [OperatorFactory(max_load=5, is_active=False) for _ in range(3)]
    for op in ops:
        OperatorSourceFactory(operator=op, source=source, weight=1)
    lead = LeadFactory()
    first, second = (ContactFactory(source=source, lead=lead).pk for _ in range(2))
    Operator.objects.filter(pk__in=[op.pk for op in ops]).update(is_active=True)
    queue_drain_all(rng=rng)
    taken = dict(Contact.objects.filter(pk__in=[first, second]).values_list("id", "operator_id"))
    assert taken[first] is not None and taken[second] == taken[first]
    assert Contact.objects.get(pk=second).assignment["affinity"] == "hit"
    assert_routing_invariants(timeline=False)


def test_a_batch_writes_each_contacts_own_operator_and_record_in_one_update(django_assert_num_queries):
    """One UPDATE joins the batch's (contact, operator, record) rows: every contact gets its own
    operator and decision record, and nothing outside the batch is touched."""
    source = SourceFactory(strategy="smooth")
    ann, bob = OperatorFactory(max_load=5), OperatorFactory(max_load=5)
    OperatorSourceFactory(source=source, operator=ann, weight=1)
    OperatorSourceFactory(source=source, operator=bob, weight=1)
    ids = [ContactFactory(source=source).pk for _ in range(4)]
    elsewhere = ContactFactory().pk  # waits on another source

    # The savepoint pair; the locks (operators, links, sources); the waiting contacts and
    # their locks; the one UPDATE of the contacts; the events' INSERT; a load UPDATE per
    # operator and a smooth-count UPDATE per link (two each here).
    with django_assert_num_queries(13):
        assert queue_drain(source_ids=[source.pk], limit=3) == 3
    drained = {c.pk: c for c in Contact.objects.filter(pk__in=ids[:3])}
    assert {c.operator_id for c in drained.values()} == {ann.pk, bob.pk}
    for contact in drained.values():
        assert contact.unassigned_reason == ""
        assert contact.assignment["via"] == "queue"
        assert contact.assignment["operator_id"] == contact.operator_id
        assert {c["operator_id"] for c in contact.assignment["candidates"]} == {ann.pk, bob.pk}
    assert waiting_ids(source.pk) == ids[3:]
    assert Contact.objects.get(pk=elsewhere).operator_id is None
    assert Operator.objects.get(pk=ann.pk).open_load + Operator.objects.get(pk=bob.pk).open_load == 3
    assert_routing_invariants(caught_up=False, timeline=False)
