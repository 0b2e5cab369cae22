"""Staff configuration: operators, sources and the weights between them.

Every change that can create room (an operator activated, a capacity raised, a weight
added or raised from 0) drains the waiting queue of the sources concerned: one bounded
batch in the same transaction, under the same operator locks the intake takes, and the
rest in the background (crm.services.queue).
"""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext, ngettext

from crm.errors import ConflictError, DomainError, NotFoundError
from crm.models import Operator, OperatorSource, Source
from crm.services.availability import availability_apply
from crm.services.contacts import READ_OPERATORS, operator_contacts_requeue, operator_open_contact_source_ids
from crm.services.locking import routing_locked, smooth_round_restart
from crm.services.queue import queue_drain_bounded
from crm.services.routing_history import routing_change_record, routing_snapshot


def _clean_name(name: str, *, kind: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        if kind == "operator":
            message = gettext("The operator name may not be blank.")
        else:
            message = gettext("The source name may not be blank.")
        raise DomainError(message, field="name", code="blank")
    return cleaned


def _name_taken(kind: str, name: str, pk: int | None = None) -> str:
    """Whole sentences per kind ("an operator", "a source"), as a translator needs them."""
    if kind == "operator":
        if pk is None:
            return gettext("An operator named %(name)s already exists.") % {"name": repr(name)}
        return gettext("An operator named %(name)s already exists (id %(id)d).") % {"name": repr(name), "id": pk}
    if pk is None:
        return gettext("A source named %(name)s already exists.") % {"name": repr(name)}
    return gettext("A source named %(name)s already exists (id %(id)d).") % {"name": repr(name), "id": pk}


def _name_taken_error(kind: str, clash: Operator | Source, sent: str) -> DomainError:
    """The other row's id and its own spelling of the name are for callers who may read it;
    the others hear only that the name they sent is taken."""
    return DomainError(
        _name_taken(kind, clash.name, clash.pk),
        field="name",
        code="unique",
        needs=(f"crm.view_{kind}",),
        public=_name_taken(kind, sent),
    )


def _save_unique_name(instance: Operator | Source, *, kind: str, update_fields: list[str] | None = None) -> None:
    """Save, turning a clash on the case-insensitive unique name into a 400 that says so.
    The pre-check gives the usual message; the IntegrityError covers a concurrent twin."""
    model = type(instance)
    clash = model.objects.filter(name__iexact=instance.name).exclude(pk=instance.pk).first()
    if clash is not None:
        raise _name_taken_error(kind, clash, instance.name)
    try:
        with transaction.atomic():
            instance.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise DomainError(_name_taken(kind, instance.name), field="name", code="unique") from exc


def operator_create(
    *,
    name: str,
    is_active: bool = True,
    max_load: int = 10,
    availability: str = Operator.Availability.ONLINE,
    actor=None,
) -> Operator:
    operator = Operator(
        name=_clean_name(name, kind="operator"), is_active=is_active, max_load=max_load, availability=availability
    )
    with transaction.atomic():
        _save_unique_name(operator, kind="operator")
        routing_change_record(actor=actor, action="create", obj=operator)
    return operator


def operator_update(
    *,
    operator_id: int,
    name: str | None = None,
    is_active: bool | None = None,
    max_load: int | None = None,
    availability: str | None = None,
    redistribute: bool = False,
    actor=None,
) -> Operator:
    """Change an operator.

    - `max_load` may not drop below his open contacts (that would put him over capacity).
    - Activating him or raising `max_load` gives the new room to the waiting queue (one
      bounded batch at once, the rest in the background).
    - `availability` as the operator would set it himself (see crm.services.availability);
      becoming available drains the queue too.
    - `redistribute=True` with `is_active=False` (or `availability="offline"`) returns his open
      contacts to the queue, oldest first, and routes them to the other operators as far as
      they have room.
    """
    if redistribute and is_active is not False and availability != Operator.Availability.OFFLINE:
        raise DomainError(
            gettext(
                "redistribute is only possible when deactivating (is_active: false) or going offline "
                '("availability": "offline").'
            ),
            field="redistribute",
        )
    returning_from: list[int] = []
    if redistribute:
        # His contacts may come from sources he no longer serves; their queues get them back.
        # (No new ones can appear there meanwhile: only linked sources route to him.)
        returning_from = operator_open_contact_source_ids(operator_id=operator_id)
    # Lock the operator and every operator of his sources: an intake may be adding to
    # their loads right now, and the queue drain below decides on all of them.
    with transaction.atomic(), routing_locked(serving=[operator_id], source_ids=returning_from) as ctx:
        operator = ctx.operators.get(operator_id)
        if operator is None:
            raise NotFoundError(gettext("Operator %(id)d does not exist.") % {"id": operator_id})
        room_before = operator.max_load if operator.is_active else 0
        was_active = operator.is_active
        became_available = False
        if availability is not None:
            became_available = availability_apply(ctx, operator, availability, actor=actor)
            operator.save(update_fields=["availability", "availability_changed_at", "last_seen_at"])
        before = routing_snapshot(operator)
        if name is not None:
            operator.name = _clean_name(name, kind="operator")
        if is_active is not None:
            operator.is_active = is_active
        if max_load is not None:
            if max_load < operator.open_load:
                raise DomainError(
                    ngettext(
                        "%(name)s has %(load)d open contact; max_load cannot be lower than %(load)d. "
                        "Close or reassign it first.",
                        "%(name)s has %(load)d open contacts; max_load cannot be lower than %(load)d. "
                        "Close or reassign contacts first.",
                        operator.open_load,
                    )
                    % {"name": operator.name, "load": operator.open_load},
                    field="max_load",
                    code="below_current_load",
                    needs=READ_OPERATORS,
                    public=gettext(
                        "max_load cannot be lower than the operator's open contacts. Close or reassign contacts first."
                    ),
                )
            operator.max_load = max_load
        _save_unique_name(operator, kind="operator", update_fields=["name", "is_active", "max_load"])
        routing_change_record(actor=actor, action="update", obj=operator, before=before)
        if was_active != operator.is_active:
            smooth_round_restart(source_ids=ctx.served, ctx=ctx)
        returned = operator_contacts_requeue(ctx, operator, actor=actor) if redistribute else 0
        room_after = operator.max_load if operator.is_active else 0
        if room_after > room_before or returned or became_available:
            queue_drain_bounded(source_ids=ctx.served, ctx=ctx, actor=actor)
    return operator


def source_create(*, name: str, strategy: str = Source.Strategy.RANDOM, affinity: bool = False, actor=None) -> Source:
    source = Source(name=_clean_name(name, kind="source"), strategy=strategy, affinity=affinity)
    with transaction.atomic():
        _save_unique_name(source, kind="source")
        routing_change_record(actor=actor, action="create", obj=source)
    return source


def source_update(
    *,
    source_id: int,
    name: str | None = None,
    strategy: str | None = None,
    affinity: bool | None = None,
    actor=None,
) -> Source:
    # The operators' locks serialise this with the intakes that read the strategy.
    with transaction.atomic(), routing_locked(source_ids=[source_id]) as ctx:
        source = ctx.sources.get(source_id)
        if source is None:
            raise NotFoundError(gettext("Source %(id)d does not exist.") % {"id": source_id})
        before = routing_snapshot(source)
        if name is not None:
            source.name = _clean_name(name, kind="source")
        if strategy is not None and strategy != source.strategy:
            source.strategy = strategy
            smooth_round_restart(source_ids=[source_id], ctx=ctx)
        if affinity is not None:
            source.affinity = affinity
        _save_unique_name(source, kind="source")
        routing_change_record(actor=actor, action="update", obj=source, before=before)
    return source


def link_create(*, operator_id: int, source_id: int, weight: int, actor=None) -> OperatorSource:
    """Link an operator to a source with a weight. A pair that exists already is refused
    with a pointer to the existing link, whose weight can be changed instead. A new link
    with weight > 0 brings room to the source: its queue is drained."""
    if not Operator.objects.filter(pk=operator_id).exists():
        raise NotFoundError(gettext("Operator %(id)d does not exist.") % {"id": operator_id}, field="operator_id")
    if not Source.objects.filter(pk=source_id).exists():
        raise NotFoundError(gettext("Source %(id)d does not exist.") % {"id": source_id}, field="source_id")
    existing = OperatorSource.objects.filter(operator_id=operator_id, source_id=source_id).first()
    if existing is not None:
        raise _duplicate_link_error(existing)
    try:
        # Covering: the drain below locks the source's operators again, and must find them
        # all held already (a link committed while this lock waited included).
        with transaction.atomic(), routing_locked(source_ids=[source_id], operator_ids=[operator_id], covering=True):
            link = OperatorSource.objects.create(operator_id=operator_id, source_id=source_id, weight=weight)
            routing_change_record(actor=actor, action="create", obj=link)
            smooth_round_restart(source_ids=[source_id])
            if weight > 0:
                # A fresh context (its locks are already ours): it must see the new link.
                with routing_locked(source_ids=[source_id]) as fresh:
                    queue_drain_bounded(source_ids=[source_id], ctx=fresh, actor=actor)
            return link
    except IntegrityError as exc:
        existing = OperatorSource.objects.filter(operator_id=operator_id, source_id=source_id).first()
        if existing is None:
            raise ConflictError(gettext("The operator or the source was deleted meanwhile.")) from exc
        raise _duplicate_link_error(existing) from exc


def _duplicate_link_error(link: OperatorSource) -> DomainError:
    """The existing link's id and weight are for callers who may read links."""
    ids = {"operator": link.operator_id, "source": link.source_id}
    return DomainError(
        gettext(
            "Operator %(operator)d is already linked to source %(source)d (link %(link)d, weight %(weight)d); "
            "change that link's weight instead."
        )
        % {**ids, "link": link.pk, "weight": link.weight},
        field="non_field_errors",
        code="unique",
        needs=("crm.view_operatorsource",),
        public=gettext("Operator %(operator)d is already linked to source %(source)d.") % ids,
    )


def link_update(*, link_id: int, weight: int, actor=None) -> OperatorSource:
    """Change a weight. Raising it from 0 brings room: the source's queue is drained."""
    link = OperatorSource.objects.filter(pk=link_id).first()
    if link is None:
        raise NotFoundError(gettext("Operator-source link %(id)d does not exist.") % {"id": link_id})
    with transaction.atomic(), routing_locked(source_ids=[link.source_id], operator_ids=[link.operator_id]) as ctx:
        link = next((lk for lk in ctx.links[link.source_id] if lk.pk == link_id), None)
        if link is None:
            raise NotFoundError(gettext("Operator-source link %(id)d does not exist.") % {"id": link_id})
        previous = link.weight
        if weight != previous:
            before = routing_snapshot(link)
            link.weight = weight
            link.save(update_fields=["weight"])
            routing_change_record(actor=actor, action="update", obj=link, before=before)
            smooth_round_restart(source_ids=[link.source_id], ctx=ctx)
            if weight > 0:
                queue_drain_bounded(source_ids=[link.source_id], ctx=ctx, actor=actor)
    return link


def link_delete(*, link_id: int, actor=None) -> None:
    link = OperatorSource.objects.filter(pk=link_id).first()
    if link is None:
        raise NotFoundError(gettext("Operator-source link %(id)d does not exist.") % {"id": link_id})
    with transaction.atomic(), routing_locked(source_ids=[link.source_id], operator_ids=[link.operator_id]):
        deleted, _ = OperatorSource.objects.filter(pk=link_id).delete()
        if not deleted:
            raise NotFoundError(gettext("Operator-source link %(id)d does not exist.") % {"id": link_id})
        routing_change_record(actor=actor, action="delete", obj=link, before=routing_snapshot(link), deleted=True)
        smooth_round_restart(source_ids=[link.source_id])
