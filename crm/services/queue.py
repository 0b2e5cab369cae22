"""The waiting queue: contacts without an operator, handed out oldest first as soon as
someone can take them."""

import random
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime

from django.db import transaction
from django.db.models import Count, F, Min

from crm.models import AssignmentVia, Contact, OperatorSource
from crm.services.events import assignment_event, events_record
from crm.services.locking import RoutingContext, routing_locked


def queue_drain(
    *,
    source_ids: Iterable[int],
    ctx: RoutingContext | None = None,
    rng: random.Random | None = None,
    limit: int | None = None,
    actor=None,
) -> int:
    """Assign the waiting contacts of `source_ids`, oldest first, the way new contacts are
    assigned (weights, strategy, affinity, capacity), until nobody eligible has room or
    `limit` contacts are assigned (a bounded batch). Returns how many were assigned.

    Called inside the transaction that freed capacity, with its RoutingContext (whose locks
    cover these sources' operators; its owner writes the changes back), or on its own, when
    it opens a transaction and takes the locks itself. Each contact is taken with a
    conditional UPDATE (still open, still without operator), so a concurrent close or a
    second drain never double-assigns. Each assignment is recorded as a `contact.assigned`
    event (via queue), all in one INSERT at the end; `actor` is whoever freed the room (None:
    the system).
    """
    source_ids = sorted(set(source_ids))
    if not source_ids:
        return 0
    locks = routing_locked(source_ids=source_ids) if ctx is None else nullcontext(ctx)
    with transaction.atomic(), locks as ctx:
        # Waiting contacts read after the locks: a contact that waits because these
        # operators were full was committed before we got them, so we see it here. A pass
        # takes at most the free room of each source; if some contact was closed or taken
        # meanwhile (its conditional UPDATE matched nothing), the room it held is offered to
        # the next ones in another pass.
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
            pending.sort()
            missed = 0
            for contact_id, source_id, lead_id in pending:
                decision = ctx.decide(source_id, rng=rng, lead_id=lead_id)
                if decision.operator_id is None:
                    continue
                taken = (
                    Contact.objects.waiting()
                    .filter(pk=contact_id)
                    .update(
                        operator_id=decision.operator_id,
                        unassigned_reason="",
                        assignment=decision.record(via=AssignmentVia.QUEUE),
                    )
                )
                if taken:
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
                else:
                    missed += 1
            if not missed or (limit is not None and assigned >= limit):
                break
        events_record(events)
    return assigned


def waiting_source_ids() -> list[int]:
    """Sources that have waiting contacts now."""
    return list(Contact.objects.waiting().order_by("source_id").values_list("source_id", flat=True).distinct())


def queue_drain_all(*, rng: random.Random | None = None) -> list[tuple[int, int, int]]:
    """Drain every source's queue, one short transaction per source (so live traffic is
    held up by one source's locks at a time). Returns (source_id, assigned, still_waiting)."""
    report = []
    for source_id in waiting_source_ids():
        assigned = queue_drain(source_ids=[source_id], rng=rng)
        still = Contact.objects.waiting().filter(source_id=source_id).count()
        report.append((source_id, assigned, still))
    return report


def sources_to_drain() -> list[int]:
    """Sources with waiting contacts and an operator who could take one now (linked with a
    weight, active, under capacity): where a drain has work. The sweep's question."""
    waiting = waiting_source_ids()
    if not waiting:
        return []
    return list(
        OperatorSource.objects.filter(
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
