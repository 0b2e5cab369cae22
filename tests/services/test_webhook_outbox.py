"""The outbox and the worker: events become signed deliveries, retried with backoff, in order
per contact. Time is moved forward (the `now` the worker is given), never slept."""

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import WebhookVerificationError

from crm.models import Event, EventType, WebhookAttempt, WebhookDelivery, WebhookEventType
from crm.services.events import event_record
from crm.services.webhook_outbox import backoff_delay, webhook_fan_out, webhook_work
from crm.services.webhook_rounds import webhook_work_for
from crm.services.webhooks import webhook_endpoint_create, webhook_endpoint_rotate_secret
from tests.factories import ContactFactory, OperatorFactory, SourceFactory

pytestmark = pytest.mark.django_db

ALL = list(WebhookEventType.values)


def _endpoint(receiver, events=None, **kwargs):
    created = webhook_endpoint_create(url=receiver.url, events=events or ALL, **kwargs)
    return created.endpoint, created.secret


def _drain(now=None, rng=None, rounds=20):
    """Run the worker until it has nothing left to do at `now`."""
    for _ in range(rounds):
        dispatched, run = webhook_work(now=now, rng=rng)
        if not dispatched and not run.claimed:
            return
    raise AssertionError("the worker kept finding work")


def _contact_event(type_, contact, **data):
    return event_record(type=type_, contact=contact, source=contact.source, data=data)


def test_each_event_type_is_delivered_with_a_valid_signature(receiver):
    _, secret = _endpoint(receiver)
    operator = OperatorFactory(name="Ann")
    contact = ContactFactory(operator=operator, unassigned_reason="")
    events = [
        _contact_event(EventType.CONTACT_REGISTERED, contact),
        _contact_event(EventType.CONTACT_ASSIGNED, contact, via="intake", to_operator_id=operator.pk),
        _contact_event(EventType.CONTACT_WAITING, contact, reason="all_at_capacity"),
        _contact_event(EventType.CONTACT_TRANSFERRED, contact, from_operator_id=operator.pk, to_operator_id=None),
        _contact_event(EventType.CONTACT_CLOSED, contact),
        event_record(type=EventType.OPERATOR_AVAILABILITY_CHANGED, operator=operator, data={"availability": "away"}),
    ]
    _drain()
    by_id = {r.message_id: r for r in receiver.received}
    assert len(receiver.received) == len(by_id) == len(events)
    # The contact's five arrive in their order (the operator's event is ordered apart).
    contact_ids = [r.message_id for r in receiver.received if r.json()["type"].startswith("contact.")]
    assert contact_ids == [f"evt_{e.pk}" for e in events[:5]]
    for event in events:
        payload = by_id[f"evt_{event.pk}"].verify(secret)
        assert payload["type"] == event.type
    assert by_id[f"evt_{events[1].pk}"].json()["data"]["via"] == "intake"
    assert by_id[f"evt_{events[0].pk}"].json()["data"]["contact"]["id"] == contact.pk
    assert by_id[f"evt_{events[5].pk}"].json()["data"]["operator"]["name"] == "Ann"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert WebhookAttempt.objects.filter(succeeded=True, status_code=200).count() == len(events)


def test_a_wrong_secret_does_not_verify(receiver):
    _endpoint(receiver)
    other_secret = webhook_endpoint_create(url=receiver.url, events=ALL).secret
    Event.objects.all().delete()
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    _drain()
    # Two endpoints, two deliveries, each signed with its own endpoint's secret only.
    assert len(receiver.received) == 2
    with pytest.raises(WebhookVerificationError):
        receiver.received[0].verify(other_secret)
    receiver.received[1].verify(other_secret)


def test_rotated_secret_signs_with_both_during_the_grace_period(receiver, settings):
    endpoint, old = _endpoint(receiver)
    new = webhook_endpoint_rotate_secret(endpoint_id=endpoint.pk).secret
    assert new != old and new.startswith("whsec_")
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    _drain()
    received = receiver.received[-1]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    received.verify(old)
    received.verify(new)
    # After the grace period only the new secret signs.
    later = timezone.now() + settings.WEBHOOK_SECRET_GRACE + timedelta(seconds=1)
    _contact_event(EventType.CONTACT_CLOSED, ContactFactory())
    _drain(now=later)
    received = receiver.received[-1]
    received.verify(new)
    with pytest.raises(WebhookVerificationError):
        received.verify(old)


def test_only_subscribed_types_and_the_chosen_source_are_delivered(receiver):
    source, other = SourceFactory(), SourceFactory()
    _endpoint(receiver, events=[EventType.CONTACT_CLOSED], source_id=source.pk)
    mine, theirs = ContactFactory(source=source), ContactFactory(source=other)
    wanted = _contact_event(EventType.CONTACT_CLOSED, mine)
    _contact_event(EventType.CONTACT_REGISTERED, mine)
    _contact_event(EventType.CONTACT_CLOSED, theirs)
    event_record(type=EventType.LEAD_ERASED, data={})
    _drain()
    assert receiver.message_ids() == [f"evt_{wanted.pk}"]
    # Every event is dispatched, matched or not: none stays in the outbox.
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_events_before_the_endpoint_existed_are_not_sent(receiver):
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    webhook_fan_out()
    _endpoint(receiver)
    _drain()
    assert receiver.received == []


def test_inactive_endpoint_gets_nothing(receiver):
    _endpoint(receiver, is_active=False)
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    _drain()
    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_rolled_back_change_emits_nothing(receiver):
    _endpoint(receiver)
    contact = ContactFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        _contact_event(EventType.CONTACT_CLOSED, contact)
        raise RuntimeError("the change fails after its event was written")
    _drain()
    assert not Event.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert receiver.received == []


def test_receiver_down_is_retried_with_backoff_then_delivered(receiver):
    _, secret = _endpoint(receiver)
    event = _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    receiver.stop()
    now = timezone.now()
    rng = random.Random(1)
    _drain(now=now, rng=rng)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    first_wait = delivery.next_attempt_at - now
    # BASE is 10 s; with equal jitter the first wait is 5..10 s.
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=10)
    # Not due yet: a round just before the next attempt sends nothing.
    _drain(now=delivery.next_attempt_at - timedelta(milliseconds=1), rng=rng)
    assert WebhookDelivery.objects.get().attempts == 1
    now = delivery.next_attempt_at
    _drain(now=now, rng=rng)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    second_wait = delivery.next_attempt_at - now
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=20)
    receiver.start()
    _drain(now=delivery.next_attempt_at, rng=rng)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [
        (1, None, False),
        (2, None, False),
        (3, 200, True),
    ]
    assert all(a.error for a in attempts[:2]) and all(a.finished_at for a in attempts)
    assert receiver.message_ids() == [f"evt_{event.pk}"]
    receiver.received[0].verify(secret)


def test_receiver_failing_forever_is_given_up_after_the_horizon(receiver, settings):
    _endpoint(receiver)
    receiver.status = 500
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    start = timezone.now()
    rng = random.Random(2)
    now = start
    for _ in range(200):
        _drain(now=now, rng=rng)
        delivery = WebhookDelivery.objects.get()
        if delivery.status != "pending":
            break
        now = delivery.next_attempt_at
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None and delivery.delivered_at is None
    # Every attempt kept, each with its status and a capped excerpt; the last one inside the horizon.
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert len(attempts) == delivery.attempts == len(receiver.received)
    assert {a.status_code for a in attempts} == {500}
    assert all(0 < len(a.response_excerpt) <= 1024 for a in attempts)
    assert attempts[-1].started_at <= start + settings.WEBHOOK_RETRY_HORIZON
    # Doubling from 10 s to the 1 h ceiling, then hourly (jittered down by up to half): a day
    # takes between 20 and 60 attempts.
    assert 20 <= len(attempts) <= 60
    assert attempts[-1].started_at - attempts[0].started_at > settings.WEBHOOK_RETRY_HORIZON / 2


def test_backoff_doubles_up_to_the_ceiling_with_jitter(settings):
    rng = random.Random(3)
    for attempts, full in [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (30, 3600), (200, 3600)]:
        delay = backoff_delay(attempts, rng=rng).total_seconds()
        assert full / 2 <= delay <= full


def test_a_closed_never_overtakes_its_assigned(receiver):
    _endpoint(receiver)
    a, b = ContactFactory(), ContactFactory()
    assigned = _contact_event(EventType.CONTACT_ASSIGNED, a, via="queue")
    closed = _contact_event(EventType.CONTACT_CLOSED, a)
    other = _contact_event(EventType.CONTACT_REGISTERED, b)
    receiver.status = 503
    now = timezone.now()
    _drain(now=now)
    # The first round tries `assigned` and the other contact's event, never `closed`.
    assert sorted(receiver.message_ids()) == sorted([f"evt_{assigned.pk}", f"evt_{other.pk}"])
    # Much later, still failing: `closed` still waits behind `assigned`.
    now += timedelta(minutes=30)
    _drain(now=now)
    assert f"evt_{closed.pk}" not in receiver.message_ids()
    receiver.status = 200
    now += timedelta(hours=2)
    _drain(now=now)
    delivered = [r.message_id for r in receiver.received if r.message_id != f"evt_{other.pk}"]
    assert delivered[-2:] == [f"evt_{assigned.pk}", f"evt_{closed.pk}"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    first_try_of_closed = WebhookAttempt.objects.filter(delivery__event=closed).order_by("id").first()
    assigned_done = WebhookAttempt.objects.get(delivery__event=assigned, succeeded=True)
    assert first_try_of_closed.pk > assigned_done.pk


def test_a_given_up_delivery_no_longer_holds_back_the_contact(receiver, settings):
    _endpoint(receiver)
    contact = ContactFactory()
    _contact_event(EventType.CONTACT_ASSIGNED, contact, via="intake")
    closed = _contact_event(EventType.CONTACT_CLOSED, contact)
    receiver.status = 500
    now = timezone.now()
    _drain(now=now)
    receiver.status = 200
    _drain(now=now + settings.WEBHOOK_RETRY_HORIZON * 2)
    # The first was given up (its next retry fell past the horizon), the second went through.
    assert WebhookDelivery.objects.get(event=closed).status == "succeeded"


def test_redirects_are_not_followed(receiver):
    _endpoint(receiver)
    receiver.status = 302
    _contact_event(EventType.CONTACT_REGISTERED, ContactFactory())
    _drain(now=timezone.now())
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code, delivery.attempts) == ("pending", 302, 1)
    assert len(receiver.received) == 1


def test_body_is_rendered_when_sent_so_nothing_personal_waits_in_the_outbox(receiver):
    _endpoint(receiver)
    contact = ContactFactory(lead__external_id="ann@example.com")
    _contact_event(EventType.CONTACT_REGISTERED, contact)
    webhook_fan_out()
    assert "ann@example.com" not in str(list(WebhookDelivery.objects.values()))
    contact.lead.external_id = "erased-1"
    contact.lead.save()
    _drain()
    assert receiver.received[0].json()["data"]["contact"]["external_id"] == "erased-1"


class StepClock:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step):
        self.step, self.t = step, 0.0

    def __call__(self):
        self.t += self.step
        return self.t


def test_a_bounded_round_stops_when_its_budget_is_spent_and_says_work_is_left(receiver):
    _endpoint(receiver, events=[EventType.CONTACT_CLOSED])
    for _ in range(5):
        event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    # Each reading of the clock is 0.4 s later: attempts end at 0.4, 0.8, 1.2 past the start.
    done = webhook_work_for(seconds=1.0, clock=StepClock(0.4))
    assert (done.events, done.attempts, done.succeeded, done.busy) == (5, 3, 3, True)
    assert len(receiver.received) == 3
    # The claim took all five; the two not attempted were given back: due, not leased, and
    # without an attempt row.
    untouched = WebhookDelivery.objects.filter(
        status="pending", attempts=0, next_attempt_at__lte=timezone.now(), last_attempt_at__isnull=True
    )
    assert untouched.count() == 2
    assert WebhookAttempt.objects.count() == 3
    done = webhook_work_for(seconds=1.0, clock=StepClock(0.4))
    assert (done.events, done.attempts, done.busy) == (0, 2, False)
    assert len(receiver.received) == 5


def test_a_bounded_round_with_no_budget_still_makes_one_attempt(receiver):
    _endpoint(receiver, events=[EventType.CONTACT_CLOSED])
    for _ in range(2):
        event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    done = webhook_work_for(seconds=0)
    assert (done.attempts, done.busy) == (1, True)
    assert len(receiver.received) == 1
