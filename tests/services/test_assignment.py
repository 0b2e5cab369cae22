"""The choice itself: pure, deterministic with a seeded rng, checked with real statistics."""

import math
import random
from collections import Counter

import pytest

from crm.models import Contact
from crm.services.assignment import Candidate, choose_operator


def cand(op_id, weight=10, *, active=True, load=0, max_load=10):
    return Candidate(op_id, f"op{op_id}", weight, active, load, max_load)


def chi_square(observed: Counter, expected: dict[int, float]) -> float:
    return sum((observed[k] - e) ** 2 / e for k, e in expected.items())


def test_shares_follow_weights_chi_square():
    rng = random.Random(1)
    candidates = [cand(1, 10), cand(2, 30), cand(3, 60)]
    draws = 20_000
    counts = Counter(choose_operator(candidates, rng=rng).operator_id for _ in range(draws))
    expected = {1: draws * 0.1, 2: draws * 0.3, 3: draws * 0.6}
    # 2 degrees of freedom: the 99.9% quantile of chi-square is 13.82.
    assert chi_square(counts, expected) < 13.82
    assert set(counts) == {1, 2, 3}


def test_two_equal_weights_binomial_bound():
    rng = random.Random(2)
    draws = 10_000
    first = sum(choose_operator([cand(1, 5), cand(2, 5)], rng=rng).operator_id == 1 for _ in range(draws))
    # Within 4 standard deviations of n/2 (sd = sqrt(n)/2 = 50).
    assert abs(first - draws / 2) < 4 * math.sqrt(draws) / 2


def test_only_eligible_share_the_weight():
    rng = random.Random(3)
    candidates = [cand(1, 50, active=False), cand(2, 0), cand(3, 50, load=10), cand(4, 10), cand(5, 30)]
    draws = 8_000
    counts = Counter(choose_operator(candidates, rng=rng).operator_id for _ in range(draws))
    assert set(counts) == {4, 5}
    assert chi_square(counts, {4: draws * 0.25, 5: draws * 0.75}) < 10.83  # 1 dof, 99.9%


@pytest.mark.parametrize(
    ("candidates", "reason"),
    [
        ([], Contact.UnassignedReason.NO_OPERATORS),
        ([cand(1, active=False), cand(2, active=False)], Contact.UnassignedReason.ALL_INACTIVE),
        ([cand(1, 0), cand(2, 10, active=False)], Contact.UnassignedReason.ALL_PAUSED),
        ([cand(1, load=3, max_load=3), cand(2, 0), cand(3, max_load=0)], Contact.UnassignedReason.ALL_AT_CAPACITY),
    ],
)
def test_no_eligible_operator_gives_reason(candidates, reason):
    decision = choose_operator(candidates, rng=random.Random(0))
    assert decision.operator_id is None
    assert decision.reason == reason


def test_inactive_paused_and_full_are_never_chosen():
    rng = random.Random(4)
    candidates = [cand(1, 1000, active=False), cand(2, 0), cand(3, 1000, load=5, max_load=5), cand(4, 1)]
    assert {choose_operator(candidates, rng=rng).operator_id for _ in range(2_000)} == {4}


def test_seeded_rng_makes_choice_deterministic():
    candidates = [cand(1, 10), cand(2, 10), cand(3, 10)]
    seq_a = [choose_operator(candidates, rng=r).operator_id for r in [random.Random(9)] for _ in range(50)]
    seq_b = [choose_operator(candidates, rng=r).operator_id for r in [random.Random(9)] for _ in range(50)]
    assert seq_a == seq_b
