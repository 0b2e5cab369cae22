"""The routing invariants, checked against the database."""

from django.db.models import Count, Q
from django.utils import timezone

from crm.models import Contact, Event, EventType, Operator, OperatorSource
from crm.selectors import operator_load_mismatches
from crm.services.assignment import availability_now


def assert_routing_invariants(*, timeline: bool = True, caught_up: bool = True) -> None:
    """`timeline=False` for tests that build contacts with factories, around the services
    that write their events. `caught_up`: no background drain is pending (every drain that a
    change asked for has run); "nobody waits while there is room" holds only then."""
    # 1. Nobody over capacity, counted from the contacts themselves.
    for op in Operator.objects.annotate(n=Count("contacts", filter=Q(contacts__status="open"))):
        assert op.n <= op.max_load, f"{op.name}: {op.n} open contacts > max_load {op.max_load}"
    # 2. The stored loads agree with a recount.
    assert operator_load_mismatches() == []
    # 3. No contact waits on a source while an eligible operator of it (active, weight > 0,
    # online as routing sees it, auto-away included) has room -- once the drains have caught up.
    waiting_sources = set(
        Contact.objects.filter(status="open", operator__isnull=True).values_list("source_id", flat=True)
    )
    if not caught_up:
        waiting_sources = set()
    for link in OperatorSource.objects.filter(source_id__in=waiting_sources).select_related("operator"):
        op = link.operator
        online = availability_now(op, now=timezone.now()) == Operator.Availability.ONLINE
        assert not (op.is_active and link.weight > 0 and online and op.open_load < op.max_load), (
            f"source {link.source_id} has waiting contacts while {op.name} "
            f"({op.open_load}/{op.max_load}, weight {link.weight}) could take one"
        )
    if not timeline:
        return
    # 4. Every contact's timeline agrees with it: registered first, its last placement
    # (assigned/waiting) names its operator, and it is closed exactly when it says so.
    placements = (EventType.CONTACT_ASSIGNED, EventType.CONTACT_WAITING)
    last: dict[int, Event] = {}
    first: dict[int, str] = {}
    closed: set[int] = set()
    for event in Event.objects.filter(contact__isnull=False).order_by("id"):
        first.setdefault(event.contact_id, event.type)
        if event.type in placements:
            last[event.contact_id] = event
        elif event.type == EventType.CONTACT_CLOSED:
            closed.add(event.contact_id)
    for contact in Contact.objects.all():
        assert first.get(contact.pk) == EventType.CONTACT_REGISTERED, f"contact {contact.pk}: no registered event"
        assert (contact.pk in closed) == (contact.status == "closed"), f"contact {contact.pk}: close not recorded"
        if contact.status == "open":
            assert last[contact.pk].operator_id == contact.operator_id, (
                f"contact {contact.pk} is with {contact.operator_id}, its timeline says {last[contact.pk].operator_id}"
            )
