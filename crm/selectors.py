"""Reads that are more than one line of ORM."""

from django.db.models import Count, Q

from crm.models import Contact, Lead, Operator

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
