"""Operators at work under concurrency, with real threads (own connections, a barrier) on the
suite's database: going online while intakes arrive, transfers racing for the last seat,
activity racing with intakes. Invariants, not timings."""

import random

import pytest
from django.core.exceptions import ValidationError

from crm.errors import DomainError
from crm.models import Contact, Event, EventType, Operator
from crm.services.availability import operator_activity_record, operator_availability_set
from crm.services.contacts import contact_transfer
from crm.services.intake import contact_register
from tests.concurrency.test_capacity import assert_no_overshoot
from tests.conftest import run_concurrently
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.invariants import assert_routing_invariants
from tests.operator_fixtures import with_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_going_online_while_intakes_arrive_serves_the_oldest_first_without_overshoot():
    source = SourceFactory()
    operator = OperatorFactory(max_load=8, availability=Operator.Availability.OFFLINE)
    OperatorSourceFactory(source=source, operator=operator)
    before = [contact_register(external_id=f"early-{i}", source_id=source.pk) for i in range(5)]
    assert all(c.operator_id is None for c in before)

    def job(i: int):
        if i == 0:
            return operator_availability_set(operator_id=operator.pk, availability=Operator.Availability.ONLINE)
        return contact_register(external_id=f"late-{i}", source_id=source.pk, rng=random.Random(i))

    _, errors = run_concurrently(12, job)
    assert errors == []
    assert_no_overshoot()
    assert Operator.objects.get(pk=operator.pk).open_load == 8
    assigned = list(Contact.objects.filter(operator=operator).values_list("pk", flat=True))
    waiting = list(Contact.objects.filter(operator__isnull=True).values_list("pk", flat=True))
    assert len(assigned) == 8 and len(waiting) == 16 - 8
    # Oldest first: every contact that waited before he came online was served, and no
    # contact still waiting is older than one that was served.
    assert {c.pk for c in before} <= set(assigned)
    assert max(assigned) < min(waiting)
    assert_routing_invariants()


def test_two_operators_transferring_to_the_same_colleague_with_one_seat_one_wins():
    source = SourceFactory()
    ann, bob = OperatorFactory(max_load=2), OperatorFactory(max_load=2)
    cid = OperatorFactory(max_load=1)
    for op in (ann, bob, cid):
        OperatorSourceFactory(source=source, operator=op, weight=1)
    # Every contact goes to ann or bob first: cid is offline while they arrive.
    Operator.objects.filter(pk=cid.pk).update(availability="offline")
    contacts = {ann.pk: None, bob.pk: None}
    i = 0
    while None in contacts.values():
        contact = contact_register(external_id=f"l{i}", source_id=source.pk, rng=random.Random(i))
        if contacts.get(contact.operator_id, 0) is None:
            contacts[contact.operator_id] = contact
        i += 1
    Operator.objects.filter(pk=cid.pk).update(availability="online")

    def job(k: int):
        owner = [ann, bob][k]
        return contact_transfer(contact_id=contacts[owner.pk].pk, operator_id=cid.pk, from_operator_id=owner.pk)

    results, errors = run_concurrently(2, job)
    assert len(errors) == 1 and isinstance(errors[0], DomainError) and errors[0].code == "full"
    assert len([r for r in results if r is not None]) == 1
    assert Operator.objects.get(pk=cid.pk).open_load == 1
    assert Contact.objects.filter(operator=cid).count() == 1
    assert Event.objects.filter(type=EventType.CONTACT_TRANSFERRED).count() == 1
    assert_no_overshoot()


def test_activity_back_from_auto_away_races_with_intakes(clock):
    source = SourceFactory()
    operator = with_login(max_load=6)
    OperatorSourceFactory(source=source, operator=operator)
    clock.advance(minutes=45)
    waiting = [contact_register(external_id=f"w{i}", source_id=source.pk) for i in range(3)]
    assert all(c.operator_id is None for c in waiting)
    operator.refresh_from_db()

    def job(i: int):
        if i < 3:
            return operator_activity_record(operator=Operator.objects.get(pk=operator.pk))
        return contact_register(external_id=f"n{i}", source_id=source.pk, rng=random.Random(i))

    _, errors = run_concurrently(10, job)
    assert [e for e in errors if not isinstance(e, ValidationError)] == []
    assert_no_overshoot()
    assert Operator.objects.get(pk=operator.pk).open_load == 6
    assert {c.pk for c in waiting} <= set(Contact.objects.filter(operator=operator).values_list("pk", flat=True))
    # He came back once: one availability event, however many requests raced.
    assert Event.objects.filter(type=EventType.OPERATOR_AVAILABILITY_CHANGED).count() == 1
