"""Availability and routing: only online operators receive contacts, auto-away of idle
logins (time moved forward, never slept), and coming online drains the queue oldest first."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.errors import DomainError, NotFoundError
from crm.models import ActorKind, Contact, Event, EventType, Operator
from crm.services import routing_config
from crm.services.availability import operator_activity_record, operator_availability_set
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.invariants import assert_routing_invariants
from tests.operator_fixtures import with_login

pytestmark = pytest.mark.django_db

Availability = Operator.Availability


@pytest.mark.parametrize("availability", [Availability.AWAY, Availability.OFFLINE])
def test_an_operator_who_is_not_online_receives_nothing(rng, availability):
    link = OperatorSourceFactory(operator=OperatorFactory(availability=availability))
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    assert contact.operator_id is None
    assert contact.unassigned_reason == Contact.UnassignedReason.NOBODY_ONLINE
    record = Contact.objects.get(pk=contact.pk).assignment
    assert record["candidates"][0]["excluded"] == availability


def test_online_operators_share_and_offline_ones_are_skipped(rng):
    source = SourceFactory()
    online = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100)).operator
    OperatorSourceFactory(source=source, operator=OperatorFactory(availability=Availability.OFFLINE))
    for i in range(20):
        assert contact_register(external_id=f"l{i}", source_id=source.pk, rng=rng).operator_id == online.pk


def test_full_operators_are_at_capacity_not_nobody_online(rng):
    source = SourceFactory()
    OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=0))
    OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=0, availability=Availability.OFFLINE))
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    assert contact.unassigned_reason == Contact.UnassignedReason.ALL_AT_CAPACITY


def test_nobody_online_when_the_one_with_room_is_offline(rng):
    source = SourceFactory()
    OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=0))
    OperatorSourceFactory(source=source, operator=OperatorFactory(availability=Availability.OFFLINE))
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    assert contact.unassigned_reason == Contact.UnassignedReason.NOBODY_ONLINE


def test_going_online_drains_the_queue_oldest_first_up_to_his_room(rng, staff_user):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=2, availability=Availability.OFFLINE))
    waiting = [contact_register(external_id=f"l{i}", source_id=link.source_id, rng=rng) for i in range(3)]
    operator_availability_set(operator_id=link.operator_id, availability=Availability.ONLINE, actor=staff_user)
    assigned = set(Contact.objects.filter(operator_id=link.operator_id).values_list("pk", flat=True))
    assert assigned == {waiting[0].pk, waiting[1].pk}
    operator = Operator.objects.get(pk=link.operator_id)
    assert operator.open_load == 2 and operator.availability == Availability.ONLINE
    assert operator.availability_changed_at is not None
    event = Event.objects.get(type=EventType.OPERATOR_AVAILABILITY_CHANGED)
    assert event.operator_id == link.operator_id and event.actor_kind == ActorKind.STAFF
    assert event.data == {"availability": "online", "previous": "offline"}
    drained = Event.objects.filter(type=EventType.CONTACT_ASSIGNED, data__via="queue")
    assert drained.count() == 2 and all(e.pk > event.pk for e in drained)
    assert_routing_invariants()


def test_going_offline_keeps_his_contacts(rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    operator_availability_set(operator_id=link.operator_id, availability=Availability.OFFLINE)
    assert Contact.objects.get(pk=contact.pk).operator_id == link.operator_id
    assert contact_register(external_id="b", source_id=link.source_id, rng=rng).operator_id is None


def test_going_offline_with_redistribute_hands_his_contacts_to_the_others(rng):
    source = SourceFactory()
    leaving = OperatorSourceFactory(source=source, weight=1).operator
    other = OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=1, availability="offline")).operator
    contacts = [contact_register(external_id=f"l{i}", source_id=source.pk, rng=rng) for i in range(2)]
    assert all(c.operator_id == leaving.pk for c in contacts)
    operator_availability_set(operator_id=other.pk, availability=Availability.ONLINE)
    operator_availability_set(operator_id=leaving.pk, availability=Availability.OFFLINE, redistribute=True)
    # The oldest goes to the one with room; the other waits (nobody else online).
    assert Contact.objects.get(pk=contacts[0].pk).operator_id == other.pk
    second = Contact.objects.get(pk=contacts[1].pk)
    assert second.operator_id is None
    assert Operator.objects.get(pk=leaving.pk).open_load == 0
    assert_routing_invariants()


def test_redistribute_without_going_offline_is_refused_and_writes_nothing():
    operator = OperatorFactory(availability=Availability.OFFLINE)
    with pytest.raises(DomainError) as exc:
        operator_availability_set(operator_id=operator.pk, availability=Availability.ONLINE, redistribute=True)
    assert exc.value.field == "redistribute"
    assert Operator.objects.get(pk=operator.pk).availability == Availability.OFFLINE
    assert not Event.objects.exists()


def test_unknown_availability_and_operator_are_refused():
    operator = OperatorFactory()
    with pytest.raises(DomainError):
        operator_availability_set(operator_id=operator.pk, availability="busy")
    with pytest.raises(NotFoundError):
        operator_availability_set(operator_id=424242, availability=Availability.ONLINE)
    assert not Event.objects.exists()


def test_staff_sets_availability_through_operator_update(rng, staff_user):
    link = OperatorSourceFactory(operator=OperatorFactory(availability=Availability.AWAY))
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    routing_config.operator_update(operator_id=link.operator_id, availability=Availability.ONLINE, actor=staff_user)
    assert Contact.objects.get(pk=contact.pk).operator_id == link.operator_id


def test_affinity_goes_to_the_previous_operator_only_when_online(rng):
    source = SourceFactory(affinity=True)
    first_op = OperatorSourceFactory(source=source, weight=1).operator
    second_op = OperatorSourceFactory(source=source, weight=0).operator
    first = contact_register(external_id="again", source_id=source.pk, rng=rng)
    assert first.operator_id == first_op.pk
    routing_config.link_update(link_id=second_op.links.get().pk, weight=1)
    operator_availability_set(operator_id=first_op.pk, availability=Availability.AWAY)
    second = contact_register(external_id="again", source_id=source.pk, rng=rng)
    assert second.operator_id == second_op.pk
    record = Contact.objects.get(pk=second.pk).assignment
    assert record["affinity"] == "miss" and record["affinity_operator_id"] == first_op.pk
    assert next(c for c in record["candidates"] if c["operator_id"] == first_op.pk)["excluded"] == "away"


# --- Auto-away ---------------------------------------------------------------------------------


def test_an_idle_login_counts_as_away_after_the_setting(rng, clock, settings):
    settings.OPERATOR_AWAY_AFTER = __import__("datetime").timedelta(minutes=30)
    operator = with_login(max_load=5)
    link = OperatorSourceFactory(operator=operator)
    assert contact_register(external_id="a", source_id=link.source_id, rng=rng).operator_id == operator.pk
    clock.advance(minutes=29)
    assert contact_register(external_id="b", source_id=link.source_id, rng=rng).operator_id == operator.pk
    clock.advance(minutes=2)
    late = contact_register(external_id="c", source_id=link.source_id, rng=rng)
    assert late.operator_id is None and late.unassigned_reason == Contact.UnassignedReason.NOBODY_ONLINE
    assert Operator.objects.get(pk=operator.pk).availability == Availability.ONLINE  # nothing was written


def test_an_operator_without_login_is_never_auto_away(rng, clock):
    link = OperatorSourceFactory()
    clock.advance(days=3)
    assert contact_register(external_id="a", source_id=link.source_id, rng=rng).operator_id == link.operator_id


def test_a_new_login_is_away_until_he_shows_up(rng):
    from crm.services.accounts import operator_login_create

    link = OperatorSourceFactory()
    operator_login_create(operator_id=link.operator_id, username="newcomer")
    assert contact_register(external_id="a", source_id=link.source_id, rng=rng).operator_id is None


def test_activity_brings_him_back_from_auto_away_and_drains(rng, clock):
    operator = with_login(max_load=5)
    link = OperatorSourceFactory(operator=operator)
    clock.advance(minutes=45)
    waiting = [contact_register(external_id=f"l{i}", source_id=link.source_id, rng=rng) for i in range(2)]
    assert all(c.operator_id is None for c in waiting)
    operator.refresh_from_db()
    assert operator_activity_record(operator=operator) is True
    assert set(Contact.objects.filter(operator=operator).values_list("pk", flat=True)) == {c.pk for c in waiting}
    event = Event.objects.get(type=EventType.OPERATOR_AVAILABILITY_CHANGED)
    assert event.data == {"availability": "online", "previous": "away"}
    assert event.actor_kind == ActorKind.OPERATOR and event.actor_user_id == operator.user_id
    assert_routing_invariants()


def test_activity_is_written_at_most_once_a_minute(clock):
    operator = with_login()
    clock.advance(seconds=30)
    with CaptureQueriesContext(connection) as captured:
        assert operator_activity_record(operator=operator) is False
    assert len(captured.captured_queries) == 0
    clock.advance(seconds=31)
    assert operator_activity_record(operator=operator) is True
    assert Operator.objects.get(pk=operator.pk).last_seen_at == clock.now
    assert not Event.objects.exists()  # he never was away


def test_activity_of_an_offline_operator_keeps_him_offline(rng, clock):
    operator = with_login(availability=Availability.OFFLINE)
    link = OperatorSourceFactory(operator=operator)
    clock.advance(hours=2)
    operator_activity_record(operator=operator)
    assert contact_register(external_id="a", source_id=link.source_id, rng=rng).operator_id is None
    assert Operator.objects.get(pk=operator.pk).availability == Availability.OFFLINE


def test_the_sweep_asks_routings_own_eligibility(rng, clock):
    from crm.services.queue import sources_to_drain

    offline = OperatorSourceFactory(operator=OperatorFactory(availability=Availability.OFFLINE))
    contact_register(external_id="a", source_id=offline.source_id, rng=rng)
    idle = with_login()
    idle_link = OperatorSourceFactory(operator=idle)
    clock.advance(minutes=45)
    contact_register(external_id="b", source_id=idle_link.source_id, rng=rng)
    assert sources_to_drain() == []
    Operator.objects.filter(pk=offline.operator_id).update(availability=Availability.ONLINE)
    assert sources_to_drain() == [offline.source_id]
