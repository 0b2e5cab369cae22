"""Routing services: the waiting queue, strategies, affinity, reassignment, redistribution
and the decision record. Each test asserts the database state afterwards."""

import random
from fractions import Fraction

import pytest

from crm.errors import ConflictError, DomainError, NotFoundError
from crm.models import Contact, Operator, OperatorSource, Source
from crm.selectors import operator_load_mismatches
from crm.services import routing_config
from crm.services.assignment import Candidate, choose_operator
from crm.services.contacts import contact_close, contact_reassign
from crm.services.intake import contact_register
from crm.services.queue import queue_drain_all
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def waiting(source):
    return list(
        Contact.objects.filter(source=source, status="open", operator__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


def load(op):
    return Operator.objects.get(pk=op.pk).open_load


@pytest.fixture
def full_source(rng):
    """One operator, max_load 1, already full; three contacts waiting behind him."""
    op = OperatorFactory(max_load=1)
    link = OperatorSourceFactory(operator=op, weight=10)
    first = contact_register(external_id="first", source_id=link.source_id, rng=rng)
    queued = [contact_register(external_id=f"q{i}", source_id=link.source_id, rng=rng) for i in range(3)]
    assert first.operator_id == op.pk and all(c.operator_id is None for c in queued)
    return op, link.source, first, queued


# --- the queue ------------------------------------------------------------------------------


def test_closing_a_full_operators_contact_hands_him_the_oldest_waiting(full_source, rng):
    op, source, first, queued = full_source
    contact_close(contact_id=first.pk, rng=rng)
    assert Contact.objects.get(pk=queued[0].pk).operator_id == op.pk
    assert waiting(source) == [queued[1].pk, queued[2].pk]
    assert load(op) == 1
    record = Contact.objects.get(pk=queued[0].pk).assignment
    assert record["via"] == "queue" and record["operator_id"] == op.pk
    assert Contact.objects.get(pk=queued[0].pk).unassigned_reason == ""
    assert operator_load_mismatches() == []


def test_raising_max_load_drains_up_to_the_new_room(full_source):
    op, source, _, queued = full_source
    routing_config.operator_update(operator_id=op.pk, max_load=3)
    assert waiting(source) == [queued[2].pk]
    assert load(op) == 3


def test_activating_an_operator_drains(rng):
    op = OperatorFactory(is_active=False, max_load=5)
    link = OperatorSourceFactory(operator=op)
    c = contact_register(external_id="x", source_id=link.source_id, rng=rng)
    assert c.unassigned_reason == "all_inactive"
    routing_config.operator_update(operator_id=op.pk, is_active=True)
    assert Contact.objects.get(pk=c.pk).operator_id == op.pk and load(op) == 1


def test_weight_raised_from_zero_drains(rng):
    link = OperatorSourceFactory(weight=0)
    c = contact_register(external_id="x", source_id=link.source_id, rng=rng)
    assert c.unassigned_reason == "all_paused"
    routing_config.link_update(link_id=link.pk, weight=5)
    assert Contact.objects.get(pk=c.pk).operator_id == link.operator_id


def test_new_link_drains(rng):
    source = SourceFactory()
    c = contact_register(external_id="x", source_id=source.pk, rng=rng)
    op = OperatorFactory()
    routing_config.link_create(operator_id=op.pk, source_id=source.pk, weight=1)
    assert Contact.objects.get(pk=c.pk).operator_id == op.pk and load(op) == 1


def test_new_link_with_weight_zero_does_not_drain(rng):
    source = SourceFactory()
    c = contact_register(external_id="x", source_id=source.pk, rng=rng)
    routing_config.link_create(operator_id=OperatorFactory().pk, source_id=source.pk, weight=0)
    assert Contact.objects.get(pk=c.pk).operator_id is None


def test_freed_room_serves_every_source_of_the_operator_oldest_first(rng):
    op = OperatorFactory(max_load=1)
    a, b = SourceFactory(), SourceFactory()
    OperatorSourceFactory(operator=op, source=a)
    OperatorSourceFactory(operator=op, source=b)
    first = contact_register(external_id="1", source_id=a.pk, rng=rng)
    older_on_b = contact_register(external_id="2", source_id=b.pk, rng=rng)
    contact_register(external_id="3", source_id=a.pk, rng=rng)
    contact_close(contact_id=first.pk, rng=rng)
    assert Contact.objects.get(pk=older_on_b.pk).operator_id == op.pk


def test_closing_a_waiting_contact_leaves_queue_and_loads(full_source):
    op, source, _, queued = full_source
    contact_close(contact_id=queued[1].pk)
    assert waiting(source) == [queued[0].pk, queued[2].pk]
    assert load(op) == 1


def test_assign_waiting_drains_everything_it_can(full_source):
    op, source, _, queued = full_source
    Operator.objects.filter(pk=op.pk).update(max_load=3)  # around the services: no drain happened
    report = queue_drain_all()
    assert report == [(source.pk, 2, 1)]
    assert waiting(source) == [queued[2].pk] and load(op) == 3


# --- strategies -----------------------------------------------------------------------------


def cand(op_id, weight, count=0, **kw):
    return Candidate(
        op_id, f"op{op_id}", weight, kw.get("active", True), kw.get("load", 0), kw.get("max_load", 10**6), count
    )


@pytest.mark.parametrize(
    "weights", [[5, 1, 1], [427, 10, 366, 3, 9], [3, 203, 1, 203, 6, 2, 2], [1], [7, 7], [1000, 1]]
)
def test_smooth_counts_stay_within_one_of_share_at_every_step(weights):
    counts = [0] * len(weights)
    total = sum(weights)
    for k in range(1, 400):
        cands = [cand(i + 1, w, counts[i]) for i, w in enumerate(weights)]
        chosen = choose_operator(cands, strategy="smooth").operator_id
        counts[chosen - 1] += 1
        for i, w in enumerate(weights):
            assert abs(counts[i] - Fraction(k * w, total)) < 1, (k, counts)


def test_smooth_interleaves_rather_than_bursts():
    counts = [0, 0]
    sequence = []
    for _ in range(6):
        chosen = choose_operator([cand(1, 2, counts[0]), cand(2, 1, counts[1])], strategy="smooth").operator_id
        counts[chosen - 1] += 1
        sequence.append(chosen)
    assert sequence in ([1, 2, 1, 1, 2, 1], [1, 1, 2, 1, 1, 2])


def test_smooth_strategy_end_to_end_within_one(rng):
    source = SourceFactory(strategy=Source.Strategy.SMOOTH)
    ops = [OperatorFactory(max_load=1000) for _ in range(3)]
    for op, w in zip(ops, (50, 30, 20), strict=True):
        OperatorSourceFactory(operator=op, source=source, weight=w)
    for k in range(1, 61):
        contact_register(external_id=f"s{k}", source_id=source.pk, rng=rng)
        for op, w in zip(ops, (50, 30, 20), strict=True):
            got = Contact.objects.filter(source=source, operator=op).count()
            assert abs(got - k * w / 100) < 1
    assert Contact.objects.get(lead__external_id="s1").assignment["strategy"] == "smooth"


def test_smooth_skips_full_operator_and_others_share_its_part(rng):
    source = SourceFactory(strategy=Source.Strategy.SMOOTH)
    full = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=1), weight=50)
    rest = [OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100), weight=w) for w in (30, 20)]
    for k in range(21):
        contact_register(external_id=f"x{k}", source_id=source.pk, rng=rng)
    assert Contact.objects.filter(operator_id=full.operator_id).count() == 1
    counts = [Contact.objects.filter(operator_id=link.operator_id).count() for link in rest]
    assert sum(counts) == 20 and abs(counts[0] - 12) <= 1 and abs(counts[1] - 8) <= 1


def test_weight_change_restarts_the_smooth_round(rng):
    source = SourceFactory(strategy=Source.Strategy.SMOOTH)
    link = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100), weight=1)
    OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100), weight=1)
    for k in range(4):
        contact_register(external_id=f"x{k}", source_id=source.pk, rng=rng)
    assert sum(OperatorSource.objects.filter(source=source).values_list("smooth_count", flat=True)) == 4
    routing_config.link_update(link_id=link.pk, weight=3)
    assert set(OperatorSource.objects.filter(source=source).values_list("smooth_count", flat=True)) == {0}


# --- affinity -------------------------------------------------------------------------------


@pytest.fixture
def affinity_source():
    source = SourceFactory(affinity=True)
    ops = [OperatorFactory(max_load=10) for _ in range(4)]
    for op in ops:
        OperatorSourceFactory(source=source, operator=op, weight=10)
    return source, ops


def test_returning_lead_gets_his_last_operator(affinity_source):
    source, _ = affinity_source
    first = contact_register(external_id="ann", source_id=source.pk, rng=random.Random(1))
    assert first.assignment["affinity"] == "no_history"
    for seed in range(9):  # 1 + 9 contacts: he stays under max_load 10
        again = contact_register(external_id=" ANN ", source_id=source.pk, rng=random.Random(seed))
        assert again.operator_id == first.operator_id
        assert again.assignment["affinity"] == "hit"


def test_affinity_falls_back_when_last_operator_is_not_eligible(affinity_source):
    source, _ = affinity_source
    first = contact_register(external_id="bob", source_id=source.pk, rng=random.Random(1))
    routing_config.operator_update(operator_id=first.operator_id, is_active=False)
    again = contact_register(external_id="bob", source_id=source.pk, rng=random.Random(2))
    assert again.operator_id not in (None, first.operator_id)
    assert again.assignment["affinity"] == "miss"
    assert again.assignment["affinity_operator_id"] == first.operator_id
    excluded = {c["operator_id"]: c["excluded"] for c in again.assignment["candidates"]}
    assert excluded[first.operator_id] == "inactive"


def test_affinity_off_ignores_history(rng):
    source = SourceFactory(affinity=False)
    for _ in range(2):
        OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100))
    ops = {
        contact_register(external_id="carl", source_id=source.pk, rng=random.Random(s)).operator_id for s in range(20)
    }
    assert len(ops) == 2
    assert Contact.objects.first().assignment["affinity"] is None


# --- reassignment ---------------------------------------------------------------------------


@pytest.fixture
def two_operators(rng):
    source = SourceFactory()
    a = OperatorFactory(name="a", max_load=2)
    b = OperatorFactory(name="b", max_load=2)
    OperatorSourceFactory(source=source, operator=a, weight=1000)
    OperatorSourceFactory(source=source, operator=b, weight=1)
    contact = contact_register(external_id="r", source_id=source.pk, rng=random.Random(0))
    if contact.operator_id != a.pk:
        contact = contact_reassign(contact_id=contact.pk, operator_id=a.pk)
    return source, a, b, contact


def test_reassign_to_named_operator_moves_load(two_operators):
    _source, a, b, contact = two_operators
    moved = contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    assert moved.operator_id == b.pk and moved.assignment["strategy"] == "manual"
    assert (load(a), load(b)) == (0, 1)
    assert operator_load_mismatches() == []


def test_reassign_to_full_or_inactive_or_unlinked_is_refused(two_operators, rng):
    source, a, b, contact = two_operators
    contact_register(external_id="b1", source_id=source.pk, rng=rng)
    Operator.objects.filter(pk=b.pk).update(max_load=0)  # full at once (load 0 >= 0)
    with pytest.raises(DomainError, match="full"):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    Operator.objects.filter(pk=b.pk).update(max_load=2, is_active=False)
    with pytest.raises(DomainError, match="inactive"):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    stranger = OperatorFactory()
    with pytest.raises(DomainError, match="does not serve"):
        contact_reassign(contact_id=contact.pk, operator_id=stranger.pk)
    with pytest.raises(NotFoundError):
        contact_reassign(contact_id=contact.pk, operator_id=987654)
    with pytest.raises(DomainError, match="already assigned"):
        contact_reassign(contact_id=contact.pk, operator_id=a.pk)
    assert Contact.objects.get(pk=contact.pk).operator_id == a.pk


def test_reassign_rerun_picks_another_operator(two_operators):
    _, a, b, contact = two_operators
    moved = contact_reassign(contact_id=contact.pk)
    assert moved.operator_id == b.pk
    excluded = {c["operator_id"]: c["excluded"] for c in moved.assignment["candidates"]}
    assert excluded[a.pk] == "current"


def test_reassign_rerun_with_nobody_else_keeps_the_contact(two_operators):
    _, a, b, contact = two_operators
    routing_config.operator_update(operator_id=b.pk, is_active=False)
    with pytest.raises(DomainError, match="stays with"):
        contact_reassign(contact_id=contact.pk)
    assert Contact.objects.get(pk=contact.pk).operator_id == a.pk and load(a) == 1


def test_reassign_closed_contact_is_conflict(two_operators):
    _, _, b, contact = two_operators
    contact_close(contact_id=contact.pk)
    with pytest.raises(ConflictError):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)


def test_reassign_away_from_full_operator_drains_his_queue(rng):
    source = SourceFactory()
    a = OperatorFactory(max_load=1)
    OperatorSourceFactory(source=source, operator=a)
    first = contact_register(external_id="1", source_id=source.pk, rng=rng)
    queued = contact_register(external_id="2", source_id=source.pk, rng=rng)
    b = OperatorFactory(max_load=1)
    routing_config.link_create(operator_id=b.pk, source_id=source.pk, weight=0)  # paused: manual only
    contact_reassign(contact_id=first.pk, operator_id=b.pk)
    assert Contact.objects.get(pk=queued.pk).operator_id == a.pk
    assert (load(a), load(b)) == (1, 1)


# --- redistribution -------------------------------------------------------------------------


def test_deactivate_with_redistribute_moves_open_contacts(rng):
    source = SourceFactory()
    leaving = OperatorFactory(max_load=5)
    other = OperatorFactory(max_load=2)
    OperatorSourceFactory(source=source, operator=leaving, weight=1000)
    link_other = OperatorSourceFactory(source=source, operator=other, weight=0)
    contacts = [contact_register(external_id=f"c{i}", source_id=source.pk, rng=rng) for i in range(3)]
    assert load(leaving) == 3
    routing_config.link_update(link_id=link_other.pk, weight=1)
    routing_config.operator_update(operator_id=leaving.pk, is_active=False, redistribute=True)
    assert load(leaving) == 0 and load(other) == 2
    ops = [Contact.objects.get(pk=c.pk).operator_id for c in contacts]
    assert ops == [other.pk, other.pk, None]  # oldest first; the third waits
    assert Contact.objects.get(pk=contacts[2].pk).unassigned_reason == "all_at_capacity"
    assert operator_load_mismatches() == []


def test_redistribute_reaches_sources_he_no_longer_serves(rng):
    source = SourceFactory()
    leaving = OperatorFactory(max_load=5)
    other = OperatorFactory(max_load=5)
    old_link = OperatorSourceFactory(source=source, operator=leaving, weight=1000)
    contact = contact_register(external_id="k", source_id=source.pk, rng=rng)
    assert contact.operator_id == leaving.pk
    routing_config.link_delete(link_id=old_link.pk)
    OperatorSourceFactory(source=source, operator=other, weight=1)
    routing_config.operator_update(operator_id=leaving.pk, is_active=False, redistribute=True)
    assert Contact.objects.get(pk=contact.pk).operator_id == other.pk
    assert (load(leaving), load(other)) == (0, 1)


def test_deactivate_without_redistribute_keeps_contacts(rng):
    link = OperatorSourceFactory()
    c = contact_register(external_id="k", source_id=link.source_id, rng=rng)
    routing_config.operator_update(operator_id=link.operator_id, is_active=False)
    assert Contact.objects.get(pk=c.pk).operator_id == link.operator_id


def test_redistribute_requires_deactivation():
    op = OperatorFactory()
    with pytest.raises(DomainError, match="deactivating"):
        routing_config.operator_update(operator_id=op.pk, redistribute=True)


# --- the decision record --------------------------------------------------------------------


def test_decision_record_lists_candidates_and_exclusions(rng):
    source = SourceFactory()
    chosen = OperatorSourceFactory(source=source, operator=OperatorFactory(name="ok"), weight=7)
    OperatorSourceFactory(source=source, operator=OperatorFactory(name="off", is_active=False))
    OperatorSourceFactory(source=source, operator=OperatorFactory(name="pause"), weight=0)
    OperatorSourceFactory(source=source, operator=OperatorFactory(name="full", max_load=0))
    contact = contact_register(external_id="d", source_id=source.pk, rng=rng)
    record = Contact.objects.get(pk=contact.pk).assignment
    assert record["via"] == "intake" and record["strategy"] == "random" and record["affinity"] is None
    assert record["operator_id"] == chosen.operator_id and record["reason"] == ""
    by_name = {c["name"]: c for c in record["candidates"]}
    assert {n: c["excluded"] for n, c in by_name.items()} == {
        "ok": None,
        "off": "inactive",
        "pause": "paused",
        "full": "full",
    }
    assert by_name["ok"]["weight"] == 7 and by_name["ok"]["load"] == 0


def test_waiting_contact_record_gives_reason(rng):
    source = SourceFactory()
    contact = contact_register(external_id="w", source_id=source.pk, rng=rng)
    record = Contact.objects.get(pk=contact.pk).assignment
    assert record["operator_id"] is None and record["reason"] == "no_operators" and record["candidates"] == []
