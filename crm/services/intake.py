"""Registering a contact: the product's hot path."""

import random

from django.db import transaction

from crm.errors import NotFoundError
from crm.models import Contact, Source
from crm.services.assignment import choose_operator, lock_source_candidates, operator_load_add
from crm.services.leads import lead_get_or_create, lead_normalise_external_id


def contact_register(
    *, external_id: str, source_id: int, rng: random.Random | None = None, registered_by=None
) -> Contact:
    """Register one contact of the lead `external_id` through `source_id` and assign it.

    All in one transaction: the lead, the contact and the operator's load are written
    together or not at all (an unknown source leaves no lead behind). The lead is found or
    created *before* any operator is locked: a transaction holding operator locks never
    waits on another's uncommitted lead, so lead races cannot deadlock with assignment.
    Raises NotFoundError(field="source_id") for an unknown source.
    """
    lead_normalise_external_id(external_id)  # reject bad input before opening a transaction
    with transaction.atomic():
        lead, _ = lead_get_or_create(external_id=external_id)
        candidates = lock_source_candidates(source_id=source_id)
        if not candidates and not Source.objects.filter(pk=source_id).exists():
            # Rolls back the lead created above.
            raise NotFoundError(f"Source {source_id} does not exist.", field="source_id")
        decision = choose_operator(candidates, rng=rng)
        contact = Contact.objects.create(
            lead=lead,
            source_id=source_id,
            operator_id=decision.operator_id,
            unassigned_reason=decision.reason,
            registered_by=registered_by,
        )
        if decision.operator_id is not None:
            operator_load_add(operator_id=decision.operator_id, delta=1)
    return contact
