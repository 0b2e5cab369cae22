"""Webhook endpoints: registration, changes and secret rotation, each checked against SSRF.

The signing secret is generated here and returned once, by `webhook_endpoint_create` and
`webhook_endpoint_rotate_secret`; nothing reads it back out afterwards except the signer."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from crm.errors import DomainError, NotFoundError
from crm.models import Source, WebhookDelivery, WebhookEndpoint, WebhookEventType
from crm.webhooks import transport
from crm.webhooks.signing import secret_generate

_UNSET = object()


def webhook_url_check(*, url: str, resolver: transport.Resolver | None = None) -> None:
    """Raise DomainError(field="url") unless `url` is an http(s) URL whose host resolves only to
    public addresses (any address with WEBHOOK_ALLOW_PRIVATE_ADDRESSES)."""
    try:
        transport.url_target(
            url,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
            resolver=resolver,
        )
    except transport.AddressRefusedError as exc:
        raise DomainError(str(exc), field="url", code="url_refused") from exc


def _events_clean(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(WebhookEventType.values))
    if unknown:
        raise DomainError(
            ngettext("Unknown event type: %(types)s.", "Unknown event types: %(types)s.", len(unknown))
            % {"types": ", ".join(unknown)},
            field="events",
        )
    if not events:
        raise DomainError(gettext("Choose at least one event type."), field="events")
    # Stored in the vocabulary's order, once each.
    return [value for value in WebhookEventType.values if value in events]


def _source_check(source_id: int | None) -> None:
    if source_id is not None and not Source.objects.filter(pk=source_id).exists():
        raise NotFoundError(gettext("Source %(id)d does not exist.") % {"id": source_id}, field="source_id")


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str


def webhook_endpoint_create(
    *,
    url: str,
    events: list[str],
    source_id: int | None = None,
    is_active: bool = True,
    description: str = "",
    actor=None,
    resolver: transport.Resolver | None = None,
) -> EndpointWithSecret:
    """Register an endpoint. Returns it with its new secret, which is never shown again."""
    events = _events_clean(events)
    webhook_url_check(url=url, resolver=resolver)
    _source_check(source_id)
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=events,
        source_id=source_id,
        is_active=is_active,
        description=description,
        secret=secret,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return EndpointWithSecret(endpoint, secret)


def webhook_endpoint_update(
    *,
    endpoint_id: int,
    url: str | object = _UNSET,
    events: list[str] | object = _UNSET,
    source_id: int | None | object = _UNSET,
    is_active: bool | object = _UNSET,
    description: str | object = _UNSET,
    resolver: transport.Resolver | None = None,
) -> WebhookEndpoint:
    """Change the given fields. A new URL is checked like a new endpoint's."""
    changes = {}
    if url is not _UNSET:
        webhook_url_check(url=url, resolver=resolver)
        changes["url"] = url
    if events is not _UNSET:
        changes["events"] = _events_clean(events)
    if source_id is not _UNSET:
        _source_check(source_id)
        changes["source_id"] = source_id
    if is_active is not _UNSET:
        changes["is_active"] = is_active
    if description is not _UNSET:
        changes["description"] = description
    if changes and not WebhookEndpoint.objects.filter(pk=endpoint_id).update(**changes):
        raise NotFoundError(gettext("Webhook endpoint %(id)d does not exist.") % {"id": endpoint_id})
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError(gettext("Webhook endpoint %(id)d does not exist.") % {"id": endpoint_id})
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint_id: int, now=None) -> EndpointWithSecret:
    """Give the endpoint a new secret. The current one keeps signing too (a second signature
    in `webhook-signature`) for WEBHOOK_SECRET_GRACE, so receivers can switch without missing
    a delivery; a rotation during a grace period ends the older one."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked so that two concurrent rotations cannot both keep the same "previous" secret
        # and lose one of the new ones.
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None:
            raise NotFoundError(gettext("Webhook endpoint %(id)d does not exist.") % {"id": endpoint_id})
        secret = secret_generate()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + settings.WEBHOOK_SECRET_GRACE
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return EndpointWithSecret(endpoint, secret)


def webhook_endpoint_secrets(endpoint: WebhookEndpoint, *, now=None) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its
    grace period."""
    now = now or timezone.now()
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def webhook_delivery_retry_now(*, delivery_id: int, now=None) -> WebhookDelivery:
    """Put a delivery (pending or failed) first in line: due now, with a new retry horizon if it
    had failed. A delivered one is left alone (its receiver has it)."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked against the worker recording an attempt of the same delivery meanwhile.
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFoundError(gettext("Webhook delivery %(id)d does not exist.") % {"id": delivery_id})
        if delivery.status == WebhookDelivery.Status.SUCCEEDED:
            raise DomainError(gettext("Delivery %(id)d was delivered already.") % {"id": delivery_id}, code="delivered")
        if delivery.status == WebhookDelivery.Status.FAILED:
            delivery.give_up_at = now + settings.WEBHOOK_RETRY_HORIZON
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = now
        delivery.save(update_fields=["status", "next_attempt_at", "give_up_at"])
    return delivery
