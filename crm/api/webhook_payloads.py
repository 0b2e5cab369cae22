"""What a webhook receiver gets: an envelope around the API's own representation of the
contact or operator, so an integrator parses one shape whether it polls or is pushed to.

    {"id": "evt_42", "type": "contact.assigned", "timestamp": "2026-11-27T00:10:00.123456Z",
     "data": {"via": "queue", ..., "actor": "system", "contact": {...}, "operator": {...}}}

Rendered by the fan-out, once per event. Event details never carry key material (the event
log's rule); keys whose names look like secrets are dropped here all the same."""

import re

from crm.api.serializers import ContactSerializer, OperatorSerializer
from crm.models import Event

SECRET_LOOKING = re.compile(r"secret|token|password|api_?key|digest", re.IGNORECASE)
TEST_TYPE = "webhook.test"


def message_id_for_event(event_id: int) -> str:
    return f"evt_{event_id}"


def _timestamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_envelope(event: Event) -> dict:
    data = {key: value for key, value in (event.data or {}).items() if not SECRET_LOOKING.search(key)}
    data["actor"] = event.actor_kind
    if event.source_id is not None:
        data["source_id"] = event.source_id
    if event.contact_id is not None:
        data["contact"] = dict(ContactSerializer(event.contact).data)
    if event.operator_id is not None:
        data["operator"] = dict(OperatorSerializer(event.operator).data)
    return {
        "id": message_id_for_event(event.pk),
        "type": event.type,
        "timestamp": _timestamp(event.occurred_at),
        "data": data,
    }


def ping_envelope(*, message_id: str, at) -> dict:
    return {"id": message_id, "type": TEST_TYPE, "timestamp": _timestamp(at), "data": {"test": True}}
