"""Erasure of a lead's personal data on request (`forget_lead`, the admin's "Erase personal
data"): one transaction that blanks the profile, every message and metadata of the lead's
contacts and the copies kept for idempotent replays, replaces the external id with a random
token, and records who erased it and when, never the erased values."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext

from crm.errors import NotFoundError
from crm.logfmt import kv
from crm.models import (
    Contact,
    EventType,
    IdempotencyKey,
    Lead,
)
from crm.services.events import event_record
from crm.services.leads import lead_normalise_external_id

logger = logging.getLogger("crm.leads")

ERASED_EXTERNAL_ID_PREFIX = "erased-"
# Stored as an erased contact's idempotency fingerprint: the request's hash is derived from
# the personal data it carried, so it goes too; a retry with that key replays the scrubbed
# response (crm.services.idempotency).
ERASED_FINGERPRINT = "erased"
# What an erased contact's stored API response no longer says.
_ERASED_RESPONSE_FIELDS = {"message": "", "metadata": {}}


@dataclass(frozen=True)
class LeadErasure:
    lead_id: int
    contacts: int
    idempotency_keys: int


def lead_find(*, external_id: str) -> Lead:
    """The lead with this external id (normalised), or NotFoundError."""
    normalised = lead_normalise_external_id(external_id)
    lead = Lead.objects.filter(external_id=normalised).first()
    if lead is None:
        raise NotFoundError(gettext("No lead has this external id."), code="not_found")
    return lead


def lead_erase(*, lead_id: int, actor=None) -> LeadErasure:
    """Erase a lead's personal data on request, in one transaction: his profile (name, phone,
    email), every message and metadata of his contacts, the copies of those in the stored
    idempotent responses, and his external id, replaced by a random token (one-way: nothing
    derived from the old id is kept, so it cannot be guessed back). The old id then registers
    as a new lead. Contacts, their operators, sources, times and the statistics stay.

    Who erased it and when is recorded in the event log (`lead.erased`), without the erased
    values.
    Erasing an erased lead erases nothing new and records it again.

    Lock order: the lead row first (an intake of this lead holds it from its upsert to its
    commit, so every contact it registers is visible once we have it), then his contacts by
    the UPDATE. A concurrent close that drains a waiting contact of this very lead takes the
    contact rows in its own order; PostgreSQL then aborts one side (a 409 in the API, safe to
    retry)."""
    now = timezone.now()
    token = ERASED_EXTERNAL_ID_PREFIX + secrets.token_hex(16)
    with transaction.atomic():
        # The lead's row lock: serialises with intakes of this lead (lead_touch).
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None:
            raise NotFoundError(gettext("Lead %(id)d does not exist.") % {"id": lead_id})
        Lead.objects.filter(pk=lead_id).update(
            external_id=token, name="", name_search="", phone="", email="", erased_at=now
        )
        contacts = Contact.objects.filter(lead_id=lead_id)
        contact_ids = list(contacts.order_by("id").values_list("id", flat=True))
        contacts.update(message="", metadata={})
        keys = 0
        for row in IdempotencyKey.objects.filter(contact_id__in=contact_ids).order_by("id"):
            body = dict(row.response_body)
            for field, blank in _ERASED_RESPONSE_FIELDS.items():
                if field in body:
                    body[field] = blank
            if "external_id" in body:
                body["external_id"] = token
            row.response_body, row.fingerprint = body, ERASED_FINGERPRINT
            row.save(update_fields=["response_body", "fingerprint"])
            keys += 1
        # The admin's own history names objects by their str(): a lead by its external id, a
        # contact with it. Renamed to the token / the contact's number.
        lead_type = ContentType.objects.get_for_model(Lead)
        contact_type = ContentType.objects.get_for_model(Contact)
        LogEntry.objects.filter(content_type=lead_type, object_id=str(lead_id)).update(object_repr=token)
        LogEntry.objects.filter(content_type=contact_type, object_id__in=[str(pk) for pk in contact_ids]).update(
            object_repr=Concat(Value("#"), F("object_id"))
        )
        _record_erasure(actor=actor, lead_id=lead_id, contacts=len(contact_ids))
    return LeadErasure(lead_id=lead_id, contacts=len(contact_ids), idempotency_keys=keys)


def _record_erasure(*, actor, lead_id: int, contacts: int) -> None:
    """The audit record: a `lead.erased` event (who, when, which lead by id, how many
    contacts; never a value that was erased), in the erasure's transaction. The event log
    also tells the outgoing webhooks' receivers to erase their copies."""
    event = event_record(type=EventType.LEAD_ERASED, actor=actor, data={"lead_id": lead_id, "contacts": contacts})
    line = kv(
        event="lead_erased", lead=lead_id, contacts=contacts, actor_kind=event.actor_kind, actor=event.actor_user_id
    )
    transaction.on_commit(lambda: logger.info(line))
