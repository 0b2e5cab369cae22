"""The waiting queue: contacts without an operator, handed out oldest first as soon as
someone can take them.

Work per request is bounded: a change that frees room assigns at most one batch
(QUEUE_DRAIN_BATCH contacts, one UPDATE each) under the locks it holds anyway, and leaves
the rest to the background worker (crm.tasks.queue_drain_source), which drains in batches
of the same size, each its own transaction, oldest first, until the room or the queue is
used up. The minute sweep (crm.tasks.queue_sweep) re-starts a drain wherever waiting
contacts and room coexist, so a lost job delays the queue and never strands it.
"""

import random
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from crm.models import AssignmentVia, Contact, OperatorSource
from crm.services.assignment import available_now_q
from crm.services.events import assignment_event, events_record
from crm.services.locking import RoutingContext, routing_locked

# The first key of the background batches' advisory locks (PostgreSQL), (DRAIN_LOCK_KEY,
# source id): an arbitrary constant, "drn" in hex-ish.
DRAIN_LOCK_KEY = 0x64726E


def queue_drain(
    *,
    source_ids: Iterable[int],
    ctx: RoutingContext | None = None,
    rng: random.Random | None = None,
    limit: int | None = None,
    actor=None,
    solo: bool = False,
) -> int:
    """Assign the waiting contacts of `source_ids`, oldest first, the way new contacts are
    assigned (weights, strategy, affinity, capacity), until nobody eligible has room or
    `limit` contacts are assigned (a bounded batch). Returns how many were assigned.

    Called inside the transaction that freed capacity, with its RoutingContext (whose locks
    cover these sources' operators; its owner writes the changes back), or on its own, when
    it opens a transaction and takes the locks itself. The contacts of a pass are locked
    (after the operators: the global order) and re-checked as still waiting, so a concurrent
    close or a second drain never double-assigns; then one UPDATE assigns the whole pass, so
    the locks are held for a few statements per batch, not one per contact. Each assignment
    is recorded as a `contact.assigned` event (via queue), all in one INSERT at the end;
    `actor` is whoever freed the room (None: the system).

    `solo` (the background's batches, on their own transaction): if a background batch of
    one of these sources is in progress, assign nothing and return 0, so that a second
    chain of drain jobs (the minute sweep's, or a request's, started while one runs) ends
    here instead of doubling the lock traffic an intake on the source waits behind; the
    batch in progress goes on with its own chain. PostgreSQL: a transaction-level advisory
    lock per source, tried (never waited for) before the operator locks and held to the
    commit, so a change that freed room either committed before that batch's operator
    locks (the batch sees it) or after its commit (the next job takes the lock). SQLite
    runs one writer at a time anyway: there two chains alternate, and nothing is skipped.
    """
    source_ids = sorted(set(source_ids))
    if not source_ids:
        return 0
    locks = routing_locked(source_ids=source_ids) if ctx is None else nullcontext(ctx)
    with transaction.atomic():
        if solo and ctx is None and not _background_batch_try_lock(source_ids):
            return 0
        with locks as ctx:
            return _drain_passes(ctx, source_ids=source_ids, rng=rng, limit=limit, actor=actor)


def _background_batch_try_lock(source_ids: list[int]) -> bool:
    """Take the background-batch lock of every source, without waiting (see queue_drain)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        for source_id in source_ids:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [DRAIN_LOCK_KEY, source_id])
            if not cursor.fetchone()[0]:
                return False
    return True


def _drain_passes(
    ctx: RoutingContext, *, source_ids: list[int], rng: random.Random | None, limit: int | None, actor
) -> int:
    """queue_drain's work, under the locks of `ctx`."""
    # Waiting contacts read after the locks: a contact that waits because these
    # operators were full was committed before we got them, so we see it here. A pass
    # takes at most the free room of each source; if some contact was closed or taken
    # meanwhile (it is no longer waiting once locked), the room it held is offered to the
    # next ones in another pass.
    assigned = 0
    events = []
    while True:
        pending: list[tuple[int, int, int]] = []
        for source_id in source_ids:
            room = ctx.free_room(source_id)
            if limit is not None:
                room = min(room, limit - assigned - len(pending))
            if room <= 0:
                continue
            # Index crm_contact_waiting_idx: open, no operator, by source, oldest first.
            pending.extend(
                Contact.objects.waiting()
                .filter(source_id=source_id)
                .order_by("id")
                .values_list("id", "source_id", "lead_id")[:room]
            )
        if not pending:
            break
        pending.sort()
        # Lock the pass's contacts, in id order, keeping those still waiting (PostgreSQL
        # re-checks the condition on the row it waited for; SQLite has one writer anyway).
        still_waiting = set(
            Contact.objects.waiting()
            .filter(pk__in=[contact_id for contact_id, _, _ in pending])
            .order_by("id")
            .select_for_update()
            .values_list("id", flat=True)
        )
        missed = len(pending) - len(still_waiting)
        batch: list[tuple[int, int, dict]] = []
        leads_in_batch: set[tuple[int, int]] = set()
        for contact_id, source_id, lead_id in pending:
            if contact_id not in still_waiting:
                continue
            if ctx.sources[source_id].affinity and (lead_id, source_id) in leads_in_batch:
                # Affinity reads the lead's last operator from the table: write first.
                _assign_batch(batch)
                batch, leads_in_batch = [], set()
            decision = ctx.decide(source_id, rng=rng, lead_id=lead_id)
            if decision.operator_id is None:
                continue
            batch.append((contact_id, decision.operator_id, decision.record(via=AssignmentVia.QUEUE)))
            leads_in_batch.add((lead_id, source_id))
            ctx.take(source_id, decision.operator_id)
            assigned += 1
            events.append(
                assignment_event(
                    contact_id=contact_id,
                    source_id=source_id,
                    decision=decision,
                    via=AssignmentVia.QUEUE,
                    actor=actor,
                )
            )
        _assign_batch(batch)
        if not missed or (limit is not None and assigned >= limit):
            break
    events_record(events)
    return assigned


def _assign_batch(batch: list[tuple[int, int, dict]]) -> None:
    """One UPDATE for (contact id, operator id, decision record) rows, all locked by us: the
    batch joined as a table of values. Built as text, because the ORM's form of it (a
    Case/When per column with a When per contact) resolves two expressions per contact
    through the query compiler: measured at about half of a batch's lock hold
    (bench/drain_profile.py, docs/performance.md)."""
    if not batch:
        return
    table = connection.ops.quote_name(Contact._meta.db_table)
    record_field = Contact._meta.get_field("assignment")
    params: list = []
    for contact_id, operator_id, record in batch:
        # The JSON value as the field itself writes it (a jsonb parameter on PostgreSQL, text
        # on SQLite).
        params += [contact_id, operator_id, record_field.get_db_prep_save(record, connection)]
    values = ", ".join(["(%s, %s, %s)"] * len(batch))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH batch (id, operator_id, assignment) AS (VALUES {values}) "
            f"UPDATE {table} SET operator_id = batch.operator_id, unassigned_reason = '', "
            f"assignment = batch.assignment FROM batch WHERE {table}.id = batch.id",
            params,
        )


def queue_drain_bounded(
    *, source_ids: Iterable[int], ctx: RoutingContext, rng: random.Random | None = None, actor=None
) -> int:
    """For a request that freed room: assign at most one batch now, under its locks (`ctx`),
    and if the batch was full, leave the rest to the background worker once the request's
    transaction commits. Returns how many were assigned now."""
    source_ids = sorted(set(source_ids))
    batch = settings.QUEUE_DRAIN_BATCH
    assigned = queue_drain(source_ids=source_ids, ctx=ctx, rng=rng, limit=batch, actor=actor)
    if assigned >= batch:
        queue_drain_later(source_ids=source_ids)
    return assigned


def queue_drain_later(*, source_ids: Iterable[int]) -> None:
    """Have the background worker drain these sources, once the current transaction commits
    (a rolled-back change freed no room; the worker must see the committed change)."""
    from crm.tasks import queue_drain_source  # the task module imports this one

    for source_id in sorted(set(source_ids)):
        transaction.on_commit(partial(queue_drain_source, source_id))


def waiting_source_ids() -> list[int]:
    """Sources that have waiting contacts now."""
    return list(Contact.objects.waiting().order_by("source_id").values_list("source_id", flat=True).distinct())


def queue_drain_all(*, rng: random.Random | None = None) -> list[tuple[int, int, int]]:
    """Drain every source's queue here and now, in batches of QUEUE_DRAIN_BATCH, each a short
    transaction (so live traffic is held up by one batch's locks at a time).
    Returns (source_id, assigned, still_waiting)."""
    batch = settings.QUEUE_DRAIN_BATCH
    report = []
    for source_id in waiting_source_ids():
        assigned = 0
        while True:
            taken = queue_drain(source_ids=[source_id], rng=rng, limit=batch)
            assigned += taken
            if taken < batch:
                break
        still = Contact.objects.waiting().filter(source_id=source_id).count()
        report.append((source_id, assigned, still))
    return report


def sources_to_drain(*, now: datetime | None = None) -> list[int]:
    """Sources with waiting contacts and an operator who could take one now (linked with a
    weight, active, online as routing sees it — auto-away included — and under capacity):
    where a drain has work. The sweep's question, asked with routing's own eligibility."""
    waiting = waiting_source_ids()
    if not waiting:
        return []
    return list(
        OperatorSource.objects.filter(
            available_now_q(now=now or timezone.now(), prefix="operator__"),
            source_id__in=waiting,
            weight__gt=0,
            operator__is_active=True,
            operator__open_load__lt=F("operator__max_load"),
        )
        .order_by("source_id")
        .values_list("source_id", flat=True)
        .distinct()
    )


def queue_oldest_waiting() -> tuple[int, datetime | None]:
    """How many contacts wait, and since when the oldest of them has waited."""
    # Index crm_contact_waiting_idx (partial: open, no operator) holds exactly these rows.
    stats = Contact.objects.waiting().aggregate(waiting=Count("id"), oldest=Min("created_at"))
    return stats["waiting"], stats["oldest"]
