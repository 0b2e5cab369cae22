"""Real threads, each with its own connection, released together by a barrier, on whatever
database the suite runs on (file SQLite or PostgreSQL). We assert invariants, not timings."""

import random

import pytest
from django.db.models import Count, Q

from crm.models import Contact, Lead, Operator
from crm.selectors import operator_load_mismatches
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from tests.conftest import run_concurrently
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def assert_no_overshoot():
    recount = Operator.objects.annotate(n=Count("contacts", filter=Q(contacts__status="open")))
    for op in recount:
        assert op.n <= op.max_load, f"{op.name}: {op.n} open > max_load {op.max_load}"
    assert operator_load_mismatches() == []


def test_hundred_registrations_one_operator_capacity_ten():
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=10), weight=10)
    _results, errors = run_concurrently(
        100,
        lambda i: contact_register(external_id=f"lead-{i}", source_id=link.source_id, rng=random.Random(i)),
    )
    assert errors == []
    assert Contact.objects.count() == 100
    assert Contact.objects.filter(operator_id=link.operator_id).count() == 10
    assert Contact.objects.filter(operator__isnull=True, unassigned_reason="all_at_capacity").count() == 90
    assert Operator.objects.get(pk=link.operator_id).open_load == 10
    assert_no_overshoot()


def test_shared_operators_across_sources_never_overshoot():
    ops = [OperatorFactory(max_load=m) for m in (3, 5, 2, 4)]
    sources = [SourceFactory() for _ in range(3)]
    # Overlapping sets: every source shares operators with another, so locks cross.
    for s_i, s in enumerate(sources):
        for o_i, op in enumerate(ops):
            if (s_i + o_i) % 3 != 2:
                OperatorSourceFactory(operator=op, source=s, weight=1 + (s_i * 7 + o_i * 3) % 10)
    n = 60
    _, errors = run_concurrently(
        n,
        lambda i: contact_register(external_id=f"multi-{i}", source_id=sources[i % 3].pk, rng=random.Random(1000 + i)),
    )
    assert errors == []
    assert Contact.objects.count() == n
    total_capacity = sum(op.max_load for op in ops)
    assert Contact.objects.filter(operator__isnull=False).count() == total_capacity
    assert_no_overshoot()


def test_concurrent_first_contacts_of_one_new_lead_make_one_lead():
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=50))
    results, errors = run_concurrently(
        12, lambda i: contact_register(external_id=" NEW@Lead.io ", source_id=link.source_id)
    )
    assert errors == []
    assert Lead.objects.filter(external_id="new@lead.io").count() == 1
    assert Contact.objects.count() == 12
    assert len({c.lead_id for c in results}) == 1
    assert_no_overshoot()


def test_closes_and_registrations_interleaved_keep_books_balanced():
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=5))
    opened = [contact_register(external_id=f"pre-{i}", source_id=link.source_id) for i in range(5)]

    def work(i):
        if i < 5:
            return contact_close(contact_id=opened[i].pk)
        if i < 10:  # double closes race with the first ones
            return contact_close(contact_id=opened[i - 5].pk)
        return contact_register(external_id=f"new-{i}", source_id=link.source_id, rng=random.Random(i))

    _, errors = run_concurrently(30, work)
    assert errors == []
    assert Contact.objects.filter(pk__in=[c.pk for c in opened], status="closed").count() == 5
    assert Operator.objects.get(pk=link.operator_id).open_load <= 5
    assert_no_overshoot()
