"""Reads about leads: the search over their identity and profile, who may see a profile, a
lead with its latest contacts."""

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import F, Lookup, Q, Subquery
from django.db.models.functions import Reverse
from django.db.models.lookups import StartsWith

from crm.errors import DomainError
from crm.models import (
    Contact,
    Lead,
)
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


def lead_get_with_recent_contacts(*, lead_id: int) -> Lead | None:
    """A lead with its latest contacts attached as `recent_contacts` (bounded, newest first)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        lead.recent_contacts = list(
            Contact.objects.filter(lead_id=lead_id).select_related("lead").order_by("-id")[:LEAD_RECENT_CONTACTS]
        )
    return lead
