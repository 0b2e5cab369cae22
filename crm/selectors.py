"""Reads that are more than one line of ORM."""

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from crm.models import Contact, Event, Lead, Operator, OperatorSource, Source, WebhookDelivery, WebhookEndpoint

LEAD_RECENT_CONTACTS = 100


def lead_get_with_recent_contacts(*, lead_id: int) -> Lead | None:
    """A lead with its latest contacts attached as `recent_contacts` (bounded, newest first)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        lead.recent_contacts = list(
            Contact.objects.filter(lead_id=lead_id).select_related("lead").order_by("-id")[:LEAD_RECENT_CONTACTS]
        )
    return lead


def operator_load_mismatches() -> list[tuple[int, int, int]]:
    """Operators whose stored open load differs from a recount of their open contacts,
    as (operator_id, stored, counted). Empty when the books balance."""
    rows = Operator.objects.annotate(counted=Count("contacts", filter=Q(contacts__status=Contact.Status.OPEN)))
    return [(op.pk, op.open_load, op.counted) for op in rows if op.open_load != op.counted]


def distribution_stats(*, source_id: int | None = None, since=None, now=None) -> list[dict]:
    """Configured versus actual routing, per source and operator, in three aggregate queries
    whatever the number of contacts (no per-row Python loops).

    `since` (aware datetime or None for all time) bounds the contacts counted as "actual".
    Returns, per source (ordered by id)::

        {"source_id", "source_name", "strategy", "affinity",
         "contacts": int,                # in the window, assigned or not
         "assigned": int,                # in the window, with an operator
         "waiting": int,                 # open contacts without an operator, now
         "oldest_waiting_since": datetime | None,
         "oldest_wait_seconds": float | None,
         "operators": [{"operator_id", "operator_name", "is_active", "weight",
                        "configured_share": float,   # weight / sum of the source's weights
                        "contacts": int,             # this source's contacts in the window
                        "actual_share": float,       # contacts / assigned (0 when none)
                        "open_load", "max_load", "is_full": bool}]}

    Operators that received contacts in the window but are no longer linked are listed with
    weight 0 so that actual shares add up.
    """
    now = now or timezone.now()
    sources = Source.objects.order_by("id")
    if source_id is not None:
        sources = sources.filter(pk=source_id)
    sources = list(sources)
    ids = [s.pk for s in sources]

    links = OperatorSource.objects.filter(source_id__in=ids).select_related("operator").order_by("operator_id")
    contacts = Contact.objects.filter(source_id__in=ids)
    if since is not None:
        contacts = contacts.filter(created_at__gte=since)
    counts = {
        (row["source_id"], row["operator_id"]): row["n"]
        for row in contacts.values("source_id", "operator_id").annotate(n=Count("id")).order_by()
    }
    waiting = {
        row["source_id"]: row
        for row in Contact.objects.filter(source_id__in=ids, status=Contact.Status.OPEN, operator__isnull=True)
        .values("source_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    }
    stray_ids = {op_id for (_, op_id) in counts if op_id is not None}
    operators = {op.pk: op for op in Operator.objects.filter(pk__in=stray_ids)}

    by_source: dict[int, list] = {sid: [] for sid in ids}
    for link in links:
        by_source[link.source_id].append((link.operator, link.weight))
        operators[link.operator_id] = link.operator

    result = []
    for source in sources:
        rows = by_source[source.pk]
        linked = {op.pk for op, _ in rows}
        for (sid, op_id), _n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            if sid == source.pk and op_id is not None and op_id not in linked:
                rows.append((operators[op_id], 0))
        total_weight = sum(w for _, w in rows)
        assigned = sum(n for (sid, op_id), n in counts.items() if sid == source.pk and op_id is not None)
        total = assigned + counts.get((source.pk, None), 0)
        wait = waiting.get(source.pk)
        oldest = wait["oldest"] if wait else None
        result.append(
            {
                "source_id": source.pk,
                "source_name": source.name,
                "strategy": source.strategy,
                "affinity": source.affinity,
                "contacts": total,
                "assigned": assigned,
                "waiting": wait["n"] if wait else 0,
                "oldest_waiting_since": oldest,
                "oldest_wait_seconds": (now - oldest).total_seconds() if oldest else None,
                "operators": [
                    {
                        "operator_id": op.pk,
                        "operator_name": op.name,
                        "is_active": op.is_active,
                        "weight": weight,
                        "configured_share": weight / total_weight if total_weight else 0.0,
                        "contacts": counts.get((source.pk, op.pk), 0),
                        "actual_share": counts.get((source.pk, op.pk), 0) / assigned if assigned else 0.0,
                        "open_load": op.open_load,
                        "max_load": op.max_load,
                        "is_full": op.open_load >= op.max_load,
                    }
                    for op, weight in rows
                ],
            }
        )
    return result


def webhook_backlog(*, now=None) -> dict:
    """The webhook outbox at a glance, for /healthz/webhooks and the dashboard: events not yet
    fanned out (the worker's own lag), deliveries not yet delivered (the receivers' lag), and
    the age of the oldest undelivered event. Two aggregate queries on partial indexes, whose
    size is the backlog, not the history."""
    now = now or timezone.now()
    events = Event.objects.filter(dispatched_at__isnull=True).aggregate(count=Count("id"), oldest=Min("occurred_at"))
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, endpoint__is_active=True).aggregate(
        count=Count("id"), oldest=Min("created_at"), oldest_event=Min("event__occurred_at")
    )
    oldest = min((t for t in (events["oldest"], pending["oldest_event"], pending["oldest"]) if t), default=None)

    def age(t):
        return round(max((now - t).total_seconds(), 0.0), 3) if t else None

    return {
        "undispatched_events": events["count"],
        "oldest_undispatched_age_seconds": age(events["oldest"]),
        "pending_deliveries": pending["count"],
        "oldest_undelivered_age_seconds": age(oldest),
    }


def webhook_failing_endpoints(*, since=None, now=None) -> list[WebhookEndpoint]:
    """Active endpoints whose receiver is failing: a delivery waiting for a retry (attempted,
    not delivered) or a delivery given up on since `since` (default: the last retry horizon).
    Each carries `retrying`, `failed` and `last_failure_at`."""
    now = now or timezone.now()
    since = since or now - settings.WEBHOOK_RETRY_HORIZON
    retrying = Q(deliveries__status=WebhookDelivery.Status.PENDING, deliveries__attempts__gt=0)
    failed = Q(deliveries__status=WebhookDelivery.Status.FAILED, deliveries__last_attempt_at__gte=since)
    rows = (
        WebhookEndpoint.objects.filter(is_active=True)
        .annotate(
            retrying=Count("deliveries", filter=retrying),
            failed=Count("deliveries", filter=failed),
            last_failure_at=Max("deliveries__last_attempt_at", filter=retrying | failed),
        )
        .filter(Q(retrying__gt=0) | Q(failed__gt=0))
        .order_by("-last_failure_at")
    )
    return list(rows)
