"""Reads that are more than one line of ORM."""

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import Count, F, Lookup, Min, Q, Subquery
from django.utils import timezone

from crm.errors import DomainError
from crm.models import Contact, Lead, Operator, OperatorSource, Source
from crm.services.leads import phone_normalise, phone_search_digits, search_words

LEAD_RECENT_CONTACTS = 100
# A trigram index answers a substring search of 3 characters or more; a shorter term would
# read every lead, so it matches an exact external id only.
LEAD_SEARCH_MIN_LENGTH = 3


def lead_search(queryset, term: str):
    """Leads of `queryset` whose external id, name, phone or email matches `term`: the one
    search of the API (`?search=`) and the admin.

    - external id and email: contain the term (both are stored lower-case);
    - name: every word of the term begins a word of the name ("ann petr" finds Anna Petrova);
    - phone: a term written like a phone number ("+7 (912) 345-67", "8 912 345 67 89")
      matches by its digits inside the stored E.164 number, and, when it is a whole number
      in the default region, by its E.164 form.

    The query is an OR of conditions that each have their own index on PostgreSQL (trigram
    GIN for the LIKEs, full-text GIN for the name's words), so it is answered by a BitmapOr
    of index scans whatever the table's size. Conditions that cannot match are left out, so
    the database does not read an index for nothing: no email has a space, no name is made
    of phone digits. A term shorter than LEAD_SEARCH_MIN_LENGTH (which a trigram cannot
    index) matches an exact external id only."""
    text = term.strip()
    lowered = text.lower()
    if not lowered:
        return queryset
    if len(lowered) < LEAD_SEARCH_MIN_LENGTH:
        return queryset.filter(external_id=lowered)
    condition = Q(external_id__contains=lowered)
    if not any(ch.isspace() for ch in lowered):
        condition |= Q(email__contains=lowered)
    digits = phone_search_digits(text)
    if digits is not None:
        if len(digits) >= LEAD_SEARCH_MIN_LENGTH:
            condition |= Q(phone__contains=digits)
            try:
                full = phone_normalise(text)
            except DomainError:
                full = ""
            if full and full[1:] != digits:  # a national number: its E.164 form has other digits
                condition |= Q(phone=full)
    else:
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
    """Every word begins a word of the name. PostgreSQL: a prefix full-text query on the GIN
    index crm_lead_name_fts (the same expression as the index). Elsewhere: LIKE '% word%' on
    the space-prefixed words (Lead.name_search)."""
    if connection.vendor == "postgresql":
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config="simple")
        return Q(SearchVectorExact(SearchVector("name_search", config="simple"), query))
    condition = Q()
    for word in words:
        condition &= Q(name_search__contains=f" {word}")
    return condition


def lead_profile_visible(*, user, lead: Lead | None = None) -> bool:
    """May `user` see the lead's profile (name, phone, email) and his contacts' messages and
    metadata? The one rule, for the API, the admin and the workspace: active staff with the
    permission to view leads. (Operators who hold one of the lead's contacts join here.)"""
    if user is None or not user.is_active:
        return False
    return bool(user.is_staff and user.has_perm("crm.view_lead"))


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
