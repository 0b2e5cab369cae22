"""The number of SQL statements one intake makes over HTTP, pinned so that a regression on
the hot path (an N+1, a lookup that grows with the history, a second permission load) fails
CI. `bench/` measures what the statements cost; this only counts them.

Transaction control is left out of the count: PostgreSQL's BEGIN is sent by the driver and
never logged, SQLite's `BEGIN IMMEDIATE` is, and savepoints depend on nesting. PostgreSQL
runs two pairs of them as one statement each (data-modifying WITH), which SQLite cannot."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, Lead
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b", re.I)

# token + user, with the add_contact permission and "bound to sources?" folded in (1), the
# lead's upsert with its profile and last-seen time (1: INSERT ... ON CONFLICT DO UPDATE ...
# RETURNING, found or created alike), the source's operators with their links and "does a
# contact of the source wait?" (1, no lock), the chosen operator's room claimed (1: UPDATE
# ... RETURNING, his lock), the contact inserted unless one of the source waits now (1:
# strict queue order, checked after the lock), its events (registered + assigned/waiting,
# one INSERT) (1). A bot bound to sources adds its binding lookup (1); the source's path
# (smooth sources, waiting contacts, nobody eligible) locks all of the source's operators
# instead and checks the queue in a statement of its own. On PostgreSQL the lead's upsert and
# the read are one statement, and so are the contact and its events: 4.
INTAKE_NEW_LEAD = 4 if connection.vendor == "postgresql" else 6
# The lead exists: the same upsert updates it.
INTAKE_KNOWN_LEAD = INTAKE_NEW_LEAD


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]


def _post_intake(client, external_id: str, source_id: int, **extra) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        r = client.post(
            "/api/v1/contacts/", {"external_id": external_id, "source_id": source_id, **extra}, format="json"
        )
    assert r.status_code == 201, r.content
    return _statements(captured)


def test_intake_of_a_new_lead_makes_a_fixed_number_of_queries(bot_client):
    link = OperatorSourceFactory()
    statements = _post_intake(bot_client, "new@example.com", link.source_id)
    assert len(statements) == INTAKE_NEW_LEAD, "\n".join(statements)
    assert Contact.objects.get().operator_id == link.operator_id


def test_intake_of_a_known_lead_makes_as_many_queries(bot_client):
    link = OperatorSourceFactory()
    bot_client.post("/api/v1/contacts/", {"external_id": "known", "source_id": link.source_id}, format="json")
    statements = _post_intake(bot_client, "  KNOWN ", link.source_id)
    assert len(statements) == INTAKE_KNOWN_LEAD, "\n".join(statements)
    assert Lead.objects.count() == 1 and Contact.objects.count() == 2


def test_intake_queries_do_not_grow_with_operators_or_history(bot_client):
    source = SourceFactory()
    for _ in range(10):
        OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=1000))
    for i in range(30):
        bot_client.post("/api/v1/contacts/", {"external_id": f"history-{i}", "source_id": source.pk}, format="json")
    statements = _post_intake(bot_client, "one-more", source.pk)
    assert len(statements) == INTAKE_NEW_LEAD, "\n".join(statements)
    assert Contact.objects.count() == 31


def test_intake_with_profile_message_and_metadata_makes_no_extra_query(bot_client):
    link = OperatorSourceFactory()
    extra = {
        "name": "Anna",
        "phone": "+7 912 345-67-89",
        "email": "Anna@Example.com",
        "message": "Hello",
        "metadata": {"utm_source": "ads"},
    }
    statements = _post_intake(bot_client, "profiled", link.source_id, **extra)
    assert len(statements) == INTAKE_NEW_LEAD, "\n".join(statements)
    statements = _post_intake(bot_client, "profiled", link.source_id, **extra)
    assert len(statements) == INTAKE_KNOWN_LEAD, "\n".join(statements)
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email) == ("Anna", "+79123456789", "anna@example.com")
