"""History of staff changes to the routing configuration (operators, sources, weights).

crm.services.routing_config calls `routing_change_record` once per change, inside the
change's own transaction, so the history holds exactly the changes that were committed."""

import json
import logging

from django.db import models, transaction

from crm.logfmt import kv
from crm.models import Operator, OperatorSource, RoutingChange, Source

logger = logging.getLogger("crm.routing")

TRACKED_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    Operator: ("name", "is_active", "max_load"),
    Source: ("name", "strategy", "affinity"),
    OperatorSource: ("operator_id", "source_id", "weight"),
}


def routing_snapshot(obj: models.Model) -> dict:
    """The tracked fields of a routing object, to diff against after a change."""
    return {field: getattr(obj, field) for field in TRACKED_FIELDS[type(obj)]}


def routing_change_record(
    *, actor, action: str, obj: models.Model, before: dict | None = None, deleted: bool = False
) -> RoutingChange | None:
    """Record who did `action` ("create", "update", "delete") to `obj`, with the changed
    fields as {field: [old, new]}. An update that changed nothing records nothing. `actor` is
    a user or None (a management command, a migration)."""
    after = {} if deleted else routing_snapshot(obj)
    before = before or {}
    fields = TRACKED_FIELDS[type(obj)]
    changes = {f: [before.get(f), after.get(f)] for f in fields if before.get(f) != after.get(f)}
    if not changes:
        return None
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    change = RoutingChange.objects.create(
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else "",
        action=action,
        object_type=obj._meta.model_name,
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        changes=changes,
    )
    line = kv(
        event="routing_change",
        actor=change.actor_name,
        action=action,
        object_type=change.object_type,
        object_id=change.object_id,
        changes=json.dumps(changes, default=str, separators=(",", ":")),
    )
    # Logged only if the change commits: a rolled-back change must leave no trace.
    transaction.on_commit(lambda: logger.info(line))
    return change
