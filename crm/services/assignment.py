"""The assignment rule: choose an operator under weights and capacity, and say why.

Pure: no database access. The locks that make a decision safe to write live in
crm.services.locking; the read-only simulation (crm.selectors.routing_simulate) runs the
same choice on an in-memory copy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from crm.models import (
    AffinityOutcome,
    AssignmentVia,
    DecisionStrategy,
    Exclusion,
    Operator,
    OperatorAvailability,
    OperatorSource,
    Source,
    UnassignedReason,
)

# Shared by default; callers (tests, simulations) inject a seeded one for determinism.
_default_rng = random.SystemRandom()

Reason = UnassignedReason
Availability = OperatorAvailability


def availability_now(operator: Operator, *, now: datetime) -> str:
    """The availability routing uses: what the operator said, except that one with a login
    and no activity for OPERATOR_AWAY_AFTER is away (computed here, so no job has to run)."""
    if (
        operator.availability == Availability.ONLINE
        and operator.user_id is not None
        and (operator.last_seen_at is None or operator.last_seen_at < now - settings.OPERATOR_AWAY_AFTER)
    ):
        return Availability.AWAY
    return operator.availability


def available_now_q(*, now: datetime, prefix: str = "") -> Q:
    """The same rule as availability_now, as a filter on operators (lists and counts)."""
    return Q(**{f"{prefix}availability": Availability.ONLINE}) & (
        Q(**{f"{prefix}user__isnull": True}) | Q(**{f"{prefix}last_seen_at__gte": now - settings.OPERATOR_AWAY_AFTER})
    )


@dataclass(frozen=True)
class Candidate:
    operator_id: int
    name: str
    weight: int
    is_active: bool
    load: int
    max_load: int
    smooth_count: int = 0
    availability: str = Availability.ONLINE  # as routing sees it (see availability_now)

    @classmethod
    def from_link(
        cls,
        link: OperatorSource,
        *,
        load: int | None = None,
        smooth_count: int | None = None,
        now: datetime | None = None,
    ) -> Candidate:
        """The candidate a link (with its operator loaded) offers; `load` and `smooth_count`
        default to the stored ones (a locking caller passes them with its pending changes),
        availability is as of `now` (default: this instant)."""
        operator = link.operator
        return cls(
            operator_id=link.operator_id,
            name=operator.name,
            weight=link.weight,
            is_active=operator.is_active,
            load=operator.open_load if load is None else load,
            max_load=operator.max_load,
            smooth_count=link.smooth_count if smooth_count is None else smooth_count,
            availability=availability_now(operator, now=now or timezone.now()),
        )

    @property
    def manual_exclusion(self) -> Exclusion | None:
        """Why staff may not hand a contact to this operator by hand, or None when they may:
        he must be active and have room; any weight and availability will do (staff may give
        work to a paused or away operator). The reassign service and the admin's choice of
        operators both ask this."""
        if not self.is_active:
            return Exclusion.INACTIVE
        if self.load >= self.max_load:
            return Exclusion.FULL
        return None

    @property
    def exclusion(self) -> Exclusion | None:
        """Why this operator cannot take a contact now, or None when it can."""
        if not self.is_active:
            return Exclusion.INACTIVE
        if self.weight <= 0:
            return Exclusion.PAUSED
        if self.availability != Availability.ONLINE:
            return Exclusion(str(self.availability))  # away or offline
        if self.load >= self.max_load:
            return Exclusion.FULL
        return None


@dataclass(frozen=True)
class Decision:
    operator_id: int | None
    reason: str  # "" when assigned, else an UnassignedReason value
    candidates: tuple[Candidate, ...]
    strategy: str = DecisionStrategy.RANDOM  # a DecisionStrategy value
    # None: affinity off for the source; else an AffinityOutcome: NO_HISTORY (first contact of
    # the lead here), HIT (the lead's last operator took it), MISS (he could not; see his exclusion).
    affinity: AffinityOutcome | None = None
    affinity_operator_id: int | None = None
    excluded_operator_id: int | None = None  # "anyone but the current one" (reassignment)

    def record(self, *, via: AssignmentVia) -> dict:
        """The compact, JSON-ready explanation stored on the contact (its words: the
        TextChoices in crm.models)."""

        def why(c: Candidate) -> str | None:
            if c.operator_id == self.excluded_operator_id:
                return Exclusion.CURRENT
            return c.exclusion

        return {
            "via": via,
            "at": timezone.now().isoformat(),
            "strategy": self.strategy,
            "affinity": self.affinity,
            "affinity_operator_id": self.affinity_operator_id,
            "operator_id": self.operator_id,
            "reason": self.reason,
            "candidates": [
                {
                    "operator_id": c.operator_id,
                    "name": c.name,
                    "weight": c.weight,
                    "load": c.load,
                    "max_load": c.max_load,
                    "excluded": why(c),
                }
                for c in self.candidates
            ],
        }


def _unassigned_reason(candidates: list[Candidate]) -> str:
    if not candidates:
        return Reason.NO_OPERATORS
    active = [c for c in candidates if c.is_active]
    if not active:
        return Reason.ALL_INACTIVE
    weighted = [c for c in active if c.weight > 0]
    if not weighted:
        return Reason.ALL_PAUSED
    if any(c.load < c.max_load for c in weighted):
        # Someone would have room: nothing but availability stands in the way.
        return Reason.NOBODY_ONLINE
    return Reason.ALL_AT_CAPACITY


def _smooth_pick(eligible: list[Candidate]) -> Candidate:
    """Balinski–Young quota method: the next contact goes to the operator with the highest
    weight / (count + 1) among those who would not exceed their upper quota
    ceil(k * weight / W). After every contact each count stays within one of its exact
    share k * weight / W — a property nginx's smooth weighted round-robin lacks by a hair
    (we measured 1.015 for weights 427/10/366/3/9). Ties go to the lowest operator id."""
    total_weight = sum(c.weight for c in eligible)
    k = sum(c.smooth_count for c in eligible) + 1
    within_quota = [c for c in eligible if (c.smooth_count + 1) * total_weight <= k * c.weight + total_weight - 1]
    pool = within_quota or eligible  # empty only after a skip broke the round; any is fair then
    return max(pool, key=lambda c: (Fraction(c.weight, c.smooth_count + 1), -c.operator_id))


def choose_operator(
    candidates: list[Candidate],
    *,
    strategy: str = Source.Strategy.RANDOM,
    rng: random.Random | None = None,
    affinity_operator_id: int | None = None,
    affinity_enabled: bool = False,
    exclude_operator_id: int | None = None,
) -> Decision:
    """Pick one eligible candidate (active, weight > 0, online, under capacity), or say why none.

    "random": probability weight / sum(weights). "smooth": deterministic, see _smooth_pick.
    With affinity on, the lead's previous operator wins when he is eligible (so only when he
    is online; otherwise the record says "miss" with his exclusion, and the normal rule applies).
    Pure: no database access, so it is tested directly and reused by the simulation.
    """
    rng = rng or _default_rng
    frozen = tuple(candidates)
    pool = [c for c in candidates if c.operator_id != exclude_operator_id]
    eligible = [c for c in pool if c.exclusion is None]
    common = {"candidates": frozen, "strategy": strategy, "excluded_operator_id": exclude_operator_id}

    affinity = None
    if affinity_enabled:
        affinity = AffinityOutcome.NO_HISTORY if affinity_operator_id is None else AffinityOutcome.MISS
        common["affinity_operator_id"] = affinity_operator_id
        previous = next((c for c in eligible if c.operator_id == affinity_operator_id), None)
        if previous is not None:
            return Decision(previous.operator_id, "", affinity=AffinityOutcome.HIT, **common)
    if not eligible:
        return Decision(None, _unassigned_reason(pool), affinity=affinity, **common)
    if strategy == Source.Strategy.SMOOTH:
        chosen = _smooth_pick(eligible)
    else:
        chosen = rng.choices(eligible, weights=[c.weight for c in eligible])[0]
    return Decision(chosen.operator_id, "", affinity=affinity, **common)
