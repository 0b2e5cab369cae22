"""The webhook pump on the task engine (huey's immediate mode here; the real consumer, killed
mid-delivery, in tests/concurrency/test_webhooks.py)."""

import pytest
from huey.contrib.djhuey import HUEY

from crm.models import EventType, WebhookDelivery
from crm.services.events import event_record
from crm.services.webhooks import webhook_endpoint_create
from crm.tasks import WEBHOOK_PUMP_LOCK, webhooks_pump
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_pump(settings):
    settings.WEBHOOK_PUMP_SECONDS = 0  # one round


def test_the_periodic_pump_delivers(receiver, short_pump):
    webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_CLOSED])
    event = event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    webhooks_pump()
    assert receiver.message_ids() == [f"evt_{event.pk}"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_a_second_pump_while_one_runs_does_nothing(receiver, short_pump):
    webhook_endpoint_create(url=receiver.url, events=[EventType.CONTACT_CLOSED])
    event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    with HUEY.lock_task(WEBHOOK_PUMP_LOCK):
        webhooks_pump()
    assert receiver.received == [] and not WebhookDelivery.objects.exists()
