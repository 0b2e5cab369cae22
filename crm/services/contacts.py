"""Closing and reassigning contacts. Both free an operator's capacity, so both hand the
freed room to the waiting queue: one bounded batch in the same transaction, the rest in the
background (crm.services.queue)."""

import random
from contextlib import nullcontext

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from crm.errors import ConflictError, DomainError, NotFoundError
from crm.models import AssignmentVia, Contact, DecisionStrategy, EventType, Exclusion, Operator, UnassignedReason
from crm.services.assignment import Decision
from crm.services.events import actor_of, assignment_event, event_build, event_record, events_record
from crm.services.locking import RoutingContext, routing_locked
from crm.services.queue import queue_drain_bounded

# What reading an operator's name, state or load takes (the decision record's rule as well).
READ_OPERATORS = ("crm.view_operator",)


def _target_refused(operator_id: int, message: str, *, code: str | None = None, missing: bool = False) -> DomainError:
    """A refusal of `operator_id` as the target of a reassignment or a transfer. `message` says
    why (his name, state, load); a caller who may not read operators learns only that this
    operator cannot take the contact, not why, nor whether the id exists."""
    public = gettext("Operator %(id)d cannot take this contact.") % {"id": operator_id}
    error = NotFoundError if missing else DomainError
    return error(message, field="operator_id", code=code, needs=READ_OPERATORS, public=public)


def _get(contact_id: int) -> Contact:
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise NotFoundError(gettext("Contact %(id)d does not exist.") % {"id": contact_id})
    return contact


def contact_close(*, contact_id: int, rng: random.Random | None = None, actor=None) -> Contact:
    """Close an open contact, free its operator's capacity and give that room to the oldest
    waiting contacts of the sources he serves. Closing a closed contact changes nothing and
    returns it as it is (bots and staff retry; the result is the same). `actor`: the user
    who closes it (None: the system), recorded on the `contact.closed` event."""
    actor = actor_of(actor)
    while True:
        contact = _get(contact_id)
        if contact.status == Contact.Status.CLOSED:
            return contact
        operator_id = contact.operator_id
        # A waiting contact holds no capacity: nothing to lock, no room to hand out.
        locks = routing_locked(serving=[operator_id]) if operator_id is not None else nullcontext()
        with transaction.atomic(), locks as ctx:
            # Lock order: the operators (of every source the freed room can serve) first,
            # then the contact, by the conditional UPDATE below.
            closed_at = timezone.now()
            # Conditional on the state read above: if a concurrent close or reassignment got
            # there first, nothing is updated and we look again.
            changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.OPEN, operator_id=operator_id).update(
                status=Contact.Status.CLOSED, closed_at=closed_at
            )
            if not changed:
                continue
            event_record(type=EventType.CONTACT_CLOSED, contact=contact, operator=operator_id, actor=actor, data={})
            if ctx is not None:
                ctx.release(operator_id)
                queue_drain_bounded(source_ids=ctx.served, ctx=ctx, rng=rng, actor=actor)
        contact.status, contact.closed_at = Contact.Status.CLOSED, closed_at
        return contact


def contact_reassign(
    *, contact_id: int, operator_id: int | None = None, rng: random.Random | None = None, actor=None
) -> Contact:
    """Move an open contact. With `operator_id`: to that operator, who must serve the
    contact's source, be active and have room (any weight: staff may hand work to a paused
    operator). Without: run the routing again among the source's eligible operators other
    than the current one (a waiting contact is simply routed). The operator it leaves gets
    his room back and the queue is drained with it. Raises DomainError when refused.
    Recorded as `contact.assigned` (or `contact.waiting`) via reassign, by `actor`."""
    actor = actor_of(actor)
    while True:
        contact = _get(contact_id)
        if contact.status != Contact.Status.OPEN:
            raise ConflictError(
                gettext("Contact %(id)d is closed; only open contacts can be reassigned.") % {"id": contact_id}
            )
        old = contact.operator_id
        if operator_id is not None and operator_id == old:
            raise DomainError(
                gettext("Contact %(id)d is already assigned to operator %(operator)d.")
                % {"id": contact_id, "operator": old},
                field="operator_id",
            )
        if operator_id is not None and not Operator.objects.filter(pk=operator_id).exists():
            raise _target_refused(
                operator_id, gettext("Operator %(id)d does not exist.") % {"id": operator_id}, missing=True
            )
        with (
            transaction.atomic(),
            routing_locked(serving=[old], source_ids=[contact.source_id], operator_ids=[operator_id]) as ctx,
        ):
            if operator_id is not None:
                decision = _manual_decision(ctx, contact, operator_id)
            else:
                decision = ctx.decide(contact.source_id, rng=rng, lead_id=contact.lead_id, exclude_operator_id=old)
                if decision.operator_id is None and old is not None:
                    reason = UnassignedReason(decision.reason).label
                    raise DomainError(
                        gettext(
                            "No other operator can take contact %(id)d now (%(reason)s); "
                            "it stays with operator %(operator)d."
                        )
                        % {"id": contact_id, "reason": reason, "operator": old},
                        code=decision.reason,
                        # Whom the contact is with is the contact's detail.
                        needs=("crm.view_contact",),
                        public=gettext("No other operator can take contact %(id)d now (%(reason)s).")
                        % {"id": contact_id, "reason": reason},
                    )
            changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.OPEN, operator_id=old).update(
                operator_id=decision.operator_id,
                unassigned_reason=decision.reason,
                assignment=decision.record(via=AssignmentVia.REASSIGN),
            )
            if not changed:
                continue  # closed or moved meanwhile: look again
            events_record(
                [
                    assignment_event(
                        contact_id=contact_id,
                        source_id=contact.source_id,
                        decision=decision,
                        via=AssignmentVia.REASSIGN,
                        actor=actor,
                        from_operator_id=old,
                    )
                ]
            )
            if decision.operator_id is not None:
                ctx.take(contact.source_id, decision.operator_id)
            if old is not None:
                ctx.release(old)
                queue_drain_bounded(source_ids=ctx.served, ctx=ctx, rng=rng, actor=actor)
        return Contact.objects.select_related("lead").get(pk=contact_id)


# Why a transfer is refused, by the target's exclusion (Candidate.exclusion).
_TRANSFER_REFUSALS = {
    "inactive": gettext_lazy("Operator %(name)s is inactive."),
    "paused": gettext_lazy("Operator %(name)s does not take contacts of this source now (weight 0)."),
    "away": gettext_lazy("Operator %(name)s is away."),
    "offline": gettext_lazy("Operator %(name)s is offline."),
    "full": gettext_lazy("Operator %(name)s is full (%(load)d / %(max_load)d)."),
}


def contact_transfer(
    *, contact_id: int, operator_id: int, actor=None, from_operator_id: int | None = None, rng=None
) -> Contact:
    """Hand an open, assigned contact to another operator of its source who is eligible
    right now (active, weight > 0, online) and has room; otherwise DomainError naming why
    (code: not_linked, inactive, paused, away, offline, full). With `from_operator_id` (an
    operator transferring his own contact) a contact that is not his is reported as not
    existing, so its existence is not revealed. The room he leaves goes to the queue.
    Recorded as `contact.transferred` and `contact.assigned` (via transfer)."""
    actor = actor_of(actor)
    while True:
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None or (from_operator_id is not None and contact.operator_id != from_operator_id):
            raise NotFoundError(gettext("Contact %(id)d does not exist.") % {"id": contact_id})
        if contact.status != Contact.Status.OPEN:
            raise ConflictError(
                gettext("Contact %(id)d is closed; only open contacts can be transferred.") % {"id": contact_id}
            )
        old = contact.operator_id
        if old is None:
            raise DomainError(
                gettext("Contact %(id)d is waiting for an operator; only an assigned contact can be transferred.")
                % {"id": contact_id},
                code="waiting",
            )
        if operator_id == old:
            raise DomainError(
                gettext("Contact %(id)d is already with operator %(operator)d.") % {"id": contact_id, "operator": old},
                field="operator_id",
                code="same_operator",
            )
        if not Operator.objects.filter(pk=operator_id).exists():
            raise _target_refused(
                operator_id, gettext("Operator %(id)d does not exist.") % {"id": operator_id}, missing=True
            )
        # Lock order as everywhere: every operator concerned in one ordered statement (his,
        # the target, and the operators of the sources his freed room can serve).
        with (
            transaction.atomic(),
            routing_locked(serving=[old], source_ids=[contact.source_id], operator_ids=[operator_id]) as ctx,
        ):
            candidates = ctx.candidates(contact.source_id)
            target = next((c for c in candidates if c.operator_id == operator_id), None)
            if target is None:
                raise _target_refused(
                    operator_id,
                    gettext("Operator %(id)d does not serve this contact's source.") % {"id": operator_id},
                    code="not_linked",
                )
            refusal = target.exclusion
            if refusal is not None:
                raise _target_refused(
                    operator_id,
                    _TRANSFER_REFUSALS[refusal]
                    % {"name": target.name, "load": target.load, "max_load": target.max_load},
                    code=refusal,
                )
            decision = Decision(
                operator_id, "", tuple(candidates), strategy=DecisionStrategy.MANUAL, excluded_operator_id=old
            )
            changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.OPEN, operator_id=old).update(
                operator_id=operator_id, assignment=decision.record(via=AssignmentVia.TRANSFER)
            )
            if not changed:
                continue  # closed or moved meanwhile: look again
            events_record(
                [
                    event_build(
                        type=EventType.CONTACT_TRANSFERRED,
                        contact=contact,
                        operator=operator_id,
                        actor=actor,
                        data={"from_operator_id": old, "to_operator_id": operator_id},
                    ),
                    assignment_event(
                        contact_id=contact_id,
                        source_id=contact.source_id,
                        decision=decision,
                        via=AssignmentVia.TRANSFER,
                        actor=actor,
                        from_operator_id=old,
                    ),
                ]
            )
            ctx.take(contact.source_id, operator_id)
            ctx.release(old)
            queue_drain_bounded(source_ids=ctx.served, ctx=ctx, rng=rng, actor=actor)
        return Contact.objects.select_related("lead").get(pk=contact_id)


def _manual_decision(ctx: RoutingContext, contact: Contact, operator_id: int) -> Decision:
    candidates = ctx.candidates(contact.source_id)
    target = next((c for c in candidates if c.operator_id == operator_id), None)
    if target is None:
        raise _target_refused(
            operator_id,
            gettext("Operator %(id)d does not serve source %(source)d; link them first.")
            % {"id": operator_id, "source": contact.source_id},
            code="not_linked",
        )
    if target.manual_exclusion == Exclusion.INACTIVE:
        raise _target_refused(
            operator_id, gettext("Operator %(name)s is inactive.") % {"name": target.name}, code="inactive"
        )
    if target.manual_exclusion == Exclusion.FULL:
        raise _target_refused(
            operator_id,
            gettext("Operator %(name)s is full (%(load)d / %(max_load)d).")
            % {"name": target.name, "load": target.load, "max_load": target.max_load},
            code="full",
        )
    # The record shows every candidate as the routing would have seen it, and the manual pick.
    return Decision(
        operator_id,
        "",
        tuple(candidates),
        strategy=DecisionStrategy.MANUAL,
        excluded_operator_id=contact.operator_id,
    )


def operator_open_contact_source_ids(*, operator_id: int) -> list[int]:
    """The sources of an operator's open contacts: the queues they go back to when he hands
    them back (redistribution). They may include sources he no longer serves."""
    return list(
        # The status as a literal, for crm_contact_open_idx (crm.compiled.LiteralExact).
        Contact.objects.filter(operator_id=operator_id, status__literal=Contact.Status.OPEN)
        .order_by()
        .values_list("source_id", flat=True)
        .distinct()
    )


def operator_contacts_requeue(ctx: RoutingContext, operator: Operator, *, actor=None) -> int:
    """Take an operator's open contacts off him; they wait (keeping their age, so they come
    first) until queue_drain hands them out, each with a `contact.waiting` event (via
    redistribute). Returns how many."""
    contacts = list(
        Contact.objects.filter(operator=operator, status__literal=Contact.Status.OPEN)
        .order_by("id")
        .values_list("id", "source_id")
    )
    by_source: dict[int, list[int]] = {}
    for contact_id, source_id in contacts:
        by_source.setdefault(source_id, []).append(contact_id)
    for source_id, ids in by_source.items():
        decision = ctx.decide(source_id)
        reason = decision.reason or Contact.UnassignedReason.ALL_AT_CAPACITY
        record = {**decision.record(via=AssignmentVia.REDISTRIBUTE), "operator_id": None, "reason": reason}
        # His lock, held here, is what every close or reassignment of these contacts waits on.
        moved = Contact.objects.filter(pk__in=ids, operator=operator, status=Contact.Status.OPEN).update(
            operator=None, unassigned_reason=reason, assignment=record
        )
        for _ in range(moved):
            ctx.release(operator.pk)
        events_record(
            event_build(
                type=EventType.CONTACT_WAITING,
                contact=contact_id,
                source=source_id,
                actor=actor,
                data={"via": AssignmentVia.REDISTRIBUTE.value, "reason": str(reason), "from_operator_id": operator.pk},
            )
            for contact_id in ids
        )
    return len(contacts)
