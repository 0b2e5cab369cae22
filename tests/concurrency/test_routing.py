"""Queue, reassignment and configuration changes racing with intake, on real threads with
their own connections, on the suite's database (file SQLite or PostgreSQL). A wrong lock
order shows up here as a deadlock error on PostgreSQL; a missing lock as an overshoot."""

import random
import threading

import pytest
from django.db import connection, connections, transaction

from crm import tasks
from crm.errors import DomainError
from crm.models import Contact, Operator
from crm.services import routing_config
from crm.services.contacts import contact_close, contact_reassign
from crm.services.intake import contact_register
from crm.services.queue import DRAIN_LOCK_KEY, queue_drain_all
from tests.conftest import is_postgres, run_concurrently
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.invariants import assert_routing_invariants

pytestmark = pytest.mark.django_db(transaction=True)


def shared_setup():
    ops = [OperatorFactory(max_load=m) for m in (2, 3, 1, 2)]
    sources = [SourceFactory(strategy=s) for s in ("random", "smooth", "random")]
    for s_i, source in enumerate(sources):
        for o_i, op in enumerate(ops):
            if (s_i + o_i) % 3 != 2:
                OperatorSourceFactory(operator=op, source=source, weight=1 + (s_i + 2 * o_i) % 5)
    return ops, sources


def test_mixed_traffic_keeps_every_invariant():
    _ops, sources = shared_setup()
    seed_contacts = [contact_register(external_id=f"pre{i}", source_id=sources[i % 3].pk) for i in range(12)]

    def work(i):
        rng = random.Random(i)
        kind = i % 6
        try:
            if kind in (0, 1, 2):
                return contact_register(external_id=f"n{i % 9}", source_id=sources[i % 3].pk, rng=rng)
            if kind == 3:
                return contact_close(contact_id=seed_contacts[i % 12].pk, rng=rng)
            if kind == 4:
                return contact_reassign(contact_id=seed_contacts[(i * 7) % 12].pk, rng=rng)
            return queue_drain_all(rng=rng)
        except DomainError:  # a refused reassignment (nobody else free, or closed) is fine
            return None

    _, errors = run_concurrently(60, work)
    assert errors == []
    assert_routing_invariants()


def test_closes_hand_capacity_to_the_queue_under_concurrency():
    op = OperatorFactory(max_load=5)
    link = OperatorSourceFactory(operator=op)
    opened = [contact_register(external_id=f"o{i}", source_id=link.source_id) for i in range(5)]
    queued = [contact_register(external_id=f"q{i}", source_id=link.source_id) for i in range(10)]
    assert all(c.operator_id is None for c in queued)

    def work(i):
        if i < 5:
            return contact_close(contact_id=opened[i].pk, rng=random.Random(i))
        return contact_register(external_id=f"late{i}", source_id=link.source_id, rng=random.Random(i))

    _, errors = run_concurrently(15, work)
    assert errors == []
    # The five freed places went to the five oldest waiting contacts, not to latecomers.
    assigned = set(Contact.objects.filter(operator=op, status="open").values_list("id", flat=True))
    assert assigned == {c.pk for c in queued[:5]}
    assert_routing_invariants()


def test_config_changes_race_with_intake():
    ops, sources = shared_setup()
    for i in range(15):
        contact_register(external_id=f"w{i}", source_id=sources[i % 3].pk)

    def work(i):
        rng = random.Random(i)
        kind = i % 5
        if kind == 0:
            return routing_config.operator_update(operator_id=ops[i % 4].pk, max_load=3 + i % 3)
        if kind == 1:
            return routing_config.operator_update(operator_id=ops[i % 4].pk, is_active=(i // 5) % 2 == 0)
        return contact_register(external_id=f"c{i}", source_id=sources[i % 3].pk, rng=rng)

    _, errors = run_concurrently(40, work)
    # Lowering max_load under a concurrent intake may be refused (below current load): fine.
    assert all(isinstance(e, DomainError) and e.field == "max_load" for e in errors), errors
    assert_routing_invariants()


def test_assign_waiting_runs_concurrently_with_itself_and_traffic():
    op = OperatorFactory(max_load=0)
    link = OperatorSourceFactory(operator=op)
    for i in range(20):
        contact_register(external_id=f"w{i}", source_id=link.source_id)
    Operator.objects.filter(pk=op.pk).update(max_load=8)  # room appears behind the services' back

    def work(i):
        if i % 2:
            return queue_drain_all(rng=random.Random(i))
        return contact_register(external_id=f"n{i}", source_id=link.source_id, rng=random.Random(i))

    _, errors = run_concurrently(16, work)
    assert errors == []
    assert Contact.objects.filter(operator=op, status="open").count() == 8
    assert_routing_invariants()


def test_smooth_split_holds_under_concurrency():
    """Concurrent intakes queue on the operator locks; each must see the smooth counts the
    previous one left (not a snapshot from before its wait). Contact ids are drawn inside
    the locked section, so id order is decision order: every prefix is within one of share."""
    from fractions import Fraction

    source = SourceFactory(strategy="smooth")
    weights = {OperatorFactory(max_load=1000).pk: w for w in (5, 2, 1)}
    for op_id, w in weights.items():
        OperatorSourceFactory(operator=Operator.objects.get(pk=op_id), source=source, weight=w)
    _, errors = run_concurrently(
        48, lambda i: contact_register(external_id=f"s{i}", source_id=source.pk, rng=random.Random(i))
    )
    assert errors == []
    total = sum(weights.values())
    counts = dict.fromkeys(weights, 0)
    for k, op_id in enumerate(
        Contact.objects.filter(source=source).order_by("id").values_list("operator_id", flat=True), 1
    ):
        counts[op_id] += 1
        for other, w in weights.items():
            assert abs(counts[other] - Fraction(k * w, total)) < 1, (k, counts)
    assert_routing_invariants()


def test_a_second_drain_chain_ends_while_a_batch_of_its_source_is_in_progress(settings):
    """Two chains of drain jobs for one source (the minute sweep's and one already running):
    a batch that finds another batch of its source in progress assigns nothing and enqueues
    no successor, so only one chain goes on. PostgreSQL: the batches' advisory lock per
    source; SQLite runs one writer at a time, and there both chains alternate."""
    if not is_postgres():
        pytest.skip("SQLite serialises writers at BEGIN: batches never overlap there")
    settings.QUEUE_DRAIN_BATCH = 2
    op = OperatorFactory(max_load=10)
    link = OperatorSourceFactory(operator=op)
    ids = [ContactFactory(source=link.source).pk for _ in range(5)]
    holding, release = threading.Event(), threading.Event()

    def batch_in_progress():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DRAIN_LOCK_KEY, link.source_id])
                holding.set()
                assert release.wait(timeout=60)
        finally:
            connections.close_all()

    other = threading.Thread(target=batch_in_progress)
    other.start()
    try:
        assert holding.wait(timeout=60)
        # Immediate mode: a successor would run at once; none does, nothing is assigned.
        assert tasks.queue_drain_source.call_local(link.source_id) == 0
        assert Contact.objects.filter(pk__in=ids, operator__isnull=False).count() == 0
    finally:
        release.set()
        other.join(timeout=60)
    # The batch in progress is done: the next job goes on, in batches of 2, 2 and 1.
    assert tasks.queue_drain_source.call_local(link.source_id) == 2
    assert sorted(Contact.objects.filter(operator=op).values_list("id", flat=True)) == ids
    assert Operator.objects.get(pk=op.pk).open_load == 5
    assert_routing_invariants(timeline=False)
