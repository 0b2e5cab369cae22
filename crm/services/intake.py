"""Registering a contact: the product's hot path."""

import dataclasses
import random

from django.db import transaction
from django.utils.translation import gettext

from crm.compiled import CompiledQuery, compiled, insert
from crm.errors import NotFoundError
from crm.models import ActorKind, AssignmentVia, Contact, EventType, Source, UnassignedReason
from crm.services.events import SYSTEM, Actor, assignment_event, event_build, events_record
from crm.services.leads import LeadProfile, lead_normalise_external_id, lead_touch, message_clean, metadata_clean
from crm.services.locking import routing_locked

# A source id no row has: stands for the real one while the queue check is compiled.
SOURCE_MARKER = -7_700_002


def _source_has_waiting(source_id: int) -> bool:
    """Whether a contact of the source waits (index crm_contact_waiting_idx), in a statement
    compiled once per connection (crm.compiled)."""

    def build() -> CompiledQuery:
        query = Contact.objects.waiting().filter(source_id=SOURCE_MARKER).values_list("pk")[:1]
        return CompiledQuery(query, source_id=SOURCE_MARKER)

    return bool(compiled("intake_source_has_waiting", build).rows(source_id=source_id))


def contact_register(
    *,
    external_id: str,
    source_id: int,
    name: str = "",
    phone: str = "",
    email: str = "",
    message: str = "",
    metadata: dict | None = None,
    rng: random.Random | None = None,
    registered_by=None,
) -> Contact:
    """Register one contact of the lead `external_id` through `source_id` and assign it.

    `name`, `phone` and `email` update the lead's profile (crm.services.leads.lead_touch: a
    non-empty value wins, an empty one keeps what is there); `message` and `metadata` are
    stored on the contact. All are normalised and checked before anything is written
    (DomainError naming the field).

    All in one transaction: the lead, the contact and the operator's load are written
    together or not at all (an unknown source leaves no lead behind). The lead is found or
    created *before* any operator is locked: a transaction holding operator locks never
    waits on another's uncommitted lead, so lead races cannot deadlock with assignment.

    A new contact never jumps the queue: while an older contact of its source waits, it waits
    too, behind them (reason "behind_queue"), even if there is room: that room is being
    handed out oldest first by the drain that whoever freed it started (a bounded batch in
    their request, the rest in the background). Its events (`contact.registered`, then
    `contact.assigned` or `contact.waiting`) are written in the same transaction, in one
    statement. Raises NotFoundError(field="source_id") for an unknown source.
    """
    # Reject bad input before opening a transaction.
    lead_normalise_external_id(external_id)
    profile = LeadProfile.clean(name=name, phone=phone, email=email)
    message = message_clean(message)
    metadata = metadata_clean(metadata)
    with transaction.atomic():
        lead, created = lead_touch(external_id=external_id, profile=profile)
        with routing_locked(intake_source_id=source_id) as ctx:
            if source_id not in ctx.sources:
                # Rolls back the lead created above.
                raise NotFoundError(gettext("Source %(id)d does not exist.") % {"id": source_id}, field="source_id")
            lead_id = None if created else lead.pk
            if ctx.sources[source_id].strategy == Source.Strategy.SMOOTH:
                # Smooth counts change with every contact: read them as the last intake left them.
                ctx.refresh_links(source_id)
            decision = ctx.decide(source_id, rng=rng, lead_id=lead_id)
            if decision.operator_id is None and ctx.links[source_id]:
                # About to make it wait: make sure no weight was raised from 0 while we waited for
                # the lock (its drain ran before this contact existed). Weighted random choices
                # otherwise use the weights in force when the request's lock statement began.
                ctx.refresh_links(source_id)
                decision = ctx.decide(source_id, rng=rng, lead_id=lead_id)
            # Read after the lock, in a statement of its own (PostgreSQL: a fresh snapshot): a
            # drain batch that committed while we waited for the lock is seen, so we neither
            # queue behind contacts it has just assigned nor miss ones it left waiting.
            # Index crm_contact_waiting_idx; only asked when there is room to give.
            if decision.operator_id is not None and _source_has_waiting(source_id):
                decision = dataclasses.replace(decision, operator_id=None, reason=UnassignedReason.BEHIND_QUEUE)
            contact = Contact(
                lead=lead,
                source_id=source_id,
                operator_id=decision.operator_id,
                unassigned_reason=decision.reason,
                assignment=decision.record(via=AssignmentVia.INTAKE),
                registered_by=registered_by,
                message=message,
                metadata=metadata,
            )
            insert([contact])
            if registered_by is None:
                actor = SYSTEM
            else:
                # A non-staff client that may register contacts is a bot (operators may not).
                actor = Actor(ActorKind.STAFF if registered_by.is_staff else ActorKind.BOT, registered_by)
            events_record(
                [
                    event_build(
                        type=EventType.CONTACT_REGISTERED,
                        contact=contact,
                        actor=actor,
                        data={"lead_id": lead.pk, "new_lead": created},
                        occurred_at=contact.created_at,
                    ),
                    assignment_event(
                        contact_id=contact.pk,
                        source_id=source_id,
                        decision=decision,
                        via=AssignmentVia.INTAKE,
                        actor=actor,
                        occurred_at=contact.created_at,
                    ),
                ]
            )
            if decision.operator_id is not None:
                ctx.take(source_id, decision.operator_id)
    return contact
