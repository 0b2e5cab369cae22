"""How a source chooses and what it records: the smooth round (every operator within one
contact of his share at every step), lead affinity, and the decision record stored on the
contact."""

import random
from fractions import Fraction

import pytest

from crm.models import Contact, OperatorSource, Source
from crm.services import routing_config
from crm.services.assignment import Candidate, choose_operator
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


# --- the smooth strategy ----------------------------------------------------------------------


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


# --- affinity ---------------------------------------------------------------------------------


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


# --- the decision record ----------------------------------------------------------------------


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
