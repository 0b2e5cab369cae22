"""The event log's one writer (provisional until the shared service lands)."""

from crm.models import ActorKind, Contact, Event, EventType, Operator, Source


def event_record(
    *,
    type: EventType,
    contact: Contact | None = None,
    operator: Operator | None = None,
    source: Source | None = None,
    actor: ActorKind = ActorKind.SYSTEM,
    actor_user=None,
    data: dict | None = None,
) -> Event:
    if source is None and contact is not None:
        source = contact.source_id and Source(pk=contact.source_id)
    return Event.objects.create(
        type=type,
        contact=contact,
        operator=operator,
        source=source,
        actor_kind=actor,
        actor_user=actor_user,
        data=data or {},
    )
