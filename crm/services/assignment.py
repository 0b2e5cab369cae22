"""Choosing an operator for a contact under weights and capacity. The locks live here.

Lock order, the same on every path so that no two transactions wait on each other in a
cycle: operator rows first, in ascending id; then contact rows. SQLite ignores
SELECT ... FOR UPDATE; there every transaction is IMMEDIATE (settings), which serialises
writers at BEGIN and gives the same guarantee.
"""

import random
from dataclasses import dataclass

from django.db.models import F

from crm.models import Contact, Operator, OperatorSource

# Shared by default; callers (tests, simulations) inject a seeded one for determinism.
_default_rng = random.SystemRandom()


@dataclass(frozen=True)
class Candidate:
    operator_id: int
    name: str
    weight: int
    is_active: bool
    load: int
    max_load: int

    @property
    def exclusion(self) -> str | None:
        """Why this operator cannot take a contact now, or None when it can."""
        if not self.is_active:
            return "inactive"
        if self.weight <= 0:
            return "paused"
        if self.load >= self.max_load:
            return "full"
        return None


@dataclass(frozen=True)
class Decision:
    operator_id: int | None
    reason: str  # "" when assigned, else a Contact.UnassignedReason value
    candidates: tuple[Candidate, ...]


def lock_source_candidates(*, source_id: int) -> list[Candidate]:
    """Lock the operators linked to a source and return them with weight and load.

    Must run inside transaction.atomic(). FOR NO KEY UPDATE on the operator rows (not on the
    links) serialises every transaction that may change these operators' load, so the load
    read here stays true until commit; NO KEY lets unrelated inserts that merely reference
    an operator (a new link, say) go on. Ordered by operator id: the global lock order.
    """
    links = (
        OperatorSource.objects.filter(source_id=source_id)
        .select_related("operator")
        .select_for_update(of=("operator",), no_key=True)
        .order_by("operator_id")
    )
    return [
        Candidate(
            operator_id=link.operator_id,
            name=link.operator.name,
            weight=link.weight,
            is_active=link.operator.is_active,
            load=link.operator.open_load,
            max_load=link.operator.max_load,
        )
        for link in links
    ]


def choose_operator(candidates: list[Candidate], *, rng: random.Random | None = None) -> Decision:
    """Pick one eligible candidate with probability weight / sum(weights), or say why none.

    Pure: no database access, so it is tested directly and reused by simulations.
    """
    rng = rng or _default_rng
    frozen = tuple(candidates)
    if not candidates:
        return Decision(None, Contact.UnassignedReason.NO_OPERATORS, frozen)
    active = [c for c in candidates if c.is_active]
    if not active:
        return Decision(None, Contact.UnassignedReason.ALL_INACTIVE, frozen)
    weighted = [c for c in active if c.weight > 0]
    if not weighted:
        return Decision(None, Contact.UnassignedReason.ALL_PAUSED, frozen)
    eligible = [c for c in weighted if c.load < c.max_load]
    if not eligible:
        return Decision(None, Contact.UnassignedReason.ALL_AT_CAPACITY, frozen)
    chosen = rng.choices(eligible, weights=[c.weight for c in eligible])[0]
    return Decision(chosen.operator_id, "", frozen)


def operator_load_add(*, operator_id: int, delta: int) -> None:
    """Move an operator's stored open load. Callers hold the operator's row lock; the
    database's CHECK (0 <= open_load <= max_load) is the last line of defence."""
    Operator.objects.filter(pk=operator_id).update(open_load=F("open_load") + delta)
