"""Webhooks meet the real producers: the intake, close and reassign write events that reach
receivers; the request path pays nothing for an endpoint, up or down."""

import pytest

from crm.errors import NotFoundError
from crm.models import Event, EventType
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from crm.services.webhook_outbox import webhook_work
from crm.services.webhooks import webhook_endpoint_create
from tests.factories import OperatorFactory, OperatorSourceFactory

ALL = [t for t in EventType.values if t != EventType.LEAD_ERASED]


def _work_until_idle(rounds=2000):
    for _ in range(rounds):
        dispatched, run = webhook_work()
        if not dispatched and not run.claimed:
            return
    raise AssertionError("the worker kept finding work")


@pytest.mark.django_db
def test_intake_and_close_reach_the_receiver_in_order(receiver):
    secret = webhook_endpoint_create(url=receiver.url, events=ALL).secret
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    first = contact_register(external_id="first", source_id=link.source_id)
    second = contact_register(external_id="second", source_id=link.source_id)  # waits: the operator is full
    contact_close(contact_id=first.pk)  # frees room: the second is assigned from the queue
    _work_until_idle()
    got = [(r.verify(secret)["type"], r.json()["data"]) for r in receiver.received]
    by_contact = {}
    for type_, data in got:
        by_contact.setdefault(data["contact"]["id"], []).append((type_, data.get("via")))
    assert by_contact[first.pk] == [
        ("contact.registered", None),
        ("contact.assigned", "intake"),
        ("contact.closed", None),
    ]
    assert by_contact[second.pk] == [
        ("contact.registered", None),
        ("contact.waiting", "intake"),
        ("contact.assigned", "queue"),
    ]


@pytest.mark.django_db
def test_a_refused_intake_emits_nothing(receiver):
    webhook_endpoint_create(url=receiver.url, events=ALL)
    with pytest.raises(NotFoundError):
        contact_register(external_id="nobody", source_id=999999)
    _work_until_idle()
    assert not Event.objects.exists() and receiver.received == []
