"""The routing invariants, checked against the database."""

from django.db.models import Count, Q

from crm.models import Contact, Operator, OperatorSource
from crm.selectors import operator_load_mismatches


def assert_routing_invariants(*, caught_up: bool = True) -> None:
    """`caught_up`: no background drain is pending (every drain that a change asked for has
    run). Capacity and loads hold after every step; "nobody waits while there is room" only
    once the drains have caught up."""
    # 1. Nobody over capacity, counted from the contacts themselves.
    for op in Operator.objects.annotate(n=Count("contacts", filter=Q(contacts__status="open"))):
        assert op.n <= op.max_load, f"{op.name}: {op.n} open contacts > max_load {op.max_load}"
    # 2. The stored loads agree with a recount.
    assert operator_load_mismatches() == []
    # 3. No contact waits on a source while an eligible operator of it has room (once the
    #    drains have caught up).
    if not caught_up:
        return
    waiting_sources = set(
        Contact.objects.filter(status="open", operator__isnull=True).values_list("source_id", flat=True)
    )
    for link in OperatorSource.objects.filter(source_id__in=waiting_sources).select_related("operator"):
        op = link.operator
        assert not (op.is_active and link.weight > 0 and op.open_load < op.max_load), (
            f"source {link.source_id} has waiting contacts while {op.name} "
            f"({op.open_load}/{op.max_load}, weight {link.weight}) could take one"
        )
