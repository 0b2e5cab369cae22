"""The event log: the only writer of `crm.models.Event`.

Every service that changes a contact's place (registered, assigned, waiting, closed,
transferred) or an operator's availability records it here, inside its own transaction, so
an event exists exactly when its change committed. The table is append-only and ordered by
id: a contact's timeline and the outgoing webhooks' outbox read it in that order.

What goes into `data`: ids and routing words (`via`, `reason`, `strategy`, ...), never key
material and never personal data (an erased lead must leave no value behind here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from crm.compiled import insert
from crm.models import ActorKind, Contact, Event, EventType, EventVia


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a kind and, unless it is the system, a user."""

    kind: str
    user: Any = None


SYSTEM = Actor(ActorKind.SYSTEM)


def actor_of(user, *, kind: str | None = None) -> Actor:
    """The actor for `user` (None: the system). Without `kind`: staff for staff users, an
    operator for a user linked to an operator, a bot otherwise (a non-staff API client)."""
    if user is None:
        return SYSTEM
    if isinstance(user, Actor):
        return user
    if kind is None:
        if user.is_staff:
            kind = ActorKind.STAFF
        elif getattr(user, "operator", None) is not None:
            kind = ActorKind.OPERATOR
        else:
            kind = ActorKind.BOT
    return Actor(kind, user)


def _pk(value) -> int | None:
    return value if value is None or isinstance(value, int) else value.pk


def event_build(
    *,
    type: str,
    contact: Contact | int | None = None,
    operator=None,
    source=None,
    actor=None,
    data: dict | None = None,
    occurred_at=None,
) -> Event:
    """An unsaved event (for `events_record`). References may be rows or ids; a contact's
    source defaults to the contact's. `actor`: an Actor, a user, or None for the system."""
    actor = actor_of(actor)
    if source is None and isinstance(contact, Contact):
        source = contact.source_id
    return Event(
        type=type,
        contact_id=_pk(contact),
        operator_id=_pk(operator),
        source_id=_pk(source),
        actor_kind=actor.kind,
        actor_user_id=_pk(actor.user),
        data=data or {},
        occurred_at=occurred_at or timezone.now(),
    )


def events_record(events: Iterable[Event]) -> list[Event]:
    """Write events in one INSERT, in the given order (their ids follow it). Call it inside
    the transaction of the change the events describe."""
    events = list(events)
    insert(events)  # one INSERT compiled once per row count (crm.compiled)
    return events


def event_record(
    *,
    type: str,
    contact: Contact | int | None = None,
    operator=None,
    source=None,
    actor=None,
    data: dict | None = None,
) -> Event:
    """Write one event (see event_build)."""
    return events_record(
        [event_build(type=type, contact=contact, operator=operator, source=source, actor=actor, data=data)]
    )[0]


def assignment_event(
    *,
    contact_id: int,
    source_id: int,
    decision,
    via: str,
    actor=None,
    from_operator_id: int | None = None,
    occurred_at=None,
) -> Event:
    """`contact.assigned` when the decision names an operator, else `contact.waiting` with
    the reason. `via` says how (intake, queue, reassign, transfer, redistribute); a contact
    given to the lead's previous operator by affinity reads `via: affinity`."""
    if decision.operator_id is None:
        data = {"via": via, "reason": decision.reason}
        if from_operator_id is not None:
            data["from_operator_id"] = from_operator_id
        return event_build(
            type=EventType.CONTACT_WAITING,
            contact=contact_id,
            source=source_id,
            actor=actor,
            data=data,
            occurred_at=occurred_at,
        )
    effective = EventVia.AFFINITY if decision.affinity == "hit" and via in (EventVia.INTAKE, EventVia.QUEUE) else via
    data = {"via": str(effective), "to_operator_id": decision.operator_id, "strategy": str(decision.strategy)}
    if from_operator_id is not None:
        data["from_operator_id"] = from_operator_id
    return event_build(
        type=EventType.CONTACT_ASSIGNED,
        contact=contact_id,
        source=source_id,
        operator=decision.operator_id,
        actor=actor,
        data=data,
        occurred_at=occurred_at,
    )
