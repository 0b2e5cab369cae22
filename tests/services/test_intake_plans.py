"""The intake's "does a contact of this source wait?" is answered from the partial index
crm_contact_waiting_idx, whatever waits elsewhere. On SQLite that takes the status written
into the SQL as a literal (a bound parameter never matches a partial index's condition) and
INDEXED BY (without statistics its planner reads every waiting contact through
crm_contact_open_idx): checked in the query plans, not by timing."""

import pytest
from django.db import connection, transaction

from crm.services.intake import _waiting_query
from crm.services.intake_claim import _intake_read_query

pytestmark = pytest.mark.django_db


def plan(query) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + query.sql, query.bind(source_id=1))
        return " ".join(str(row) for row in cursor.fetchall())


def test_waiting_checks_use_the_waiting_index_on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner; PostgreSQL gets literals from client-side binding")
    with transaction.atomic():
        for query in (_waiting_query(), _intake_read_query()):
            assert "'open'" in query.sql
            found = plan(query)
            assert "crm_contact_waiting_idx" in found, found
            assert "crm_contact_open_idx" not in found, found
