"""Registering a contact: the product's hot path."""

import dataclasses
import random

from django.db import connection, transaction
from django.utils.translation import gettext

from crm.compiled import ID_MARKER, CompiledQuery, compiled, insert, insert_unless
from crm.errors import NotFoundError
from crm.metrics import Stopwatch, lock_hold_observed
from crm.models import ActorKind, AssignmentVia, Contact, EventType, Source, UnassignedReason
from crm.services.assignment import Candidate, availability_now
from crm.services.events import SYSTEM, Actor, assignment_event, event_build, events_record
from crm.services.intake_claim import (
    WAITING_INDEX_ON_SQLITE,
    claim_for_intake,
    lead_touch_and_read,
)
from crm.services.leads import LeadProfile, LeadUpsert, lead_touch, message_clean, metadata_clean
from crm.services.locking import routing_locked


def _waiting_query() -> CompiledQuery:
    """A waiting contact of the source (index crm_contact_waiting_idx), compiled once per
    connection (crm.compiled)."""

    def build() -> CompiledQuery:
        query = Contact.objects.waiting().filter(source_id=ID_MARKER).values_list("pk")[:1]
        return CompiledQuery(query, source_id=ID_MARKER, sqlite_index=WAITING_INDEX_ON_SQLITE)

    return compiled("intake_source_has_waiting", build)


def _source_has_waiting(source_id: int) -> bool:
    return bool(_waiting_query().rows(source_id=source_id))


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

    Two paths, one rule: the one-operator path (`_register_on_one_operator`) decides on an
    unlocked read and locks only the operator it chose, so a busy source's intakes run side
    by side; whenever its read or its lock says otherwise, the source's path
    (`_register_on_source`) decides under all of the source's operator locks, as the rest of
    routing does (crm.services.locking).
    """
    # Reject bad input before opening a transaction.
    profile = LeadProfile.clean(name=name, phone=phone, email=email)
    upsert = LeadUpsert.of(external_id=external_id, profile=profile)
    write = _ContactWriter(source_id=source_id, registered_by=registered_by, message=message, metadata=metadata)
    try:
        with transaction.atomic():
            if connection.features.can_return_columns_from_insert:
                # The lead first, then the unlocked read (PostgreSQL: in one statement).
                lead, created, read = lead_touch_and_read(upsert, source_id)
                contact = _register_on_one_operator(write, read, lead=lead, created=created, rng=rng)
            else:
                lead, created = lead_touch(external_id=external_id, profile=profile)
                contact = None
            if contact is None:
                contact = _register_on_source(write, lead=lead, created=created, rng=rng)
    except _SourcePathNeededError:
        # Rolled back, which released the one operator's lock: again, under the source's locks.
        with transaction.atomic():
            lead, created = lead_touch(external_id=external_id, profile=profile)
            contact = _register_on_source(write, lead=lead, created=created, rng=rng)
    return contact


class _SourcePathNeededError(Exception):
    """The one-operator path learnt, holding its operator's lock, that it may not go on (the
    operator changed since the read, or a contact of the source waits now)."""


class _ContactWriter:
    """Writes the contact and its events, on either path. The message and metadata are
    checked when it is made, before any transaction opens."""

    def __init__(self, *, source_id: int, registered_by, message: str, metadata: dict | None):
        self.source_id = source_id
        self.registered_by = registered_by
        self.message = message_clean(message)
        self.metadata = metadata_clean(metadata)

    def __call__(self, *, lead, created: bool, decision, unless_waiting: bool = False) -> Contact | None:
        contact = Contact(
            lead=lead,
            source_id=self.source_id,
            operator_id=decision.operator_id,
            unassigned_reason=decision.reason,
            assignment=decision.record(via=AssignmentVia.INTAKE),
            registered_by=self.registered_by,
            message=self.message,
            metadata=self.metadata,
        )
        registered_by = self.registered_by
        if registered_by is None:
            actor = SYSTEM
        else:
            # A non-staff client that may register contacts is a bot (operators may not).
            actor = Actor(ActorKind.STAFF if registered_by.is_staff else ActorKind.BOT, registered_by)

        def events() -> list:
            # Made once the contact's creation time is set; their contact id follows its insert.
            return [
                event_build(
                    type=EventType.CONTACT_REGISTERED,
                    contact=contact,
                    actor=actor,
                    data={"lead_id": lead.pk, "new_lead": created},
                    occurred_at=contact.created_at,
                ),
                assignment_event(
                    contact_id=contact.pk,
                    source_id=self.source_id,
                    decision=decision,
                    via=AssignmentVia.INTAKE,
                    actor=actor,
                    occurred_at=contact.created_at,
                ),
            ]

        if unless_waiting:
            # Read in this statement, after the operator's lock (PostgreSQL: a fresh snapshot);
            # the events ride on it (crm.compiled.insert_unless).
            if not insert_unless(
                contact, _waiting_query(), children=events, link="contact_id", source_id=self.source_id
            ):
                return None
        else:
            insert([contact])
            events_record(events())
        return contact


def _register_on_one_operator(write: _ContactWriter, read, *, lead, created: bool, rng) -> Contact | None:
    """The common case, locking one operator: decide on `read`, the unlocked read of the
    source (crm.services.intake_claim.intake_read; None: the source has no links), then
    claim the chosen operator's capacity (`claim_for_intake`: his row's lock, and only his,
    until the commit), so intakes of one source that go to different operators run side by
    side. None, having written and locked nothing, when the read says the source's path must
    decide: the source is smooth (its counts change with every contact), a contact of it
    waits (this one queues behind it), nobody is eligible (it waits: the source's path makes
    sure of that under its locks).

    Raises _SourcePathNeededError once the claim is made, when the chosen operator is full
    by now (the claim's wait may have left his row locked), his row as it is now says he may
    not take it (deactivated, away), or a contact of the source waits now (the insert checks
    it in its own statement, so a contact that a drain or another intake left waiting while
    we decided is seen): the caller rolls back, which releases his lock, and takes the
    source's path."""
    source_id = write.source_id
    if read is None:
        return None
    ctx, waiting = read
    if waiting or ctx.sources[source_id].strategy == Source.Strategy.SMOOTH:
        return None
    decision = ctx.decide(source_id, rng=rng, lead_id=None if created else lead.pk)
    if decision.operator_id is None:
        return None
    watch = Stopwatch()
    claimed = claim_for_intake(decision.operator_id)
    if claimed is None:
        # Full by now. If the claim waited for another transaction's lock on him, PostgreSQL
        # keeps his row locked although it updated nothing: going on to lock the source's
        # operators from here could deadlock (his lock taken out of id order), so roll back.
        raise _SourcePathNeededError
    link = next(lk for lk in ctx.links[source_id] if lk.operator_id == claimed.operator_id)
    now = Candidate(
        operator_id=claimed.operator_id,
        name=claimed.name,
        weight=link.weight,
        is_active=claimed.is_active,
        load=claimed.open_load - 1,
        max_load=claimed.max_load,
        availability=availability_now(claimed, now=ctx.now),
    )
    if now.exclusion is not None:
        raise _SourcePathNeededError
    # The record shows the chosen operator as his row is now; the others as read.
    decision = dataclasses.replace(
        decision, candidates=tuple(now if c.operator_id == now.operator_id else c for c in decision.candidates)
    )
    contact = write(lead=lead, created=created, decision=decision, unless_waiting=True)
    if contact is None:
        raise _SourcePathNeededError
    transaction.on_commit(lambda: lock_hold_observed(kind="intake", seconds=watch.seconds))
    return contact


def _register_on_source(write: _ContactWriter, *, lead, created: bool, rng) -> Contact:
    """Under all of the source's operator locks (routing_locked's intake lock): smooth
    sources, a source with waiting contacts, nobody eligible, and every retry."""
    source_id = write.source_id
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
        contact = write(lead=lead, created=created, decision=decision)
        if decision.operator_id is not None:
            ctx.take(source_id, decision.operator_id)
    return contact
