"""Reads that are more than one line of ORM."""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import Count, F, Lookup, Max, Min, Q, Subquery
from django.db.models.functions import Reverse
from django.db.models.lookups import StartsWith
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.errors import DomainError, NotFoundError
from crm.models import (
    Contact,
    Event,
    Lead,
    Operator,
    OperatorAvailability,
    OperatorSource,
    Source,
    UnassignedReason,
    WebhookDelivery,
    WebhookEndpoint,
)
from crm.services.assignment import Candidate, available_now_q, choose_operator
from crm.services.leads import phone_normalise, phone_search_digits, search_words

LEAD_RECENT_CONTACTS = 100
# A trigram index answers a substring search of 3 characters or more; a shorter term would
# read every lead, so it matches an exact external id only.
LEAD_SEARCH_MIN_LENGTH = 3


def lead_search(queryset, term: str):
    """Leads of `queryset` whose external id, name, phone or email matches `term`: the one
    search of the API (`?search=`) and the admin.

    - external id: contains the term (ids are opaque; people paste any part of one);
    - email: begins with the term (stored lower-case);
    - name: begins with the term ("anna pe" finds Anna Petrova), or has each of its words
      as a whole word, in any order ("petrova", "petrova anna");
    - phone: a term written like a phone number ("+7 (912) 345-67-89", "345-67-89") matches
      the stored E.164 number that begins or ends with its digits, and, when it is a whole
      number in the default region ("8 912 345 67 89"), by its E.164 form.

    The query is an OR of conditions that each have their own index on PostgreSQL (a
    trigram GIN for the external id, a full-text GIN for the name's words, B-trees for the
    beginnings of names and emails and the beginnings and ends of phones), answered by a
    BitmapOr of index scans whatever the table's size. Conditions that cannot match are
    left out, so no index is read for nothing: no email has a space, no name has an @ or
    digits. A term shorter than LEAD_SEARCH_MIN_LENGTH (which a trigram cannot index)
    matches an exact external id only."""
    text = term.strip()
    lowered = text.lower()
    if not lowered:
        return queryset
    if len(lowered) < LEAD_SEARCH_MIN_LENGTH:
        return queryset.filter(external_id=lowered)
    condition = Q(external_id__contains=lowered)
    if not any(ch.isspace() for ch in lowered):
        condition |= Q(email__startswith=lowered)
    digits = phone_search_digits(text)
    if digits is not None:
        if len(digits) >= LEAD_SEARCH_MIN_LENGTH:
            condition |= Q(phone__startswith=f"+{digits}") | Q(StartsWith(Reverse("phone"), digits[::-1]))
            try:
                full = phone_normalise(text)
            except DomainError:
                full = ""
            if full and full[1:] != digits:  # a national number: its E.164 form has other digits
                condition |= Q(phone=full)
    elif "@" not in lowered and not any(ch.isdigit() for ch in lowered):
        words = search_words(text)
        if words:
            condition |= _name_words_condition(words)
    if connection.vendor != "postgresql":
        return queryset.filter(condition)
    # The ids that match, computed once (an InitPlan answered by the BitmapOr), then the page
    # by primary key. Left to itself, the planner reads `ORDER BY id DESC LIMIT 51` with an
    # estimated few thousand matches as "walk the primary key backwards until 51 match" and
    # walks a million rows for a rare term (2.5 s measured at 10^6 leads for "zzz").
    matching = Lead.objects.filter(condition).order_by().values("id")
    return queryset.filter(AnyOfSubquery(F("id"), Subquery(matching)))


def contact_lead_search_condition(term: str) -> Q:
    """A condition on contacts: their lead matches `term` (lead_search). On PostgreSQL the
    leads' ids come first and the contacts are read by the lead index (crm_contact_lead_idx),
    never by walking the contacts' primary key for a rare term."""
    leads = lead_search(Lead.objects.order_by(), term).values("id")
    if connection.vendor != "postgresql":
        return Q(lead_id__in=leads)
    return Q(AnyOfSubquery(F("lead_id"), Subquery(leads)))


class AnyOfSubquery(Lookup):
    """`lhs = ANY(ARRAY(subquery))` (PostgreSQL): the subquery is an InitPlan, run once and
    never turned into a join the planner could reorder."""

    lookup_name = "any_of_subquery"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def _name_words_condition(words: list[str]) -> Q:
    """The name begins with the term's words, the last one possibly cut short ("anna pe"),
    or has every one of them as a whole word, in any order ("petrova", "petrova anna").
    The first is a B-tree range on Lead.name_search (" anna petrova "); the second, on
    PostgreSQL, a full-text query of whole words on the GIN index crm_lead_name_fts (the
    same expression as the index; whole words, because a prefix query reads every lexeme
    with that prefix and rechecks each row: 7 ms instead of 1 ms at 10^6 leads), elsewhere
    LIKE '% word %'."""
    condition = Q(name_search__startswith=" " + " ".join(words))
    if connection.vendor == "postgresql":
        query = SearchQuery(" & ".join(words), search_type="raw", config="simple")
        return condition | Q(SearchVectorExact(SearchVector("name_search", config="simple"), query))
    every = Q()
    for word in words:
        every &= Q(name_search__contains=f" {word} ")
    return condition | every


def lead_profile_visible(*, user, lead: Lead | None = None) -> bool:
    """May `user` see the lead's profile (name, phone, email) and his contacts' messages and
    metadata? The one rule, for the API, the admin and the workspace: active staff with the
    permission to view leads, and the operator who holds one of the lead's contacts (open or
    closed: it is his conversation). Without `lead`, the staff part only."""
    if user is None or not user.is_active:
        return False
    if user.is_staff:
        return bool(user.has_perm("crm.view_lead"))
    if lead is None:
        return False
    # Index crm_contact_lead_idx: the lead's contacts; the operator's login by its unique column.
    return Contact.objects.filter(lead_id=lead.pk, operator__user_id=user.pk).exists()


def contact_decision_visible(*, user) -> bool:
    """Who may see a contact's decision record (`Contact.assignment`): it names operators with
    their weights and loads, so staff who may read contacts *and* operators. Bots never."""
    return bool(
        user is not None
        and user.is_active
        and user.is_staff
        and user.has_perm("crm.view_contact")
        and user.has_perm("crm.view_operator")
    )


def lead_get_with_recent_contacts(*, lead_id: int) -> Lead | None:
    """A lead with its latest contacts attached as `recent_contacts` (bounded, newest first)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        lead.recent_contacts = list(
            Contact.objects.filter(lead_id=lead_id).select_related("lead").order_by("-id")[:LEAD_RECENT_CONTACTS]
        )
    return lead


def contact_reassign_targets(*, source_id: int, current_operator_id: int | None) -> list[Operator]:
    """The operators an open contact of `source_id` may be handed to by hand, by name: exactly
    those contact_reassign(operator_id=...) accepts (Candidate.manual_exclusion), as of now."""
    links = (
        OperatorSource.objects.filter(source_id=source_id)
        .exclude(operator_id=current_operator_id)
        .select_related("operator")
    )
    now = timezone.now()
    operators = [link.operator for link in links if Candidate.from_link(link, now=now).manual_exclusion is None]
    return sorted(operators, key=lambda op: (op.name.lower(), op.pk))


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
        raise NotFoundError(f"Source {source_id} does not exist.", field="source")
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


def contact_events(*, contact_id: int):
    """A contact's timeline, oldest first (index crm_event_contact_idx)."""
    return Event.objects.filter(contact_id=contact_id).select_related("actor_user").order_by("id")


def operator_for_user(user) -> Operator | None:
    """The operator whose login `user` is, or None (staff, bots, anonymous). Staff are
    never treated as operators, even when linked to one."""
    if user is None or not user.is_authenticated or user.is_staff:
        return None
    return Operator.objects.filter(user_id=user.pk).first()


def operator_sources(*, operator_id: int) -> list[Source]:
    """The sources an operator serves (names only: weights are staff's business)."""
    return list(Source.objects.filter(links__operator_id=operator_id).order_by("id"))


def transfer_targets(*, contact: Contact) -> list[Operator]:
    """Who could take `contact` by transfer now: the other operators of its source who are
    active, have weight > 0, are online (auto-away counted) and have room. What the service
    checks again under the locks; this only fills the workspace's list."""
    return list(
        Operator.objects.filter(
            available_now_q(now=timezone.now()),
            links__source_id=contact.source_id,
            links__weight__gt=0,
            is_active=True,
            open_load__lt=F("max_load"),
        )
        .exclude(pk=contact.operator_id)
        .order_by("name", "id")
    )


def operators_availability(*, now=None) -> dict:
    """For the routing dashboard: operators by availability as routing sees it (auto-away
    included), since when, and how many contacts wait because nobody with room is online."""
    from crm.services.assignment import availability_now

    now = now or timezone.now()
    rows = []
    for operator in Operator.objects.filter(is_active=True).order_by("name", "id"):
        state = availability_now(operator, now=now)
        auto_away = state != operator.availability
        since = operator.last_seen_at if auto_away else operator.availability_changed_at
        if auto_away and since is not None:
            since = since + settings.OPERATOR_AWAY_AFTER
        rows.append({"operator": operator, "availability": state, "since": since, "auto_away": auto_away})
    waiting_nobody_online = Contact.objects.waiting().filter(unassigned_reason=UnassignedReason.NOBODY_ONLINE).count()
    return {
        "operators": rows,
        "online": sum(1 for r in rows if r["availability"] == OperatorAvailability.ONLINE),
        "waiting_nobody_online": waiting_nobody_online,
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
