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
            f"external_id is longer than {EXTERNAL_ID_MAX_LENGTH} characters.",
            field="external_id",
            code="max_length",
        )
    return normalised


def lead_get_or_create(*, external_id: str) -> tuple[Lead, bool]:
    """Find the lead by normalised external id or create it. Safe under concurrency: two
    first contacts of one new lead race on the unique index, the loser's INSERT fails inside
    a savepoint and it reads the winner's row (PostgreSQL's READ COMMITTED gives the next
    statement a fresh snapshot; SQLite's IMMEDIATE transactions never race at all)."""
    normalised = lead_normalise_external_id(external_id)
    # get_or_create wraps its INSERT in a savepoint and re-reads on IntegrityError.
    return Lead.objects.get_or_create(external_id=normalised)
