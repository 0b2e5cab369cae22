"""Staff configuration: operators, sources and the weights between them."""

from django.db import IntegrityError, transaction

from crm.errors import ConflictError, DomainError, NotFoundError
from crm.models import Operator, OperatorSource, Source
from crm.services.routing_history import routing_change_record, routing_snapshot


def _clean_name(name: str, *, kind: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise DomainError(f"The {kind} name may not be blank.", field="name", code="blank")
    return cleaned


def _save_unique_name(instance: Operator | Source, *, kind: str) -> None:
    """Save, turning a clash on the case-insensitive unique name into a 400 that says so.
    The pre-check gives the usual message; the IntegrityError covers a concurrent twin."""
    model = type(instance)
    clash = model.objects.filter(name__iexact=instance.name).exclude(pk=instance.pk).first()
    if clash is not None:
        raise DomainError(f"A {kind} named {clash.name!r} already exists (id {clash.pk}).", field="name", code="unique")
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise DomainError(f"A {kind} named {instance.name!r} already exists.", field="name", code="unique") from exc


def operator_create(*, name: str, is_active: bool = True, max_load: int = 10, actor=None) -> Operator:
    operator = Operator(name=_clean_name(name, kind="operator"), is_active=is_active, max_load=max_load)
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
    actor=None,
) -> Operator:
    """Change an operator. `max_load` may not drop below the operator's open contacts:
    that would put him over capacity, which nothing in this product may do."""
    with transaction.atomic():
        # Lock the operator: an intake may be adding to its load right now; the capacity
        # check below must see the load that will still be true at commit.
        operator = Operator.objects.select_for_update(no_key=True).filter(pk=operator_id).first()
        if operator is None:
            raise NotFoundError(f"Operator {operator_id} does not exist.")
        before = routing_snapshot(operator)
        if name is not None:
            operator.name = _clean_name(name, kind="operator")
        if is_active is not None:
            operator.is_active = is_active
        if max_load is not None:
            if max_load < operator.open_load:
                raise DomainError(
                    f"{operator.name} has {operator.open_load} open contacts; max_load cannot be "
                    f"lower than {operator.open_load}. Close or reassign contacts first.",
                    field="max_load",
                    code="below_current_load",
                )
            operator.max_load = max_load
        _save_unique_name(operator, kind="operator")
        routing_change_record(actor=actor, action="update", obj=operator, before=before)
    return operator


def source_create(*, name: str, actor=None) -> Source:
    source = Source(name=_clean_name(name, kind="source"))
    with transaction.atomic():
        _save_unique_name(source, kind="source")
        routing_change_record(actor=actor, action="create", obj=source)
    return source


def source_update(*, source_id: int, name: str, actor=None) -> Source:
    with transaction.atomic():
        source = Source.objects.filter(pk=source_id).first()
        if source is None:
            raise NotFoundError(f"Source {source_id} does not exist.")
        before = routing_snapshot(source)
        source.name = _clean_name(name, kind="source")
        _save_unique_name(source, kind="source")
        routing_change_record(actor=actor, action="update", obj=source, before=before)
    return source


def link_create(*, operator_id: int, source_id: int, weight: int, actor=None) -> OperatorSource:
    """Link an operator to a source with a weight. A pair that exists already is refused
    with a pointer to the existing link, whose weight can be changed instead."""
    if not Operator.objects.filter(pk=operator_id).exists():
        raise NotFoundError(f"Operator {operator_id} does not exist.", field="operator_id")
    if not Source.objects.filter(pk=source_id).exists():
        raise NotFoundError(f"Source {source_id} does not exist.", field="source_id")
    existing = OperatorSource.objects.filter(operator_id=operator_id, source_id=source_id).first()
    if existing is not None:
        raise DomainError(_duplicate_link_message(existing), field="non_field_errors", code="unique")
    try:
        with transaction.atomic():
            link = OperatorSource.objects.create(operator_id=operator_id, source_id=source_id, weight=weight)
            routing_change_record(actor=actor, action="create", obj=link)
            return link
    except IntegrityError as exc:
        existing = OperatorSource.objects.filter(operator_id=operator_id, source_id=source_id).first()
        if existing is None:
            raise ConflictError("The operator or the source was deleted meanwhile.") from exc
        raise DomainError(_duplicate_link_message(existing), field="non_field_errors", code="unique") from exc


def _duplicate_link_message(link: OperatorSource) -> str:
    return (
        f"Operator {link.operator_id} is already linked to source {link.source_id} "
        f"(link {link.pk}, weight {link.weight}); change that link's weight instead."
    )


def link_update(*, link_id: int, weight: int, actor=None) -> OperatorSource:
    with transaction.atomic():
        link = OperatorSource.objects.filter(pk=link_id).first()
        if link is None:
            raise NotFoundError(f"Operator-source link {link_id} does not exist.")
        before = routing_snapshot(link)
        link.weight = weight
        link.save(update_fields=["weight"])
        routing_change_record(actor=actor, action="update", obj=link, before=before)
    return link


def link_delete(*, link_id: int, actor=None) -> None:
    with transaction.atomic():
        link = OperatorSource.objects.filter(pk=link_id).first()
        if link is None:
            raise NotFoundError(f"Operator-source link {link_id} does not exist.")
        routing_change_record(actor=actor, action="delete", obj=link, before=routing_snapshot(link), deleted=True)
        link.delete()
