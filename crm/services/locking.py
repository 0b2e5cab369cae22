"""Locks for routing decisions: every write that changes who holds a contact, an operator's
load or a source's weights goes through `routing_locked`.

Lock order, the same on every path so that no two transactions wait on each other in a
cycle: operator rows first, in ascending id, in one statement (or one operator row alone:
the intake's claim, crm.services.intake_claim, the only operator lock its transaction
takes); then contact rows. SQLite
ignores SELECT ... FOR UPDATE; there every transaction is IMMEDIATE (settings), which
serialises writers at BEGIN and gives the same guarantee.

A `RoutingContext` holds the operators locked by one transaction, their links to the
sources at hand, and the load and smooth-round changes to write back before commit. Only
operators it has locked are ever offered as candidates: a link created by a concurrent
transaction after our lock may be visible to a later read, but its operator is not ours to
load, so it is ignored until the next decision.

`routing_locked` is the one way in (as pretix's `lock_objects`): it refuses to run outside
`transaction.atomic()` (a lock released at the end of its statement protects nothing) and
writes the pending load and smooth-round changes back when its block ends without an
exception, so no caller has to remember to.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q
from django.utils import timezone

from crm.compiled import ID_MARKER, CompiledQuery, compiled
from crm.metrics import Stopwatch, lock_hold_observed
from crm.models import Contact, Operator, OperatorSource, Source
from crm.services.assignment import Candidate, Decision, choose_operator


class LockOutsideTransactionError(RuntimeError):
    """A routing lock was asked for outside transaction.atomic(): a programming error."""


@dataclass
class RoutingContext:
    """Operators locked by the current transaction and what we change on them."""

    operators: dict[int, Operator]
    links: dict[int, list[OperatorSource]]  # source id -> links, by operator id
    sources: dict[int, Source]
    load_delta: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    smooth_delta: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # Sources locked because a `serving` operator serves them (see routing_locked).
    served: list[int] = field(default_factory=list)
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
        links = compiled("intake_lock", _intake_lock_query).objects(source_id=source_id)
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
        links = [
            link
            for link in compiled("source_links", _source_links_query).objects(source_id=source_id)
            if link.operator_id in self.operators
        ]
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
            Candidate.from_link(
                link,
                load=self.load(link.operator_id),
                smooth_count=link.smooth_count + self.smooth_delta[link.pk],
                now=self.now,
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

    def _flush(self) -> None:
        """Write the load and smooth-round changes (deltas added in SQL, one UPDATE per
        changed row). The CHECK 0 <= open_load <= max_load guards every write."""
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            for operator_id, delta in self.load_delta.items():
                if delta:
                    cursor.execute(_add_sql(Operator, "open_load"), [delta, operator_id])
                    self.operators[operator_id].open_load += delta
            for link_id, delta in self.smooth_delta.items():
                if delta:
                    cursor.execute(_add_sql(OperatorSource, "smooth_count"), [delta, link_id])
        self.load_delta.clear()
        self.smooth_delta.clear()


def _intake_lock_query() -> CompiledQuery:
    """The intake's lock statement (RoutingContext.lock_for_source), compiled once per
    connection: its compilation was a fifth of the intake's CPU."""
    return CompiledQuery(
        OperatorSource.objects.filter(source_id=ID_MARKER)
        .select_related("operator", "source")
        .select_for_update(of=("operator",), no_key=True)
        .order_by("operator_id"),
        source_id=ID_MARKER,
    )


def _source_links_query() -> CompiledQuery:
    """A source's links by operator id (RoutingContext.refresh_links), compiled once."""
    return CompiledQuery(
        OperatorSource.objects.filter(source_id=ID_MARKER).order_by("operator_id"), source_id=ID_MARKER
    )


def _add_sql(model, column: str) -> str:
    """UPDATE model SET column = column + %s WHERE pk = %s, for this connection's database."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table, column = quote(model._meta.db_table), quote(model._meta.get_field(column).column)
    return f"UPDATE {table} SET {column} = {column} + %s WHERE {quote(model._meta.pk.column)} = %s"


def sources_served_by(operator_id: int) -> list[int]:
    """Sources an operator is linked to: where his freed capacity can be used."""
    return list(OperatorSource.objects.filter(operator_id=operator_id).values_list("source_id", flat=True))


def _lock_serving(
    *,
    operator_ids: Iterable[int | None],
    source_ids: Iterable[int] = (),
    extra_operator_ids: Iterable[int | None] = (),
    covering: bool = False,
) -> RoutingContext:
    """Lock `operator_ids`, every source they serve (plus `source_ids`) and those sources'
    operators (plus `extra_operator_ids`); the context lists the sources in `served`.

    The sources are read before the lock, so a link created in between would leave its
    source out. Read them again once locked: if the set grew, roll back to a savepoint
    (which releases the row locks taken after it) and lock the larger set, so the global
    lock order still holds.

    `covering`: later routing locks of this transaction rely on this one (an admin save
    that calls several services, a new link's drain). The lock statement reads the sources'
    links in the snapshot it started with, so a link committed while it waited for a row
    brings an operator it did not lock, and a later lock would take that operator after
    higher ids: out of order, a possible deadlock. So read the links again once locked
    (a new snapshot: every link committed before our locks were granted) and widen the
    same way. Once this returns, no link of these sources can commit before we do (its
    writer needs our locks), so the later locks take nothing new."""
    operator_ids = [op for op in operator_ids if op is not None]
    extra = {op for op in extra_operator_ids if op is not None}
    wanted = set(source_ids)
    while True:
        served = sorted(wanted.union(*(sources_served_by(op) for op in operator_ids)))
        savepoint = transaction.savepoint()
        ctx = RoutingContext.lock(source_ids=served, operator_ids=[*operator_ids, *extra])
        now_served = wanted.union(*(sources_served_by(op) for op in operator_ids))
        missed = set()
        if covering:
            missed = set(
                OperatorSource.objects.filter(source_id__in=served)
                .exclude(operator_id__in=list(ctx.operators))
                .values_list("operator_id", flat=True)
            )
        if now_served <= set(served) and not missed:
            transaction.savepoint_commit(savepoint)
            ctx.served = served
            return ctx
        transaction.savepoint_rollback(savepoint)
        wanted |= now_served
        extra |= missed


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


@contextmanager
def routing_locked(
    *,
    source_ids: Iterable[int] = (),
    operator_ids: Iterable[int | None] = (),
    serving: Iterable[int | None] = (),
    intake_source_id: int | None = None,
    covering: bool = False,
) -> Iterator[RoutingContext]:
    """Lock the operators a routing decision needs and yield their RoutingContext; write its
    pending load and smooth-round changes when the block ends without an exception (on an
    exception the transaction rolls back, and there is nothing to write).

    - `source_ids`, `operator_ids`: the operators linked to these sources, plus these.
    - `serving`: operators whose freed room may go to any source they serve: every such
      source is locked too, with its operators; `ctx.served` lists the sources locked
      (`source_ids` included). None entries are ignored.
    - `intake_source_id` (alone): the intake's one-statement lock; an unknown source gives
      a context whose `sources` lacks it.
    - `covering`: later routing locks of the same transaction rely on this one to have
      locked every operator they will lock (an admin save, a new link's drain): links
      committed while it waited are re-read once it holds its locks (see _lock_serving).

    Raises LockOutsideTransactionError outside transaction.atomic()."""
    if not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        raise LockOutsideTransactionError("routing_locked() must run inside transaction.atomic().")
    serving = list(serving)
    watch = Stopwatch()
    if intake_source_id is not None:
        ctx = RoutingContext.lock_for_source(intake_source_id)
        if ctx is None:
            ctx = RoutingContext(operators={}, links={}, sources={})
    elif serving or covering:
        ctx = _lock_serving(
            operator_ids=serving, source_ids=source_ids, extra_operator_ids=operator_ids, covering=covering
        )
    else:
        ctx = RoutingContext.lock(source_ids=source_ids, operator_ids=operator_ids)
    yield ctx
    ctx._flush()
    # The hold time ends when the locks go, at the commit of the outermost transaction (never
    # observed for one that rolls back).
    kind = "intake" if intake_source_id is not None else "other"
    transaction.on_commit(lambda: lock_hold_observed(kind=kind, seconds=watch.seconds))
