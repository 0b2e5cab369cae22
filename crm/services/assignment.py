"""Choosing operators under weights and capacity, and the locks that make it safe.

Lock order, the same on every path so that no two transactions wait on each other in a
cycle: operator rows first, in ascending id, in one statement; then contact rows. SQLite
ignores SELECT ... FOR UPDATE; there every transaction is IMMEDIATE (settings), which
serialises writers at BEGIN and gives the same guarantee.

A `RoutingContext` holds the operators locked by one transaction, their links to the
sources at hand, and the load and smooth-round changes to write back before commit. Only
operators it has locked are ever offered as candidates: a link created by a concurrent
transaction after our lock may be visible to a later read, but its operator is not ours to
load, so it is ignored until the next decision.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.models import Contact, Operator, OperatorSource, Source

# Shared by default; callers (tests, simulations) inject a seeded one for determinism.
_default_rng = random.SystemRandom()

Reason = Contact.UnassignedReason
Availability = Operator.Availability


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

    @property
    def exclusion(self) -> str | None:
        """Why this operator cannot take a contact now, or None when it can."""
        if not self.is_active:
            return "inactive"
        if self.weight <= 0:
            return "paused"
        if self.availability != Availability.ONLINE:
            return str(self.availability)  # "away" or "offline"
        if self.load >= self.max_load:
            return "full"
        return None


@dataclass(frozen=True)
class Decision:
    operator_id: int | None
    reason: str  # "" when assigned, else a Contact.UnassignedReason value
    candidates: tuple[Candidate, ...]
    strategy: str = Source.Strategy.RANDOM
    # None: affinity off for the source; "no_history": first contact of the lead here;
    # "hit": the lead's last operator took it; "miss": he could not (see his exclusion).
    affinity: str | None = None
    affinity_operator_id: int | None = None
    excluded_operator_id: int | None = None  # "anyone but the current one" (reassignment)

    def record(self, *, via: str) -> dict:
        """The compact, JSON-ready explanation stored on the contact."""

        def why(c: Candidate) -> str | None:
            if c.operator_id == self.excluded_operator_id:
                return "current"
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
    is online; otherwise the record says "miss" and his exclusion, and the normal rule applies).
    Pure: no database access, so it is tested directly and reused by the simulation.
    """
    rng = rng or _default_rng
    frozen = tuple(candidates)
    pool = [c for c in candidates if c.operator_id != exclude_operator_id]
    eligible = [c for c in pool if c.exclusion is None]
    common = {"candidates": frozen, "strategy": strategy, "excluded_operator_id": exclude_operator_id}

    affinity = None
    if affinity_enabled:
        affinity = "no_history" if affinity_operator_id is None else "miss"
        common["affinity_operator_id"] = affinity_operator_id
        previous = next((c for c in eligible if c.operator_id == affinity_operator_id), None)
        if previous is not None:
            return Decision(previous.operator_id, "", affinity="hit", **common)
    if not eligible:
        return Decision(None, _unassigned_reason(pool), affinity=affinity, **common)
    if strategy == Source.Strategy.SMOOTH:
        chosen = _smooth_pick(eligible)
    else:
        chosen = rng.choices(eligible, weights=[c.weight for c in eligible])[0]
    return Decision(chosen.operator_id, "", affinity=affinity, **common)


@dataclass
class RoutingContext:
    """Operators locked by the current transaction and what we change on them."""

    operators: dict[int, Operator]
    links: dict[int, list[OperatorSource]]  # source id -> links, by operator id
    sources: dict[int, Source]
    load_delta: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    smooth_delta: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # For auto-away: one instant per context (looked up at call time, so tests can move the clock).
    now: datetime = field(default_factory=lambda: timezone.now())

    @classmethod
    def lock_for_source(cls, source_id: int) -> RoutingContext | None:
        """The intake's one-statement lock: the source's links joined with their operators
        and the source, locking the operator rows (FOR NO KEY UPDATE OF operator: it
        serialises everything that changes these operators' load, while inserts that merely
        reference an operator go on). A locked row that changed while we waited comes back
        in its new version; the links do not: they are read from the snapshot taken before
        the wait. Loads are what the capacity rule needs, so they are always fresh; where
        the links matter, the intake calls `refresh_links` (see contact_register).
        None when the source does not exist."""
        links = list(
            OperatorSource.objects.filter(source_id=source_id)
            .select_related("operator", "source")
            .select_for_update(of=("operator",), no_key=True)
            .order_by("operator_id")
        )
        if links:
            source = links[0].source
        else:
            source = Source.objects.filter(pk=source_id).first()
            if source is None:
                return None
        return cls(
            operators={link.operator_id: link.operator for link in links},
            links={source_id: links},
            sources={source_id: source},
        )

    def refresh_links(self, source_id: int) -> None:
        """Read the source's links again, after the lock: every writer of a link holds the
        source's operator locks, so this read sees the weights and smooth counts the last
        lock holder left. Links of operators we have not locked (created meanwhile) stay out."""
        links = list(
            OperatorSource.objects.filter(source_id=source_id, operator_id__in=list(self.operators)).order_by(
                "operator_id"
            )
        )
        for link in links:
            link.operator = self.operators[link.operator_id]
        self.links[source_id] = links

    @classmethod
    def lock(cls, *, source_ids: Iterable[int], operator_ids: Iterable[int] = ()) -> RoutingContext:
        """Lock the operators linked to `source_ids` plus `operator_ids`, in one statement
        ordered by id (the global lock order), then read the links and sources."""
        source_ids = sorted(set(source_ids))
        operator_ids = sorted({op for op in operator_ids if op is not None})
        condition = Q(pk__in=OperatorSource.objects.filter(source_id__in=source_ids).values("operator_id"))
        if operator_ids:
            condition |= Q(pk__in=operator_ids)
        operators = {
            op.pk: op for op in Operator.objects.filter(condition).order_by("id").select_for_update(no_key=True)
        }
        links: dict[int, list[OperatorSource]] = {sid: [] for sid in source_ids}
        for link in OperatorSource.objects.filter(source_id__in=source_ids, operator_id__in=list(operators)).order_by(
            "operator_id"
        ):
            link.operator = operators[link.operator_id]
            links[link.source_id].append(link)
        return cls(operators=operators, links=links, sources=Source.objects.in_bulk(source_ids))

    def load(self, operator_id: int) -> int:
        return self.operators[operator_id].open_load + self.load_delta[operator_id]

    def candidates(self, source_id: int) -> list[Candidate]:
        return [
            Candidate(
                operator_id=link.operator_id,
                name=link.operator.name,
                weight=link.weight,
                is_active=link.operator.is_active,
                load=self.load(link.operator_id),
                max_load=link.operator.max_load,
                smooth_count=link.smooth_count + self.smooth_delta[link.pk],
                availability=availability_now(link.operator, now=self.now),
            )
            for link in self.links.get(source_id, [])
        ]

    def free_room(self, source_id: int) -> int:
        return sum(c.max_load - c.load for c in self.candidates(source_id) if c.exclusion is None)

    def decide(
        self,
        source_id: int,
        *,
        rng: random.Random | None = None,
        lead_id: int | None = None,
        exclude_operator_id: int | None = None,
    ) -> Decision:
        """Choose for a contact of `source_id` (of lead `lead_id`, for affinity)."""
        source = self.sources[source_id]
        previous = None
        if source.affinity and lead_id is not None:
            # Index crm_contact_lead_idx: the lead's contacts, newest first.
            previous = (
                Contact.objects.filter(lead_id=lead_id, source_id=source_id, operator__isnull=False)
                .order_by("-id")
                .values_list("operator_id", flat=True)
                .first()
            )
        return choose_operator(
            self.candidates(source_id),
            strategy=source.strategy,
            rng=rng,
            affinity_enabled=source.affinity,
            affinity_operator_id=previous,
            exclude_operator_id=exclude_operator_id,
        )

    def take(self, source_id: int, operator_id: int) -> None:
        """Count one more open contact on `operator_id`, received through `source_id`."""
        self.load_delta[operator_id] += 1
        if self.sources[source_id].strategy == Source.Strategy.SMOOTH:
            link = next((lk for lk in self.links[source_id] if lk.operator_id == operator_id), None)
            if link is not None:
                self.smooth_delta[link.pk] += 1

    def release(self, operator_id: int) -> None:
        self.load_delta[operator_id] -= 1

    def flush(self) -> None:
        """Write the load and smooth-round changes (deltas: F() expressions, one UPDATE per
        changed row). The CHECK 0 <= open_load <= max_load guards every write."""
        for operator_id, delta in self.load_delta.items():
            if delta:
                Operator.objects.filter(pk=operator_id).update(open_load=F("open_load") + delta)
                self.operators[operator_id].open_load += delta
        for link_id, delta in self.smooth_delta.items():
            if delta:
                OperatorSource.objects.filter(pk=link_id).update(smooth_count=F("smooth_count") + delta)
        self.load_delta.clear()
        self.smooth_delta.clear()


def sources_served_by(operator_id: int) -> list[int]:
    """Sources an operator is linked to: where his freed capacity can be used."""
    return list(OperatorSource.objects.filter(operator_id=operator_id).values_list("source_id", flat=True))


def lock_serving(
    *, operator_ids: Iterable[int | None], source_ids: Iterable[int] = (), extra_operator_ids: Iterable[int | None] = ()
) -> tuple[RoutingContext, list[int]]:
    """Lock `operator_ids`, every source they serve (plus `source_ids`) and those sources'
    operators (plus `extra_operator_ids`); return the context and the sources.

    The sources are read before the lock, so a link created in between would leave its
    source out. Read them again once locked: if the set grew, roll back to a savepoint
    (which releases the row locks taken after it) and lock the larger set, so the global
    lock order still holds. Must run inside transaction.atomic()."""
    operator_ids = [op for op in operator_ids if op is not None]
    wanted = set(source_ids)
    while True:
        served = sorted(wanted.union(*(sources_served_by(op) for op in operator_ids)))
        savepoint = transaction.savepoint()
        ctx = RoutingContext.lock(source_ids=served, operator_ids=[*operator_ids, *extra_operator_ids])
        now_served = wanted.union(*(sources_served_by(op) for op in operator_ids))
        if now_served <= set(served):
            transaction.savepoint_commit(savepoint)
            return ctx, served
        transaction.savepoint_rollback(savepoint)
        wanted |= now_served


def smooth_round_restart(*, source_ids: Iterable[int], ctx: RoutingContext | None = None) -> None:
    """Start a new smooth round on these sources (weights or operators changed). Callers
    hold the operator locks of the sources, which is what serialises link writes."""
    source_ids = list(source_ids)
    OperatorSource.objects.filter(source_id__in=source_ids, smooth_count__gt=0).update(smooth_count=0)
    if ctx is not None:
        for source_id in source_ids:
            for link in ctx.links.get(source_id, []):
                link.smooth_count = 0
                ctx.smooth_delta.pop(link.pk, None)
