"""Operators' availability: online, away, offline, and the auto-away of idle logins.

Only online operators receive new contacts (see `availability_now` in
crm.services.assignment: an operator with a login and no activity for OPERATOR_AWAY_AFTER
counts as away, computed at decision time, so no job has to run). Becoming available —
saying "online", or coming back from auto-away with a page view or an API call — drains the
queues of his sources, oldest first, as a close does (one bounded batch in the same
transaction, the rest in the background).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from crm.errors import DomainError, NotFoundError
from crm.models import ActorKind, EventType, Operator
from crm.services.assignment import availability_now
from crm.services.contacts import operator_contacts_requeue, operator_open_contact_source_ids
from crm.services.events import Actor, event_record
from crm.services.locking import RoutingContext, routing_locked
from crm.services.queue import queue_drain_bounded

Availability = Operator.Availability

# Activity is written at most this often per operator: a page view or an API call costs an
# UPDATE only once a minute.
ACTIVITY_WRITE_EVERY = timedelta(minutes=1)


def availability_apply(ctx: RoutingContext, operator: Operator, availability: str, *, actor=None) -> bool:
    """Set `operator`'s availability inside the caller's transaction, under the lock `ctx`
    holds on him; record `operator.availability_changed` when what routing sees changes.
    Saying "online" counts as activity. Returns True when he became available for routing
    (the caller drains the queue). Does not save the row: the caller does."""
    if availability not in Availability.values:
        raise DomainError(
            gettext("Unknown availability %(value)s; use one of: %(choices)s.")
            % {"value": repr(availability), "choices": ", ".join(Availability.values)},
            field="availability",
        )
    now = ctx.now
    seen_before = availability_now(operator, now=now)
    if operator.availability != availability:
        operator.availability = availability
        operator.availability_changed_at = now
    if availability == Availability.ONLINE:
        operator.last_seen_at = now
    seen_after = availability_now(operator, now=now)
    if seen_after != seen_before:
        event_record(
            type=EventType.OPERATOR_AVAILABILITY_CHANGED,
            operator=operator,
            actor=actor,
            data={"availability": str(seen_after), "previous": str(seen_before)},
        )
    return seen_after == Availability.ONLINE and seen_before != Availability.ONLINE


def operator_availability_set(
    *, operator_id: int, availability: str, redistribute: bool = False, actor=None
) -> Operator:
    """An operator (or staff) sets his availability. Going online drains his sources'
    queues at once. Going offline keeps his open contacts, unless `redistribute`: then they
    return to the queue (keeping their age) and go to the source's other available operators
    as far as they have room, as deactivate-and-redistribute does."""
    if redistribute and availability != Availability.OFFLINE:
        raise DomainError(
            gettext('redistribute is only possible when going offline ("availability": "offline").'),
            field="redistribute",
        )
    returning_from: list[int] = []
    if redistribute:
        # His contacts may come from sources he no longer serves; their queues get them back.
        returning_from = operator_open_contact_source_ids(operator_id=operator_id)
    # Lock him and every operator of his sources (global order): the drain decides on them all.
    with transaction.atomic(), routing_locked(serving=[operator_id], source_ids=returning_from) as ctx:
        operator = ctx.operators.get(operator_id)
        if operator is None:
            raise NotFoundError(gettext("Operator %(id)d does not exist.") % {"id": operator_id})
        became_available = availability_apply(ctx, operator, availability, actor=actor)
        operator.save(update_fields=["availability", "availability_changed_at", "last_seen_at"])
        returned = operator_contacts_requeue(ctx, operator, actor=actor) if redistribute else 0
        if became_available or returned:
            queue_drain_bounded(source_ids=ctx.served, ctx=ctx, actor=actor)
    return operator


def operator_activity_record(*, operator: Operator, now=None) -> bool:
    """Note that the operator is at work (a workspace page, an API call). At most one write
    a minute; none at all while his last one is recent. An operator who was auto-away comes
    back: that is recorded, and his sources' queues are drained, in one transaction under
    the same locks as any drain. Returns True when something was written."""
    now = now or timezone.now()
    if operator.user_id is None:
        return False  # no login: never auto-away, nothing to note
    if operator.last_seen_at is not None and operator.last_seen_at > now - ACTIVITY_WRITE_EVERY:
        return False
    fresh_since = now - settings.OPERATOR_AWAY_AFTER
    # Still counted present (or not online at all): one conditional UPDATE, no drain needed.
    # The condition is re-checked by the UPDATE itself, so a clock passing the auto-away
    # line meanwhile falls through to the locked path below.
    plain = Q(last_seen_at__gte=fresh_since) | ~Q(availability=Availability.ONLINE)
    updated = (
        Operator.objects.filter(pk=operator.pk)
        .filter(plain)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - ACTIVITY_WRITE_EVERY))
        .update(last_seen_at=now)
    )
    if updated:
        operator.last_seen_at = now
        return True
    if not Operator.objects.filter(pk=operator.pk).exclude(plain).exists():
        return False  # written by a concurrent request meanwhile
    with transaction.atomic(), routing_locked(serving=[operator.pk]) as ctx:
        locked = ctx.operators.get(operator.pk)
        if locked is None:
            return False
        ctx.now = now
        if availability_now(locked, now=now) != Availability.AWAY or locked.availability != Availability.ONLINE:
            return False  # another request brought him back first
        actor = Actor(ActorKind.OPERATOR, locked.user_id)
        became_available = availability_apply(ctx, locked, Availability.ONLINE, actor=actor)
        locked.save(update_fields=["availability", "availability_changed_at", "last_seen_at"])
        if became_available:
            queue_drain_bounded(source_ids=ctx.served, ctx=ctx, actor=actor)
    operator.last_seen_at = locked.last_seen_at
    return True
