"""Stored idempotency keys (crm.models.IdempotencyKey) expire: the purge. The protocol itself
(the header, the stored and replayed responses) belongs to the API: crm.api.idempotency."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from crm.models import IdempotencyKey


def idempotency_keys_purge(*, older_than: timedelta | None = None) -> int:
    """Delete keys older than the retention (settings.IDEMPOTENCY_KEY_TTL, at least 24 h).
    Returns how many were deleted. A retry after that is processed as a new request."""
    ttl = older_than if older_than is not None else settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - ttl).delete()
    return deleted
