"""contact_register: the lead, the choice, the stored load; failure paths write nothing."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.errors import DomainError, NotFoundError
from crm.models import Contact, Lead, Operator
from crm.selectors import operator_load_mismatches
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_assigns_to_the_only_eligible_operator_and_counts_load(rng):
    link = OperatorSourceFactory(weight=5)
    contact = contact_register(external_id="a@x.org", source_id=link.source_id, rng=rng)
    contact.refresh_from_db()
    assert contact.operator_id == link.operator_id
    assert contact.status == Contact.Status.OPEN
    assert contact.unassigned_reason == ""
    assert Operator.objects.get(pk=link.operator_id).open_load == 1
    assert operator_load_mismatches() == []


def test_external_id_is_normalised_and_lead_reused(rng):
    source = SourceFactory()
    first = contact_register(external_id="  Ann@Example.COM ", source_id=source.pk, rng=rng)
    second = contact_register(external_id="ann@example.com", source_id=source.pk, rng=rng)
    assert first.lead_id == second.lead_id
    assert list(Lead.objects.values_list("external_id", flat=True)) == ["ann@example.com"]
    assert Contact.objects.count() == 2


def test_source_without_operators_keeps_contact_waiting(rng):
    source = SourceFactory()
    contact = contact_register(external_id="b", source_id=source.pk, rng=rng)
    contact.refresh_from_db()
    assert contact.operator_id is None
    assert contact.unassigned_reason == Contact.UnassignedReason.NO_OPERATORS


def test_full_operator_is_skipped(rng):
    source = SourceFactory()
    full = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=1), weight=1000)
    free = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=5), weight=1)
    contact_register(external_id="first", source_id=source.pk, rng=random.Random(0))
    # Whoever got the first, fill `full` and check it is never chosen again.
    while Operator.objects.get(pk=full.operator_id).open_load < 1:
        contact_register(external_id="filler", source_id=source.pk, rng=rng)
    for i in range(3):
        c = contact_register(external_id=f"n{i}", source_id=source.pk, rng=rng)
        assert c.operator_id == free.operator_id
    assert Operator.objects.get(pk=full.operator_id).open_load == 1


def test_all_at_capacity_reason(rng):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    contact_register(external_id="one", source_id=link.source_id, rng=rng)
    second = contact_register(external_id="two", source_id=link.source_id, rng=rng)
    assert second.operator_id is None
    assert second.unassigned_reason == Contact.UnassignedReason.ALL_AT_CAPACITY
    assert Operator.objects.get(pk=link.operator_id).open_load == 1


def test_inactive_and_paused_reasons(rng):
    inactive = OperatorSourceFactory(operator=OperatorFactory(is_active=False))
    paused = OperatorSourceFactory(weight=0)
    assert (
        contact_register(external_id="i", source_id=inactive.source_id, rng=rng).unassigned_reason
        == Contact.UnassignedReason.ALL_INACTIVE
    )
    assert (
        contact_register(external_id="p", source_id=paused.source_id, rng=rng).unassigned_reason
        == Contact.UnassignedReason.ALL_PAUSED
    )


def test_unknown_source_writes_nothing(rng):
    with pytest.raises(NotFoundError) as err:
        contact_register(external_id="ghost@x.org", source_id=987654, rng=rng)
    assert err.value.field == "source_id"
    assert Lead.objects.count() == 0
    assert Contact.objects.count() == 0


@pytest.mark.parametrize("external_id", ["", "   ", "\t\n", "x" * 256])
def test_bad_external_id_writes_nothing(external_id, rng):
    source = SourceFactory()
    with pytest.raises(DomainError) as err:
        contact_register(external_id=external_id, source_id=source.pk, rng=rng)
    assert err.value.field == "external_id"
    assert Lead.objects.count() == 0
    assert Contact.objects.count() == 0


def test_close_frees_capacity_and_is_idempotent(rng):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    contact = contact_register(external_id="c", source_id=link.source_id, rng=rng)
    closed = contact_close(contact_id=contact.pk)
    assert closed.status == Contact.Status.CLOSED
    assert closed.closed_at is not None
    assert Operator.objects.get(pk=link.operator_id).open_load == 0
    again = contact_close(contact_id=contact.pk)
    assert again.closed_at == closed.closed_at
    assert Operator.objects.get(pk=link.operator_id).open_load == 0
    # The freed capacity is used by the next contact.
    assert contact_register(external_id="d", source_id=link.source_id, rng=rng).operator_id == link.operator_id


def test_close_waiting_contact_keeps_reason(rng):
    source = SourceFactory()
    contact = contact_register(external_id="w", source_id=source.pk, rng=rng)
    contact_close(contact_id=contact.pk)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.CLOSED
    assert contact.unassigned_reason == Contact.UnassignedReason.NO_OPERATORS


def test_close_unknown_contact_is_not_found():
    with pytest.raises(NotFoundError):
        contact_close(contact_id=424242)


def test_intake_query_count_is_pinned(rng):
    """The hot path for a returning lead (the one-operator path): find the lead, read the
    candidates and whether a contact of the source waits, claim the chosen operator's room
    (his lock), insert the contact unless one waits now, write its two events (one INSERT).
    Five statements on SQLite; three on PostgreSQL, where the lead and the read are one
    statement and the contact and its events another, whatever the table sizes."""
    link = OperatorSourceFactory()
    contact_register(external_id="returning", source_id=link.source_id, rng=rng)
    with CaptureQueriesContext(connection) as ctx:
        contact_register(external_id="returning", source_id=link.source_id, rng=rng)
    sql = [q["sql"] for q in ctx.captured_queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN"))]
    assert len(sql) == (3 if connection.vendor == "postgresql" else 5), sql
