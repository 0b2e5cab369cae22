"""PostgreSQL runs the worker's and the web's statements as prepared statements (psycopg
prepares one after its fifth run on a connection), and after five custom plans it may keep a
generic plan, made without the parameters' values. A partial index whose condition is
`status = 'pending'` serves such a plan only when the query writes the status as a literal
(crm.compiled.LiteralExact). Checked here in the generic plan itself, not by timing."""

import datetime
import itertools
import re

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import operator_open_contact_source_ids
from crm.services.webhook_outbox import _due

pytestmark = pytest.mark.django_db

TYPES = {datetime.datetime: "timestamptz", int: "bigint", str: "text", bool: "boolean"}


def sql_type(value) -> str:
    # psycopg's own wrappers (Int4 for the EXISTS subquery's constant) are int subclasses.
    return next(name for kind, name in TYPES.items() if isinstance(value, kind))


def generic_plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    count = itertools.count(1)
    numbered = re.sub(r"%s", lambda _m: f"${next(count)}", sql)
    types = ", ".join(sql_type(p) for p in params)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"PREPARE crm_plan_check ({types}) AS {numbered}")
        try:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            # EXECUTE takes its arguments as literals (a utility statement binds nothing).
            arguments = connection.ops.compose_sql(", ".join(["%s"] * len(params)), params)
            cursor.execute(f"EXPLAIN EXECUTE crm_plan_check ({arguments})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE crm_plan_check")


def test_the_webhook_claim_reads_the_pending_indexes_in_a_generic_plan():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    plan = generic_plan(_due(timezone.now()).values_list("id", flat=True)[:10])
    # The anti-join looks up earlier pending deliveries of the same contact in its partial
    # index; with a bound status it walked every earlier delivery of the endpoint.
    assert "crm_whdelivery_order_idx" in plan, plan
    assert "crm_whdelivery_endpoint_idx" not in plan, plan


def test_the_queue_and_an_operators_open_contacts_write_the_status_as_a_literal():
    # On both databases: the SQL says status = 'open' and binds no status, so the partial
    # indexes crm_contact_waiting_idx and crm_contact_open_idx serve generic plans too. (On an
    # empty table the planner's pick among them is a tie, so the plan itself is not asserted:
    # with the status bound, PostgreSQL's generic plan for the drain's read used
    # crm_contact_source_idx, the source's whole history, 2026-11-27.)
    # The queue's read, and the statement an operator's hand-back runs (crm.services.contacts).
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))  # as handed to the driver: placeholders and their values
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert operator_open_contact_source_ids(operator_id=1) == []
    sent.append(Contact.objects.waiting().filter(source_id=1).order_by("id").values_list("id").query.sql_with_params())
    for sql, params in sent:
        assert "\"status\" = 'open'" in sql, sql
        assert "open" not in [str(p) for p in params or ()]
