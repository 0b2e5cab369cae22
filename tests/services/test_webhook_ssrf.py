"""Receivers may not be inside our network: checked at registration and at every delivery."""

import pytest
from django.utils import timezone

from crm.errors import DomainError
from crm.models import EventType, WebhookAttempt, WebhookDelivery
from crm.services.events import event_record
from crm.services.webhook_outbox import webhook_work
from crm.services.webhooks import webhook_endpoint_create, webhook_url_check
from crm.webhooks import transport
from tests.factories import ContactFactory


@pytest.fixture
def no_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False


def _resolver(*addresses):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # shared address space (a metadata service too)
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(no_private, address):
    with pytest.raises(DomainError) as caught:
        webhook_url_check(url="https://hooks.example.com/x", resolver=_resolver(address))
    assert caught.value.field == "url"


def test_a_name_with_one_private_address_among_public_ones_is_refused(no_private):
    with pytest.raises(DomainError):
        webhook_url_check(url="https://hooks.example.com/x", resolver=_resolver("93.184.215.14", "10.0.0.1"))


def test_public_address_is_accepted(no_private):
    webhook_url_check(url="https://hooks.example.com/x", resolver=_resolver("93.184.215.14", "2606:2800:21f::1"))


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://[::1]:8080/x", "http://localhost/x"])
def test_literal_and_local_names_are_refused_without_any_lookup_outside(no_private, url):
    with pytest.raises(DomainError):
        webhook_url_check(url=url)


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "file:///etc/passwd", "gopher://x/", "//x/y", "http://"])
def test_only_http_and_https(url):
    with pytest.raises(DomainError):
        webhook_url_check(url=url, resolver=_resolver("93.184.215.14"))


def test_allowed_private_addresses_pass_when_configured():
    # settings.test turns WEBHOOK_ALLOW_PRIVATE_ADDRESSES on for the tests' loopback receivers.
    webhook_url_check(url="http://127.0.0.1:9/x")


@pytest.mark.django_db
def test_dns_changing_to_a_private_address_is_refused_at_delivery(no_private, receiver, monkeypatch):
    """Registered while the name was public; by delivery time it points at loopback (DNS
    rebinding). The attempt is refused and recorded; nothing reaches the address."""
    public = _resolver("93.184.215.14")
    url = f"http://hooks.example.com:{receiver.port}/hook"
    webhook_endpoint_create(url=url, events=[EventType.CONTACT_REGISTERED], resolver=public)
    monkeypatch.setattr(transport, "resolve", _resolver("127.0.0.1"))
    event_record(type=EventType.CONTACT_REGISTERED, contact=ContactFactory())
    webhook_work(now=timezone.now())
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    attempt = WebhookAttempt.objects.get()
    assert attempt.error.startswith("refused:") and "127.0.0.1" in attempt.error
    assert receiver.received == []


def test_connection_goes_to_the_checked_address(receiver):
    """The name resolves once; the socket connects to that address while Host stays the name."""
    seen = []

    def resolver(host, port):
        seen.append(host)
        return ["127.0.0.1"]

    result = transport.post(
        f"http://hooks.invalid:{receiver.port}/hook",
        body=b"{}",
        headers={"content-type": "application/json", "webhook-id": "x"},
        allow_private=True,
        connect_timeout=5,
        read_timeout=5,
        max_response_bytes=16,
        resolver=resolver,
    )
    assert result.status_code == 200 and len(result.excerpt) <= 16
    assert seen == ["hooks.invalid"]
    assert receiver.received[0].headers["host"] == f"hooks.invalid:{receiver.port}"


def test_response_is_read_up_to_the_cap(receiver):
    receiver.status = 500  # its body is over 5000 bytes
    result = transport.post(
        receiver.url,
        body=b"{}",
        headers={},
        allow_private=True,
        connect_timeout=5,
        read_timeout=5,
        max_response_bytes=100,
    )
    assert result.status_code == 500 and len(result.excerpt) == 100


def test_read_timeout_is_an_error_not_a_hang(receiver):
    receiver.hold.clear()
    try:
        result = transport.post(
            receiver.url,
            body=b"{}",
            headers={},
            allow_private=True,
            connect_timeout=5,
            read_timeout=0.2,
            max_response_bytes=100,
        )
    finally:
        receiver.hold.set()
    assert result.status_code is None and result.error == "timeout"
