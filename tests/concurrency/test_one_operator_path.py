"""The intake's one-operator path (crm.services.intake): it decides on an unlocked read of
the source, then claims the chosen operator's room with his row lock alone. Whatever changed
between the read and the claim, the contact ends where the source's locked path would put
it; and intakes of one source that go to different operators do not wait for each other."""

import random
import threading

import pytest
from django.db import connection, connections, transaction

from crm.models import Contact, Event, Lead, Operator
from crm.services import intake
from crm.services.assignment import Candidate, choose_operator
from crm.services.intake import contact_register
from crm.services.intake_claim import claim_for_intake
from tests.concurrency.test_capacity import assert_no_overshoot
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def two_operators():
    source = SourceFactory()
    first = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=2), weight=1).operator
    second = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=2), weight=1).operator
    return source, first, second


def seed_choosing(operator, others) -> int:
    """A seed for which the weighted choice between equal candidates picks `operator`."""
    candidates = [Candidate(op.pk, op.name, 1, True, 0, 2) for op in sorted([operator, *others], key=lambda o: o.pk)]
    return next(s for s in range(1000) if choose_operator(candidates, rng=random.Random(s)).operator_id == operator.pk)


def read_changed(monkeypatch, change):
    """The one-operator path decides on `change(read)` instead of the read it made (with the
    lead's upsert, intake_claim.lead_touch_and_read)."""
    real = intake.lead_touch_and_read

    def patched(upsert, source_id):
        lead, created, read = real(upsert, source_id)
        return lead, created, change(*read)

    monkeypatch.setattr(intake, "lead_touch_and_read", patched)


def read_as_before(monkeypatch, operator, **fields):
    """The one-operator path's read shows `operator` with `fields` as they were before a
    change that another transaction committed just after the read (made here beforehand)."""

    def stale(ctx, waiting):
        for name, value in fields.items():
            setattr(ctx.operators[operator.pk], name, value)
        return ctx, waiting

    read_changed(monkeypatch, stale)


def test_an_operator_filled_after_the_read_is_not_overfilled(monkeypatch):
    source, first, second = two_operators()
    for i in range(2):
        contact_register(
            external_id=f"fill-{i}", source_id=source.pk, rng=random.Random(seed_choosing(first, [second]))
        )
    assert Operator.objects.get(pk=first.pk).open_load == 2
    read_as_before(monkeypatch, first, open_load=0)
    contact = contact_register(external_id="a", source_id=source.pk, rng=random.Random(seed_choosing(first, [second])))
    # The claim found him full: rolled back, and the source's path gave it to the other one.
    assert contact.operator_id == second.pk
    assert Operator.objects.get(pk=second.pk).open_load == 1
    assert Operator.objects.get(pk=first.pk).open_load == 2
    assert_no_overshoot()


def test_an_operator_deactivated_after_the_read_rolls_back_to_the_source_path(monkeypatch):
    source, first, second = two_operators()
    Operator.objects.filter(pk=first.pk).update(is_active=False)
    read_as_before(monkeypatch, first, is_active=True)
    contact = contact_register(external_id="a", source_id=source.pk, rng=random.Random(seed_choosing(first, [second])))
    assert contact.operator_id == second.pk
    assert contact.assignment["candidates"][0]["excluded"] == "inactive"
    # The claim on the first was rolled back with everything else of the first attempt.
    assert Operator.objects.get(pk=first.pk).open_load == 0
    assert Operator.objects.get(pk=second.pk).open_load == 1
    assert Lead.objects.count() == 1 and Contact.objects.count() == 1
    assert Event.objects.filter(contact=contact).count() == 2
    assert_no_overshoot()


def test_a_contact_left_waiting_after_the_read_is_not_jumped(monkeypatch):
    source, _first, _second = two_operators()
    older = ContactFactory(source=source)  # waiting (no operator)
    # As if the older contact was left waiting just after our read.
    read_changed(monkeypatch, lambda ctx, _waiting: (ctx, False))
    contact = contact_register(external_id="late", source_id=source.pk, rng=random.Random(1))
    # The insert saw the older contact in its own statement, after the claim: rolled back, and
    # the source's path put it behind the queue.
    assert contact.operator_id is None and contact.unassigned_reason == "behind_queue"
    assert Operator.objects.filter(open_load__gt=0).count() == 0
    assert Contact.objects.filter(pk=older.pk, operator__isnull=True).exists()
    assert_no_overshoot()


def test_intakes_to_different_operators_of_one_source_do_not_wait_for_each_other():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every writer at BEGIN")
    source, first, second = two_operators()
    Operator.objects.filter(pk=first.pk).update(max_load=5)  # room left after the holder's claim
    holding, release = threading.Event(), threading.Event()

    def hold_the_first_operator() -> None:
        # An intake on the first operator, stopped between its claim and its commit.
        try:
            with transaction.atomic():
                assert claim_for_intake(first.pk) is not None
                holding.set()
                release.wait(60)
        finally:
            connections.close_all()

    done = []

    def register_to_the_second() -> None:
        try:
            rng = random.Random(seed_choosing(second, [first]))
            done.append(contact_register(external_id="b", source_id=source.pk, rng=rng))
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_first_operator)
    holder.start()
    try:
        assert holding.wait(30)
        other = threading.Thread(target=register_to_the_second)
        other.start()
        # With every operator of the source locked per intake, this would wait for the holder.
        other.join(30)
        finished_while_held = not other.is_alive()
    finally:
        release.set()
        holder.join(30)
        other.join(30)
    assert finished_while_held
    assert done[0].operator_id == second.pk
    assert Operator.objects.get(pk=first.pk).open_load == 1  # the holder's claim committed
    assert Operator.objects.get(pk=second.pk).open_load == 1
    assert Contact.objects.get().operator_id == second.pk
