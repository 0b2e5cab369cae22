"""Routing statistics: configured against actual shares, the dashboard's totals, the
read-only simulation, and the gauges /metrics reads from the database."""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.errors import NotFoundError
from crm.models import (
    Contact,
    Operator,
    OperatorSource,
    Source,
)
from crm.services.assignment import Candidate, choose_operator


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
        for row in Contact.objects.waiting()
        .filter(source_id__in=ids)
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


# --- Time windows of the routing statistics (dashboard, distribution_report) ----------------

# key → (length, label); None: all time. The first is the default.
STATS_WINDOWS: dict[str, tuple[timedelta | None, str]] = {
    "24h": (timedelta(hours=24), _("last 24 hours")),
    "7d": (timedelta(days=7), _("last 7 days")),
    "30d": (timedelta(days=30), _("last 30 days")),
    "all": (None, _("all time")),
}
STATS_DEFAULT_WINDOW = "24h"


def stats_window_since(window: str, *, now: datetime | None = None) -> datetime | None:
    """The start of a named window (a key of STATS_WINDOWS), None for all time."""
    length = STATS_WINDOWS[window][0]
    return (now or timezone.now()) - length if length is not None else None


def routing_dashboard_stats(*, since: datetime | None, now: datetime | None = None) -> dict:
    """What the routing dashboard shows: `sources` (distribution_stats, with percentages),
    `operators` (by name, with `load_percent` and `is_full`), `waiting_sources` and the
    `totals` over them. A fixed number of queries, whatever the number of contacts."""
    now = now or timezone.now()
    sources = distribution_stats(since=since, now=now)
    for source in sources:
        for row in source["operators"]:
            row["configured_percent"] = _percent(row["configured_share"])
            row["actual_percent"] = _percent(row["actual_share"])
    operators = list(Operator.objects.order_by("name", "id"))
    for operator in operators:
        ratio = operator.open_load / operator.max_load if operator.max_load else 1.0
        operator.load_percent = min(100, round(100 * ratio))
        operator.is_full = operator.open_load >= operator.max_load
    active = [op for op in operators if op.is_active]
    waiting_sources = [s for s in sources if s["waiting"]]
    oldest = min((s["oldest_waiting_since"] for s in waiting_sources), default=None)
    return {
        "sources": sources,
        "operators": operators,
        "waiting_sources": waiting_sources,
        "totals": {
            "contacts": sum(s["contacts"] for s in sources),
            "assigned": sum(s["assigned"] for s in sources),
            "waiting": sum(s["waiting"] for s in sources),
            "oldest_waiting_since": oldest,
            "open_load": sum(op.open_load for op in active),
            "capacity": sum(op.max_load for op in active),
            "full": sum(1 for op in active if op.is_full),
            "inactive": len(operators) - len(active),
        },
    }


def _percent(share: float) -> float:
    return round(100 * share, 1)


# --- What-if ---------------------------------------------------------------------------------


def routing_simulate(
    *,
    source_id: int,
    contacts: int,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """What-if: how would N new contacts spread under the current configuration?

    Run the real choice `contacts` times on an in-memory copy of the source's operators
    (current loads, weights, strategy), as if every contact were a new lead and nobody
    closed anything meanwhile. Reads only; writes nothing. Returns
    {"source", "contacts", "waiting", "waiting_reasons": {reason: n},
     "operators": [{"operator_id", "name", "weight", "configured_share", "assigned",
                    "share", "load_before", "load_after", "max_load", "excluded_now"}]}."""
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        raise NotFoundError(gettext("Source %(id)d does not exist.") % {"id": source_id}, field="source")
    links = OperatorSource.objects.filter(source_id=source_id).select_related("operator").order_by("operator_id")
    candidates = [Candidate.from_link(link) for link in links]
    before = {c.operator_id: c for c in candidates}
    rng = rng or random.Random()
    assigned: Counter = Counter()
    reasons: Counter = Counter()
    step = max(1, contacts // 10)
    for i in range(contacts):
        decision = choose_operator(candidates, strategy=source.strategy, rng=rng)
        if decision.operator_id is None:
            reasons[decision.reason] += 1
        else:
            assigned[decision.operator_id] += 1
            candidates = [
                replace(c, load=c.load + 1, smooth_count=c.smooth_count + 1)
                if c.operator_id == decision.operator_id
                else c
                for c in candidates
            ]
        if progress and (i + 1) % step == 0:
            progress(i + 1)
    total_weight = sum(c.weight for c in before.values())
    total_assigned = sum(assigned.values())
    return {
        "source": source,
        "contacts": contacts,
        "waiting": sum(reasons.values()),
        "waiting_reasons": dict(reasons),
        "operators": [
            {
                "operator_id": c.operator_id,
                "name": c.name,
                "weight": c.weight,
                "configured_share": c.weight / total_weight if total_weight else 0.0,
                "assigned": assigned[c.operator_id],
                "share": assigned[c.operator_id] / total_assigned if total_assigned else 0.0,
                "load_before": c.load,
                "load_after": c.load + assigned[c.operator_id],
                "max_load": c.max_load,
                "excluded_now": c.exclusion,
            }
            for c in before.values()
        ],
    }


def metrics_waiting_by_source() -> list[tuple[str, int]]:
    """(source name, contacts waiting) for every source, 0 included (a series that vanishes at
    0 would leave dashboards showing its last value)."""
    # Index crm_contact_waiting_idx holds exactly the waiting rows.
    counts = dict(
        Contact.objects.waiting().order_by().values("source_id").annotate(n=Count("id")).values_list("source_id", "n")
    )
    return [(source.name, counts.get(source.pk, 0)) for source in Source.objects.only("id", "name").order_by("id")]


def metrics_operator_loads() -> list[tuple[str, int, int]]:
    """(operator name, open contacts, max_load) for every operator."""
    return list(Operator.objects.order_by("id").values_list("name", "open_load", "max_load"))
