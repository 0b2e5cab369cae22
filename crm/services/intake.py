"""Registering a contact: the product's hot path."""

import random

from django.db import transaction

from crm.errors import NotFoundError
from crm.models import AssignmentVia, Contact, Source
from crm.services.leads import lead_get_or_create, lead_normalise_external_id
from crm.services.locking import routing_locked


def contact_register(
    *, external_id: str, source_id: int, rng: random.Random | None = None, registered_by=None
) -> Contact:
    """Register one contact of the lead `external_id` through `source_id` and assign it.

    All in one transaction: the lead, the contact and the operator's load are written
    together or not at all (an unknown source leaves no lead behind). The lead is found or
    created *before* any operator is locked: a transaction holding operator locks never
    waits on another's uncommitted lead, so lead races cannot deadlock with assignment.

    A new contact never jumps the queue: it finds room only if no contact of its source is
    waiting, because every path that frees room drains the queue in the same transaction.
    Raises NotFoundError(field="source_id") for an unknown source.
    """
    lead_normalise_external_id(external_id)  # reject bad input before opening a transaction
    with transaction.atomic():
        lead, created = lead_get_or_create(external_id=external_id)
        with routing_locked(intake_source_id=source_id) as ctx:
            if source_id not in ctx.sources:
                # Rolls back the lead created above.
                raise NotFoundError(f"Source {source_id} does not exist.", field="source_id")
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
            contact = Contact.objects.create(
                lead=lead,
                source_id=source_id,
                operator_id=decision.operator_id,
                unassigned_reason=decision.reason,
                assignment=decision.record(via=AssignmentVia.INTAKE),
                registered_by=registered_by,
            )
            if decision.operator_id is not None:
                ctx.take(source_id, decision.operator_id)
    return contact
