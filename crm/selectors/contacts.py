"""Reads about contacts and operators: who may see what, whom a contact may go to, an
operator's sources and availability, a contact's timeline, the load recount."""

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils import timezone

from crm.models import (
    Contact,
    Event,
    Operator,
    OperatorAvailability,
    OperatorSource,
    Source,
    UnassignedReason,
)
from crm.services.assignment import Candidate, available_now_q


def contact_decision_visible(*, user) -> bool:
    """Who may see a contact's decision record (`Contact.assignment`): it names operators with
    their weights and loads, so staff who may read contacts *and* operators. Bots never."""
    return bool(
        user is not None
        and user.is_active
        and user.is_staff
        and user.has_perm("crm.view_contact")
        and user.has_perm("crm.view_operator")
    )


def contact_reassign_targets(*, source_id: int, current_operator_id: int | None) -> list[Operator]:
    """The operators an open contact of `source_id` may be handed to by hand, by name: exactly
    those contact_reassign(operator_id=...) accepts (Candidate.manual_exclusion), as of now."""
    links = (
        OperatorSource.objects.filter(source_id=source_id)
        .exclude(operator_id=current_operator_id)
        .select_related("operator")
    )
    now = timezone.now()
    operators = [link.operator for link in links if Candidate.from_link(link, now=now).manual_exclusion is None]
    return sorted(operators, key=lambda op: (op.name.lower(), op.pk))


def operator_load_mismatches() -> list[tuple[int, int, int]]:
    """Operators whose stored open load differs from a recount of their open contacts,
    as (operator_id, stored, counted). Empty when the books balance."""
    rows = Operator.objects.annotate(counted=Count("contacts", filter=Q(contacts__status=Contact.Status.OPEN)))
    return [(op.pk, op.open_load, op.counted) for op in rows if op.open_load != op.counted]


def contact_events(*, contact_id: int):
    """A contact's timeline, oldest first (index crm_event_contact_idx)."""
    return Event.objects.filter(contact_id=contact_id).select_related("actor_user").order_by("id")


def operator_for_user(user) -> Operator | None:
    """The operator whose login `user` is, or None (staff, bots, anonymous). Staff are
    never treated as operators, even when linked to one."""
    if user is None or not user.is_authenticated or user.is_staff:
        return None
    return Operator.objects.filter(user_id=user.pk).first()


def operator_sources(*, operator_id: int) -> list[Source]:
    """The sources an operator serves (names only: weights are staff's business)."""
    return list(Source.objects.filter(links__operator_id=operator_id).order_by("id"))


def transfer_targets(*, contact: Contact) -> list[Operator]:
    """Who could take `contact` by transfer now: the other operators of its source who are
    active, have weight > 0, are online (auto-away counted) and have room. What the service
    checks again under the locks; this only fills the workspace's list."""
    return list(
        Operator.objects.filter(
            available_now_q(now=timezone.now()),
            links__source_id=contact.source_id,
            links__weight__gt=0,
            is_active=True,
            open_load__lt=F("max_load"),
        )
        .exclude(pk=contact.operator_id)
        .order_by("name", "id")
    )


def operators_availability(*, now=None) -> dict:
    """For the routing dashboard: operators by availability as routing sees it (auto-away
    included), since when, and how many contacts wait because nobody with room is online."""
    from crm.services.assignment import availability_now

    now = now or timezone.now()
    rows = []
    for operator in Operator.objects.filter(is_active=True).order_by("name", "id"):
        state = availability_now(operator, now=now)
        auto_away = state != operator.availability
        since = operator.last_seen_at if auto_away else operator.availability_changed_at
        if auto_away and since is not None:
            since = since + settings.OPERATOR_AWAY_AFTER
        rows.append({"operator": operator, "availability": state, "since": since, "auto_away": auto_away})
    waiting_nobody_online = Contact.objects.waiting().filter(unassigned_reason=UnassignedReason.NOBODY_ONLINE).count()
    return {
        "operators": rows,
        "online": sum(1 for r in rows if r["availability"] == OperatorAvailability.ONLINE),
        "waiting_nobody_online": waiting_nobody_online,
    }
