"""The webhook outbox: from the event log to signed HTTP deliveries, at least once, in order
per contact.

Three steps, each safe to crash in:

1. **The change** (intake, queue, close, ...) writes its `Event` row in its own transaction and
   nothing else: a receiver's state never touches the request path.
2. **Fan-out** (`webhook_fan_out`) turns undispatched events into one `WebhookDelivery` per
   matching endpoint and stamps the events `dispatched_at`, all in one transaction. It selects
   by `dispatched_at IS NULL`, never by a "last id seen" cursor: ids are handed out at INSERT
   but become visible at COMMIT, so under concurrency id 7 can commit after id 8, and a cursor
   at 8 would skip 7 forever. An undispatched row is picked up by whichever pass first sees it.
   One fan-out runs at a time (a PostgreSQL advisory lock; SQLite's IMMEDIATE transactions
   serialise writers anyway), so deliveries of one endpoint are created in event order for
   every contact: the events of one contact are written by transactions that each lock that
   contact's row first, so they commit in id order.
3. **Delivery** (`webhook_deliver_due`) claims due deliveries with `FOR UPDATE SKIP LOCKED`
   (several workers never take the same row), leases them by moving `next_attempt_at` past the
   time a batch can take, records the attempt, commits, and only then makes the HTTP calls,
   outside any transaction. The outcome is written afterwards. A worker killed mid-request
   leaves its delivery pending with an attempt that never finished: when the lease runs out
   another worker sends it again (the receiver may see that message twice: it de-duplicates by
   `webhook-id`).

Order: a delivery is claimed only when no earlier delivery of the same `order_key` (the
contact; the operator for availability events) to the same endpoint is still pending. So a
`contact.closed` is never attempted before its `contact.assigned` was delivered or given up.
"""

import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm.api.webhook_payloads import TEST_TYPE, event_envelope, message_id_for_event, ping_envelope
from crm.errors import NotFoundError
from crm.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType
from crm.services.webhooks import webhook_endpoint_secrets
from crm.webhooks import transport
from crm.webhooks.signing import sign_headers

logger = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 10
# An arbitrary constant naming the fan-out's advisory lock (PostgreSQL), "whfanout" in hex-ish.
FAN_OUT_LOCK_KEY = 0x77686661


def _order_key(event: Event) -> str:
    if event.contact_id is not None:
        return f"contact:{event.contact_id}"
    if event.operator_id is not None:
        return f"operator:{event.operator_id}"
    return f"event:{event.pk}"


def _matches(endpoint: WebhookEndpoint, event: Event) -> bool:
    return (
        event.type in endpoint.events
        and (endpoint.source_id is None or endpoint.source_id == event.source_id)
        # An endpoint hears what happened after it was registered, not the history before.
        and event.occurred_at >= endpoint.created_at
    )


def webhook_fan_out(*, limit: int = FAN_OUT_BATCH, now: datetime | None = None) -> int:
    """Dispatch up to `limit` undispatched events, oldest first: one delivery per matching
    active endpoint. Returns the number of events dispatched (0: the outbox is empty)."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One fan-out at a time, so deliveries are created in event order (see the module
            # docstring). Held to the end of this transaction; no row lock is taken before it.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FAN_OUT_LOCK_KEY])
        events = list(Event.objects.filter(dispatched_at__isnull=True).order_by("id")[:limit])
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
        deliveries = []
        for event in events:
            if event.type not in WebhookEventType.values:
                continue
            targets = [endpoint for endpoint in endpoints if _matches(endpoint, event)]
            if not targets:
                continue
            for endpoint in targets:
                deliveries.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        event=event,
                        message_id=message_id_for_event(event.pk),
                        event_type=event.type,
                        order_key=_order_key(event),
                        next_attempt_at=now,
                        give_up_at=now + settings.WEBHOOK_RETRY_HORIZON,
                        created_at=now,
                    )
                )
        # A plain INSERT, not ignore_conflicts: SQLite's INSERT OR IGNORE would also swallow a
        # NOT NULL or CHECK failure and the event would be stamped dispatched with its deliveries
        # lost. Fan-outs never overlap, so the (endpoint, message_id) constraint is a guard that
        # rolls this whole pass back, never a case to skip.
        WebhookDelivery.objects.bulk_create(deliveries)
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
    return len(events)


def webhook_send_test(*, endpoint_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Queue a `webhook.test` message to one endpoint (active or not), due now."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError(gettext("Webhook endpoint %(id)d does not exist.") % {"id": endpoint_id})
    message_id = f"msg_{uuid.uuid4().hex}"
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=message_id,
        event_type=TEST_TYPE,
        order_key=message_id,
        payload=ping_envelope(message_id=message_id, at=now),
        next_attempt_at=now,
        give_up_at=now + settings.WEBHOOK_RETRY_HORIZON,
        created_at=now,
    )


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: BASE * 2**(attempts-1), at most MAX,
    then "equal jitter" (a random half of it off), so that retries of many deliveries that
    failed together spread out instead of hitting a recovering receiver at once."""
    rng = rng or random
    base = settings.WEBHOOK_BACKOFF_BASE.total_seconds()
    ceiling = settings.WEBHOOK_BACKOFF_MAX.total_seconds()
    delay = min(ceiling, base * 2 ** min(max(attempts - 1, 0), 32))
    return timedelta(seconds=delay / 2 + rng.uniform(0, delay / 2))


def _lease() -> timedelta:
    # Long enough for a whole batch to time out one request after another, plus a margin:
    # a live worker's claimed delivery is never claimed by another.
    if settings.WEBHOOK_DELIVERY_LEASE is not None:
        return settings.WEBHOOK_DELIVERY_LEASE
    per_request = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    return timedelta(seconds=DELIVERY_BATCH * per_request + 60)


@dataclass
class DeliveryRun:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)
    stopped: bool = False  # `stop` said so with claims left: they were given back


@dataclass
class _Claim:
    delivery: WebhookDelivery
    attempt: WebhookAttempt
    # What the claim overwrote, for giving an unsent claim back (_give_back).
    was_due_at: datetime
    was_last_attempt_at: datetime | None


def _due(now: datetime) -> QuerySet:
    """Pending deliveries due at `now`, of active endpoints, that no earlier pending delivery
    with the same order key (its contact) holds back, oldest due first. The status is a
    literal (crm.compiled.LiteralExact): crm_whdelivery_due_idx and _order_idx are partial
    on it, and the worker's statements are prepared (a generic plan cannot know a bound
    status, and read every earlier delivery of the endpoint for each candidate instead)."""
    earlier_pending = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        order_key=OuterRef("order_key"),
        status__literal=WebhookDelivery.Status.PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        WebhookDelivery.objects.filter(
            status__literal=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
        )
        .exclude(Exists(earlier_pending))
        .order_by("next_attempt_at", "id")
    )


def _claim(*, now: datetime, limit: int) -> list[_Claim]:
    with transaction.atomic():
        # SKIP LOCKED: rows another worker is claiming right now are left to it (PostgreSQL);
        # SQLite serialises the claim at BEGIN IMMEDIATE instead. `of=("self",)`: the join to
        # the endpoint only filters, it must not lock endpoints against staff edits.
        #
        # The ids first, then the rows with what sending reads (endpoint, event, contact,
        # lead, operator). In one statement, a planner whose statistics predate a burst
        # (autovacuum had not analysed the table yet) joined and sorted every due delivery's
        # wide row to keep 50: 147-151 ms per claim at 19,000 due in EXPLAIN ANALYZE, 1.2 ms
        # once analysed; the ids alone: 16-32 ms and 0.3 ms.
        ids = list(_due(now).select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:limit])
        if not ids:
            return []
        due = list(
            WebhookDelivery.objects.filter(pk__in=ids)
            .select_related("endpoint", "event__contact__lead", "event__operator")
            .order_by("next_attempt_at", "id")
        )
        lease_until = now + _lease()
        attempts = []
        previous = [(delivery.next_attempt_at, delivery.last_attempt_at) for delivery in due]
        for delivery in due:
            delivery.attempts += 1
            delivery.next_attempt_at = lease_until
            delivery.last_attempt_at = now
            attempts.append(WebhookAttempt(delivery=delivery, number=delivery.attempts, started_at=now))
        WebhookDelivery.objects.bulk_update(due, ["attempts", "next_attempt_at", "last_attempt_at"])
        WebhookAttempt.objects.bulk_create(attempts)
    return [
        _Claim(delivery, attempt, was_due_at, was_last)
        for delivery, attempt, (was_due_at, was_last) in zip(due, attempts, previous, strict=True)
    ]


def _give_back(claims: list[_Claim]) -> None:
    """Undo claims that were never attempted: each delivery due again as it was, its attempt
    row gone. Conditional on the claim still being the latest (as _record is)."""
    if not claims:
        return
    with transaction.atomic():
        for claim in claims:
            WebhookDelivery.objects.filter(
                pk=claim.delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=claim.attempt.number
            ).update(
                attempts=claim.attempt.number - 1,
                next_attempt_at=claim.was_due_at,
                last_attempt_at=claim.was_last_attempt_at,
            )
        WebhookAttempt.objects.filter(pk__in=[claim.attempt.pk for claim in claims]).delete()


def _send(delivery: WebhookDelivery, *, now: datetime) -> transport.PostResult:
    # An event's body is rendered now, from the event and the current rows: what happened is
    # the event's (type, via, ids), the contact and operator are as the API shows them now.
    # No personal data waits in the outbox (an erased lead is sent erased).
    envelope = event_envelope(delivery.event) if delivery.event_id else delivery.payload
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    headers = {
        "content-type": "application/json",
        "user-agent": "minicrm-webhooks/1",
        **sign_headers(
            message_id=delivery.message_id, body=body, secrets_=webhook_endpoint_secrets(delivery.endpoint, now=now)
        ),
    }
    return transport.post(
        delivery.endpoint.url,
        body=body.encode(),
        headers=headers,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
        read_timeout=settings.WEBHOOK_READ_TIMEOUT,
        max_response_bytes=settings.WEBHOOK_RESPONSE_MAX_BYTES,
    )


def _record(
    delivery: WebhookDelivery,
    attempt: WebhookAttempt,
    result: transport.PostResult,
    *,
    now: datetime,
    rng: random.Random | None,
) -> str:
    excerpt = (result.excerpt or result.error)[:1024]
    with transaction.atomic():
        WebhookAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_excerpt=result.excerpt[:1024],
            error=result.error,
            succeeded=result.ok,
        )
        # Conditional on our attempt still being the latest one, pending: if our lease ran out
        # and another worker took the delivery over, its outcome is the one that counts.
        current = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt.number
        )
        common = {"last_status_code": result.status_code, "last_response": excerpt}
        if result.ok:
            current.update(status=WebhookDelivery.Status.SUCCEEDED, next_attempt_at=None, delivered_at=now, **common)
            return "succeeded"
        next_at = now + backoff_delay(attempt.number, rng=rng)
        if next_at > delivery.give_up_at:
            current.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **common)
            return "failed"
        current.update(next_attempt_at=next_at, **common)
        return "retrying"


def webhook_deliver_due(
    *,
    now: datetime | None = None,
    limit: int = DELIVERY_BATCH,
    rng: random.Random | None = None,
    stop: Callable[[], bool] | None = None,
) -> DeliveryRun:
    """Claim up to `limit` due deliveries and attempt each once. `now` is the scheduling clock
    (tests move it forward instead of sleeping); signatures carry the real time of sending.
    `stop`, asked before each attempt but the first: when it says so, the deliveries not yet
    attempted are given back (due again at once, as if never claimed) and `run.stopped` is
    set; `run.claimed` counts only those attempted."""
    run = DeliveryRun()
    claims = _claim(now=now or timezone.now(), limit=limit)
    for index, claim in enumerate(claims):
        if index and stop is not None and stop():
            _give_back(claims[index:])
            run.stopped = True
            break
        run.claimed += 1
        delivery, attempt = claim.delivery, claim.attempt
        result = _send(delivery, now=now or timezone.now())
        outcome = _record(delivery, attempt, result, now=now or timezone.now(), rng=rng)
        setattr(run, outcome, getattr(run, outcome) + 1)
        run.ids.append(delivery.pk)
        if not result.ok:
            logger.info(
                "webhook delivery %s to endpoint %s: %s (%s)",
                delivery.message_id,
                delivery.endpoint_id,
                result.status_code or result.error,
                outcome,
            )
    return run


def webhook_work(*, now: datetime | None = None, rng: random.Random | None = None) -> tuple[int, DeliveryRun]:
    """One round of the worker: fan out what is waiting, then deliver what is due."""
    dispatched = webhook_fan_out(now=now)
    return dispatched, webhook_deliver_due(now=now, rng=rng)
