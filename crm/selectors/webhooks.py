"""The outgoing webhooks at a glance: backlog and failing endpoints."""

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from crm.models import (
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)


def webhook_backlog(*, now=None) -> dict:
    """The webhook outbox at a glance, for /healthz/webhooks and the dashboard: events not yet
    fanned out (the worker's own lag), deliveries not yet delivered (the receivers' lag), and
    the age of the oldest undelivered event. Two aggregate queries on partial indexes, whose
    size is the backlog, not the history."""
    now = now or timezone.now()
    events = Event.objects.filter(dispatched_at__isnull=True).aggregate(count=Count("id"), oldest=Min("occurred_at"))
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, endpoint__is_active=True).aggregate(
        count=Count("id"), oldest=Min("created_at"), oldest_event=Min("event__occurred_at")
    )
    oldest = min((t for t in (events["oldest"], pending["oldest_event"], pending["oldest"]) if t), default=None)

    def age(t):
        return round(max((now - t).total_seconds(), 0.0), 3) if t else None

    return {
        "undispatched_events": events["count"],
        "oldest_undispatched_age_seconds": age(events["oldest"]),
        "pending_deliveries": pending["count"],
        "oldest_undelivered_age_seconds": age(oldest),
    }


def webhook_failing_endpoints(*, since=None, now=None) -> list[WebhookEndpoint]:
    """Active endpoints whose receiver is failing: a delivery waiting for a retry (attempted,
    not delivered) or a delivery given up on since `since` (default: the last retry horizon).
    Each carries `retrying`, `failed` and `last_failure_at`."""
    now = now or timezone.now()
    since = since or now - settings.WEBHOOK_RETRY_HORIZON
    retrying = Q(deliveries__status=WebhookDelivery.Status.PENDING, deliveries__attempts__gt=0)
    failed = Q(deliveries__status=WebhookDelivery.Status.FAILED, deliveries__last_attempt_at__gte=since)
    rows = (
        WebhookEndpoint.objects.filter(is_active=True)
        .annotate(
            retrying=Count("deliveries", filter=retrying),
            failed=Count("deliveries", filter=failed),
            last_failure_at=Max("deliveries__last_attempt_at", filter=retrying | failed),
        )
        .filter(Q(retrying__gt=0) | Q(failed__gt=0))
        .order_by("-last_failure_at")
    )
    return list(rows)
