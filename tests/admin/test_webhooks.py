"""Webhook endpoints in the admin: the secret shown once, test, rotate, retry now; en + ru."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from crm.models import EventType, WebhookDelivery, WebhookEndpoint
from crm.services.events import event_record
from crm.services.webhook_outbox import webhook_fan_out, webhook_work
from crm.services.webhooks import webhook_endpoint_create
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:crm_webhookendpoint_add")


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
    client.force_login(user)
    return client


@pytest.fixture
def viewer(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_webhookendpoint", "view_webhookdelivery"]))
    client.force_login(user)
    return client


def _form(**fields):
    return {
        "url": "http://127.0.0.1:9/hook",
        "description": "",
        "events": ["contact.closed"],
        "is_active": "on",
    } | fields


def test_add_shows_the_secret_once(staff):
    response = staff.post(ADD, _form())
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert endpoint.events == ["contact.closed"]
    page = staff.get(reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in page and "Send a test event" in page


def test_add_refuses_a_private_address_on_the_field(staff, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = staff.post(ADD, _form(url="http://169.254.169.254/x"))
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_change_goes_through_the_service(staff):
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/a", events=["contact.closed"]).endpoint
    url = reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk])
    inline = {"deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    response = staff.post(
        url, _form(url="http://127.0.0.1:9/b", events=["contact.assigned", "contact.closed"]) | inline
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events) == ("http://127.0.0.1:9/b", ["contact.assigned", "contact.closed"])


def test_rotate_shows_a_new_secret_and_keeps_the_old_for_the_grace(staff):
    created = webhook_endpoint_create(url="http://127.0.0.1:9/a", events=["contact.closed"])
    response = staff.post(reverse("admin:crm_webhookendpoint_rotate", args=[created.endpoint.pk]))
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200 and endpoint.secret in response.content.decode()
    assert endpoint.previous_secret == created.secret and endpoint.previous_secret_expires_at > timezone.now()
    assert created.secret not in response.content.decode()


def test_send_a_test_event_and_see_it_delivered(staff, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["contact.closed"]).endpoint
    response = staff.post(reverse("admin:crm_webhookendpoint_test", args=[endpoint.pk]))
    assert response.status_code == 302
    webhook_work()
    assert receiver.received[0].json()["type"] == "webhook.test"
    page = staff.get(reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "webhook.test" in page


def test_retry_now_makes_a_failed_delivery_due(staff, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["contact.closed"]).endpoint
    event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    webhook_fan_out()
    WebhookDelivery.objects.update(status="failed", next_attempt_at=None, attempts=30)
    page = staff.get(reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "Retry now" in page
    delivery = WebhookDelivery.objects.get()
    response = staff.post(reverse("admin:crm_webhookendpoint_retry", args=[endpoint.pk, delivery.pk]))
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
    webhook_work()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_buttons_need_change_permission(viewer):
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/a", events=["contact.closed"]).endpoint
    assert viewer.post(reverse("admin:crm_webhookendpoint_rotate", args=[endpoint.pk])).status_code == 403
    assert viewer.post(reverse("admin:crm_webhookendpoint_test", args=[endpoint.pk])).status_code == 403
    assert not WebhookDelivery.objects.exists()
    assert WebhookEndpoint.objects.get().previous_secret == ""


def test_buttons_are_post_only(staff):
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/a", events=["contact.closed"]).endpoint
    assert staff.get(reverse("admin:crm_webhookendpoint_rotate", args=[endpoint.pk])).status_code == 405


def _failed_delivery(receiver):
    """An endpoint whose receiver answers 500, and the delivery of one event that failed once."""
    endpoint = webhook_endpoint_create(url=receiver.url, events=["contact.closed"]).endpoint
    receiver.status = 500
    event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    webhook_work()
    return endpoint, WebhookDelivery.objects.get()


def test_delivery_page_lists_attempts_and_changelist_shows_failing(staff, receiver):
    endpoint, delivery = _failed_delivery(receiver)
    page = staff.get(reverse("admin:crm_webhookdelivery_change", args=[delivery.pk])).content.decode()
    assert "receiver error" in page and "500" in page
    listing = staff.get(reverse("admin:crm_webhookendpoint_changelist")).content.decode()
    assert "1 retrying" in listing and endpoint.url in listing


def test_dashboard_shows_backlog_and_failing_endpoints(staff, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["contact.closed"]).endpoint
    receiver.status = 500
    event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    webhook_work()
    event_record(type=EventType.CONTACT_CLOSED, contact=ContactFactory())
    page = staff.get(reverse("admin:routing_dashboard")).content.decode()
    assert 'id="webhook-undispatched" data-value="1"' in page
    assert 'id="webhook-pending" data-value="1"' in page
    assert f'data-endpoint-id="{endpoint.pk}" data-retrying="1" data-failed="0"' in page


def test_endpoint_page_and_dashboard_speak_russian(staff, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["contact.closed"]).endpoint
    page = staff.get(
        reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert "Отправить тестовое событие" in page and "Сменить секрет" in page and "обращение закрыто" in page
    dashboard = staff.get(reverse("admin:routing_dashboard"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Исходящие вебхуки" in dashboard


def test_delivery_and_attempt_rows_are_titled_in_the_users_language(staff, receiver):
    endpoint, delivery = _failed_delivery(receiver)
    page = staff.get(
        reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert f"contact.closed, сообщение {delivery.message_id}" in page
    assert "→" not in page
    page = staff.get(
        reverse("admin:crm_webhookdelivery_change", args=[delivery.pk]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert "попытка 1" in page
