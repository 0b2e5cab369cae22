from django.db import connection
from django.utils import timezone
from django.utils.translation import ngettext

from crm.errors import DomainError
from crm.models import EXTERNAL_ID_MAX_LENGTH, Lead


def lead_normalise_external_id(external_id: str) -> str:
    """The one normalisation of an external id (API, admin search, commands): surrounding
    whitespace stripped, lower-cased. Raises DomainError when nothing or too much is left."""
    if not isinstance(external_id, str):
        raise DomainError("external_id must be a string.", field="external_id")
    normalised = external_id.strip().lower()
    if not normalised:
        raise DomainError("external_id may not be blank.", field="external_id", code="blank")
    if len(normalised) > EXTERNAL_ID_MAX_LENGTH:
        raise DomainError(
            ngettext(
                "external_id is longer than %(max)d character.",
                "external_id is longer than %(max)d characters.",
                EXTERNAL_ID_MAX_LENGTH,
            )
            % {"max": EXTERNAL_ID_MAX_LENGTH},
            field="external_id",
            code="max_length",
        )
    return normalised


def lead_get_or_create(*, external_id: str) -> tuple[Lead, bool]:
    """Find the lead by normalised external id or create it. Safe under concurrency without a
    savepoint: the INSERT says ON CONFLICT DO NOTHING, so the loser of a race between two
    first contacts of one new lead gets no row back and reads the winner's (PostgreSQL's
    READ COMMITTED gives the next statement a fresh snapshot; SQLite's IMMEDIATE
    transactions never race at all). A known lead costs one query, a new one two."""
    normalised = lead_normalise_external_id(external_id)
    lead = Lead.objects.filter(external_id=normalised).first()
    if lead is not None:
        return lead, False
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Lead._meta.db_table} (external_id, created_at) VALUES (%s, %s) "
            "ON CONFLICT (external_id) DO NOTHING RETURNING id",
            [normalised, connection.ops.adapt_datetimefield_value(now)],
        )
        row = cursor.fetchone()
    if row is None:
        return Lead.objects.get(external_id=normalised), False
    return Lead(id=row[0], external_id=normalised, created_at=now), True
