"""The event log: every path that moves a contact writes its events in the same transaction,
in order, with its actor; a refused or rolled-back change writes none."""

import pytest
from django.db import IntegrityError, transaction

from crm.errors import DomainError, NotFoundError
from crm.models import ActorKind, Contact, Event, EventType, EventVia, Source
from crm.services import routing_config
from crm.services.accounts import bot_create
from crm.services.contacts import contact_close, contact_reassign
from crm.services.events import event_record
from crm.services.intake import contact_register
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db


def timeline(contact_id: int) -> list[tuple]:
    return list(
        Event.objects.filter(contact_id=contact_id)
        .order_by("id")
        .values_list("type", "operator_id", "actor_kind", "data__via")
    )


def test_intake_records_registered_then_assigned_with_the_bot(rng):
    link = OperatorSourceFactory()
    bot, _ = bot_create(name="bot")
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng, registered_by=bot)
    events = list(Event.objects.order_by("id"))
    assert [e.type for e in events] == [EventType.CONTACT_REGISTERED, EventType.CONTACT_ASSIGNED]
    registered, assigned = events
    assert registered.contact_id == assigned.contact_id == contact.pk
    assert registered.source_id == assigned.source_id == link.source_id
    assert registered.actor_kind == assigned.actor_kind == ActorKind.BOT
    assert registered.actor_user_id == bot.pk
    assert registered.data == {"lead_id": contact.lead_id, "new_lead": True}
    assert assigned.operator_id == link.operator_id
    assert assigned.data == {"via": "intake", "to_operator_id": link.operator_id, "strategy": "random"}
    assert registered.occurred_at == assigned.occurred_at == contact.created_at


def test_intake_of_a_waiting_contact_records_why(rng):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=0))
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    assert timeline(contact.pk) == [
        (EventType.CONTACT_REGISTERED, None, ActorKind.SYSTEM, None),
        (EventType.CONTACT_WAITING, None, ActorKind.SYSTEM, "intake"),
    ]
    assert Event.objects.get(type=EventType.CONTACT_WAITING).data["reason"] == "all_at_capacity"


def test_staff_registration_is_recorded_as_staff(rng, staff_user):
    source = SourceFactory()
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng, registered_by=staff_user)
    assert {e.actor_kind for e in Event.objects.filter(contact=contact)} == {ActorKind.STAFF}


def test_affinity_hit_reads_via_affinity(rng):
    source = SourceFactory(affinity=True)
    for _ in range(3):
        OperatorSourceFactory(source=source)
    first = contact_register(external_id="again", source_id=source.pk, rng=rng)
    second = contact_register(external_id="again", source_id=source.pk, rng=rng)
    assigned = Event.objects.get(contact=second, type=EventType.CONTACT_ASSIGNED)
    assert assigned.data["via"] == EventVia.AFFINITY
    assert assigned.operator_id == first.operator_id


def test_unknown_source_writes_no_event(rng):
    with pytest.raises(NotFoundError):
        contact_register(external_id="a", source_id=424242, rng=rng)
    assert not Event.objects.exists()


def test_close_records_closed_and_the_queue_assignment_it_allows(rng, staff_user):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    first = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    waiting = contact_register(external_id="b", source_id=link.source_id, rng=rng)
    contact_close(contact_id=first.pk, actor=staff_user, rng=rng)
    closed = Event.objects.get(type=EventType.CONTACT_CLOSED)
    assert (closed.contact_id, closed.operator_id, closed.actor_kind, closed.actor_user_id) == (
        first.pk,
        link.operator_id,
        ActorKind.STAFF,
        staff_user.pk,
    )
    assert timeline(waiting.pk) == [
        (EventType.CONTACT_REGISTERED, None, ActorKind.SYSTEM, None),
        (EventType.CONTACT_WAITING, None, ActorKind.SYSTEM, "intake"),
        (EventType.CONTACT_ASSIGNED, link.operator_id, ActorKind.STAFF, "queue"),
    ]
    # The close comes before the assignment it made possible.
    assert closed.pk < Event.objects.filter(contact=waiting).order_by("-id").first().pk


def test_closing_twice_records_one_close(rng):
    contact = contact_register(external_id="a", source_id=OperatorSourceFactory().source_id, rng=rng)
    contact_close(contact_id=contact.pk)
    contact_close(contact_id=contact.pk)
    assert Event.objects.filter(type=EventType.CONTACT_CLOSED).count() == 1


def test_reassign_records_from_and_to(rng, staff_user):
    source = SourceFactory()
    a = OperatorSourceFactory(source=source, weight=1).operator
    b = OperatorSourceFactory(source=source, weight=0).operator
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    assert contact.operator_id == a.pk
    contact_reassign(contact_id=contact.pk, operator_id=b.pk, actor=staff_user)
    event = Event.objects.filter(contact=contact).order_by("id").last()
    assert event.type == EventType.CONTACT_ASSIGNED
    assert event.operator_id == b.pk
    assert event.data["via"] == "reassign" and event.data["from_operator_id"] == a.pk
    assert event.actor_kind == ActorKind.STAFF


def test_refused_reassign_writes_nothing(rng):
    source = SourceFactory()
    OperatorSourceFactory(source=source)
    full = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=0), weight=0).operator
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    before = Event.objects.count()
    with pytest.raises(DomainError):
        contact_reassign(contact_id=contact.pk, operator_id=full.pk)
    assert Event.objects.count() == before


def test_redistribute_records_waiting_then_queue_assignment(rng, staff_user):
    source = SourceFactory()
    leaving = OperatorSourceFactory(source=source, weight=1).operator
    staying = OperatorSourceFactory(source=source, weight=0).operator
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    assert contact.operator_id == leaving.pk
    routing_config.link_update(link_id=staying.links.get().pk, weight=5)
    routing_config.operator_update(operator_id=leaving.pk, is_active=False, redistribute=True, actor=staff_user)
    rows = timeline(contact.pk)[-2:]
    assert rows == [
        (EventType.CONTACT_WAITING, None, ActorKind.STAFF, "redistribute"),
        (EventType.CONTACT_ASSIGNED, staying.pk, ActorKind.STAFF, "queue"),
    ]
    waiting = Event.objects.get(contact=contact, type=EventType.CONTACT_WAITING, data__via="redistribute")
    assert waiting.data["from_operator_id"] == leaving.pk


def test_a_rolled_back_change_leaves_no_event(rng):
    link = OperatorSourceFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_register(external_id="a", source_id=link.source_id, rng=rng)
        raise RuntimeError("the caller's transaction fails afterwards")
    assert not Event.objects.exists() and not Contact.objects.exists()


def test_contact_event_needs_its_contact_and_source():
    with pytest.raises(IntegrityError), transaction.atomic():
        event_record(type=EventType.CONTACT_CLOSED)
    assert not Event.objects.exists()


def test_operator_event_needs_its_operator():
    with pytest.raises(IntegrityError), transaction.atomic():
        event_record(type=EventType.OPERATOR_AVAILABILITY_CHANGED)


def test_a_user_actor_needs_a_user():
    contact = ContactFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(
            type=EventType.CONTACT_CLOSED, contact=contact, source=contact.source, actor_kind=ActorKind.STAFF
        )


def test_events_protect_what_they_reference(rng):
    contact = contact_register(external_id="a", source_id=SourceFactory().pk, rng=rng)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - ProtectedError or IntegrityError
        Source.objects.filter(pk=contact.source_id).delete()
    assert Event.objects.count() == 2


def test_a_closing_user_cannot_be_deleted_without_losing_attribution(rng):
    user = UserFactory(is_staff=True)
    contact = contact_register(external_id="a", source_id=OperatorSourceFactory().source_id, rng=rng)
    contact_close(contact_id=contact.pk, actor=user)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - ProtectedError
        user.delete()
    assert Event.objects.filter(actor_user=user).count() == 1
