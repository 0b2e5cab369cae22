"""The intake's one-operator path, its database side (crm.services.intake decides): one
unlocked read of a source's operators (with whether a contact of the source waits), and the
claim of the chosen operator's room, which takes his row lock and only his.

Lock order (crm.services.locking): the claim is the one operator lock its transaction
takes, after the lead's row; a caller that must then lock more operators rolls back first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Exists

from crm.compiled import ID_MARKER, CompiledQuery, compiled, db_datetime
from crm.models import Contact, Lead, Operator, OperatorSource
from crm.services.leads import LeadUpsert
from crm.services.locking import RoutingContext


def intake_read(source_id: int) -> tuple[RoutingContext, bool] | None:
    """The intake's unlocked read of a source: the rows of its lock statement, without the
    lock, and whether a contact of the source waits. A decision made on it holds only once
    the chosen operator is claimed (`claim_for_intake`). The rows are plain records with
    what the decision reads (ReadLink, ReadOperator, ReadSource), not model instances:
    nothing is written through them. None when the source has no links (or does not
    exist)."""
    return _read_of(compiled("intake_read", _intake_read_query).rows(source_id=source_id), source_id)


def lead_touch_and_read(upsert: LeadUpsert, source_id: int) -> tuple[Lead, bool, tuple[RoutingContext, bool] | None]:
    """The lead's upsert (crm.services.leads.lead_touch, the same statement) and then
    `intake_read(source_id)`: (lead, created, read). On PostgreSQL in one statement, one round
    trip instead of two: WITH lead AS (INSERT ... ON CONFLICT ... RETURNING ...) SELECT the
    lead's columns and the read's rows. Its read sees the statement's snapshot, taken before
    the upsert may wait for another intake's lock on the same lead: it may miss what that one
    committed (his claim of an operator). Such staleness is what the one-operator path checks
    for anyway: the claim and the contact's insert judge the rows as they are then."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(upsert.sql, upsert.params)
            lead, created = upsert.lead(cursor.fetchone())
        return lead, created, intake_read(source_id)
    read = compiled("intake_read", _intake_read_query)
    sql = connection.__dict__.get("crm_lead_read_sql")
    if sql is None:
        # The read's rows in its order (by operator: its second column, after the lead's).
        sql = connection.crm_lead_read_sql = (
            f"WITH lead AS ({upsert.sql}) SELECT * FROM lead LEFT JOIN ({read.sql}) AS read ON true "
            f"ORDER BY {upsert.COLUMNS + 2}"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, upsert.params + read.bind(source_id=source_id))
        rows = cursor.fetchall()
    lead, created = upsert.lead(rows[0])
    if rows[0][upsert.COLUMNS] is None:  # no link: the LEFT JOIN's one row of NULLs
        return lead, created, None
    rows = [row[upsert.COLUMNS :] for row in rows]
    if read.converters:
        rows = [tuple(row) for row in read.compiler.apply_converters(rows, read.converters)]
    return lead, created, _read_of(rows, source_id)


def _read_of(rows: list, source_id: int) -> tuple[RoutingContext, bool] | None:
    if not rows:
        return None
    links = []
    for pk, operator_id, weight, smooth_count, *operator, _strategy, _affinity, _waiting in rows:
        links.append(ReadLink(pk, operator_id, weight, smooth_count, ReadOperator(*operator)))
    strategy, affinity, waiting = rows[0][-3:]
    ctx = RoutingContext(
        operators={link.operator_id: link.operator for link in links},
        links={source_id: links},
        sources={source_id: ReadSource(strategy, affinity)},
    )
    return ctx, bool(waiting)


def _intake_read_query() -> CompiledQuery:
    """intake_read's statement: the columns of the source's links and
    operators that a decision reads, and whether a contact of the source waits (index
    crm_contact_waiting_idx), in one statement without a lock."""
    # Not correlated: asked once per statement, not once per link.
    waiting = Contact.objects.waiting().filter(source_id=ID_MARKER)
    return CompiledQuery(
        OperatorSource.objects.filter(source_id=ID_MARKER)
        .annotate(source_has_waiting=Exists(waiting))
        .order_by("operator_id")
        .values_list(
            "pk",
            "operator_id",
            "weight",
            "smooth_count",
            *(f"operator__{name}" for name in ReadOperator.__slots__),
            "source__strategy",
            "source__affinity",
            "source_has_waiting",
        ),
        source_id=ID_MARKER,
        sqlite_index=WAITING_INDEX_ON_SQLITE_SUBQUERY,
    )


# "Does a contact of this source wait?" is answered by the partial index
# crm_contact_waiting_idx from its first entry. Its condition (status = 'open') matches the
# query's only when the status is a literal in the SQL (ContactQuerySet.waiting writes it
# so), and SQLite's planner, without statistics, still prefers crm_contact_open_idx (open
# contacts by operator: "operator IS NULL" matches), which reads every waiting contact of
# every source (a backlog of 100,000 elsewhere) before filtering by source: on SQLite it is
# told which.
WAITING_INDEX_ON_SQLITE = ('FROM "crm_contact"', "crm_contact_waiting_idx")
WAITING_INDEX_ON_SQLITE_SUBQUERY = ('FROM "crm_contact" U0', "crm_contact_waiting_idx")


@dataclass(slots=True)
class ReadOperator:
    """An operator as the intake's unlocked read sees him: what Candidate.from_link and
    availability_now read."""

    name: str
    is_active: bool
    availability: str
    user_id: int | None
    last_seen_at: datetime | None
    open_load: int
    max_load: int


@dataclass(slots=True)
class ReadLink:
    pk: int
    operator_id: int
    weight: int
    smooth_count: int
    operator: ReadOperator


@dataclass(slots=True)
class ReadSource:
    strategy: str
    affinity: bool


@dataclass(frozen=True)
class Claimed:
    """What `claim_for_intake` read back from the operator's row, as it is now."""

    operator_id: int
    name: str
    is_active: bool
    availability: str
    user_id: int | None
    last_seen_at: datetime | None
    open_load: int  # counting the contact being registered
    max_load: int


def claim_for_intake(operator_id: int) -> Claimed | None:
    """Take one unit of the operator's capacity for a new contact, if he has room: UPDATE
    ... SET open_load = open_load + 1 WHERE id = %s AND open_load < max_load RETURNING ....

    Lock: the operator's row, and only his, from here to the commit (the intake's
    one-operator path, crm.services.intake; the lock order holds: it is the one operator lock
    that transaction takes, after its lead's row). A transaction that holds the row (an
    intake on him, or a writer holding all of a source's operators) makes this wait; then
    PostgreSQL checks `open_load < max_load` again on the row as that one left it, so room
    is never counted twice. None when he is full or gone: then no row was updated, but if the
    statement waited for another transaction, his row stays locked (PostgreSQL locks the
    row's newest version before it checks the condition again), so the caller must roll back
    before it takes any other operator lock."""
    connection = connections[DEFAULT_DB_ALIAS]
    sql = connection.__dict__.get("crm_claim_sql")
    if sql is None:
        quote = connection.ops.quote_name
        opts = Operator._meta
        columns = ", ".join(
            quote(opts.get_field(name).column)
            for name in ("id", "name", "is_active", "availability", "user", "last_seen_at", "open_load", "max_load")
        )
        load, most = quote(opts.get_field("open_load").column), quote(opts.get_field("max_load").column)
        sql = connection.crm_claim_sql = (
            f"UPDATE {quote(opts.db_table)} SET {load} = {load} + 1 "
            f"WHERE {quote(opts.pk.column)} = %s AND {load} < {most} RETURNING {columns}"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [operator_id])
        row = cursor.fetchone()
    if row is None:
        return None
    op_id, name, is_active, availability, user_id, last_seen_at, open_load, max_load = row
    return Claimed(op_id, name, bool(is_active), availability, user_id, db_datetime(last_seen_at), open_load, max_load)
