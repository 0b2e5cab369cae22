"""Display helpers shared by the staff screens: numbers as staff read them, the load bar, and
the assignment decision record rendered by a template (admin/crm/contact/decision.html)."""

import json

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format, localize, number_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import (
    AffinityOutcome,
    AssignmentVia,
    Contact,
    DecisionStrategy,
    EventVia,
    Exclusion,
    OperatorAvailability,
    UnassignedReason,
)

CSS = {"all": ["crm/admin.css"]}


def percent(part: int, total: int, *, sign: bool = True) -> str:
    """75.0 % in English, 75,0 % in Russian."""
    value = number_format(round(100 * part / total, 1), 1)
    return f"{value} %" if sign else value


def short_datetime(value) -> str:
    """A moment in the reader's time zone and short local format; "—" for none."""
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else "—"


def load_bar(open_load: int, max_load: int):
    """ "7 / 10" with a small bar; red when full, amber from 80 %."""
    ratio = open_load / max_load if max_load else 1.0
    level = "crm-full" if open_load >= max_load else ("crm-high" if ratio >= 0.8 else "")
    return format_html(
        '<span class="crm-load" title="{}"><span class="crm-bar {}"><span style="width: {}%"></span></span>'
        "<span>{} / {}</span></span>",
        gettext("open contacts / max load"),
        level,
        min(100, round(100 * ratio)),
        open_load,
        max_load,
    )


# The decision record written by crm.services.assignment (Decision.record): labels for its
# known keys and values; anything else is shown as it is, so nothing recorded is hidden.
DECISION_FACTS = {
    "via": _("how"),
    "at": _("decided at"),
    "strategy": _("strategy"),
    "affinity": _("lead affinity"),
    "affinity_operator_id": _("lead's previous operator"),
    "operator_id": _("chosen operator"),
    "reason": _("why unassigned"),
}
DECISION_VALUES = {
    "via": dict(AssignmentVia.choices),
    "strategy": dict(DecisionStrategy.choices),
    "affinity": dict(AffinityOutcome.choices),
    "excluded": dict(Exclusion.choices),
    "reason": dict(UnassignedReason.choices),
}


def render_decision(record) -> str:
    """The stored assignment decision, readable: the facts as rows, then the candidates with
    weight, load and why each was left out; the chosen one is marked."""
    return render_to_string("admin/crm/contact/decision.html", decision_context(record))


def decision_context(record) -> dict:
    """What the decision template shows: plain strings, already labelled and localised."""
    if not record:
        return {"empty": True}
    if not isinstance(record, dict):
        return {"raw": _json(record)}
    candidates = [c for c in record.get("candidates") or [] if isinstance(c, dict)]
    names = {c.get("operator_id"): c.get("name") for c in candidates}
    facts, extras = [], []
    for key, value in record.items():
        if key == "candidates":
            continue
        if isinstance(value, list | dict):
            extras.append((key, _json(value)))
            continue
        if key in ("operator_id", "affinity_operator_id") and value is not None:
            shown = f"{names.get(value) or ''} (#{value})".strip()
        elif key == "reason":
            shown = Contact.UnassignedReason(value).label if value in Contact.UnassignedReason.values else value
        elif key == "at":
            shown = _local_time(value)
        else:
            shown = DECISION_VALUES.get(key, {}).get(value, value)
        facts.append((DECISION_FACTS.get(key, key), _plain(shown)))
    chosen = record.get("operator_id")
    rows = []
    for c in candidates:
        is_chosen = chosen is not None and c.get("operator_id") == chosen
        why = DECISION_VALUES["excluded"].get(c.get("excluded"), c.get("excluded"))
        rows.append(
            {
                "chosen": is_chosen,
                "operator": f"{c.get('name')} (#{c.get('operator_id')})",
                "weight": _plain(c.get("weight")),
                "load": _plain(c.get("load")),
                "max_load": _plain(c.get("max_load")),
                "why": gettext("chosen") if is_chosen else _plain(why),
            }
        )
    return {"facts": facts, "candidates": rows, "extras": extras}


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _local_time(value):
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return localize(timezone.localtime(parsed)) if parsed and timezone.is_aware(parsed) else value


def _plain(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


# The words of an event's `data` (crm.services.events), as a timeline shows them.
EVENT_DETAIL_LABELS = {
    "via": _("how"),
    "reason": _("why"),
    "strategy": _("strategy"),
    "lead_id": _("lead"),
    "new_lead": _("new lead"),
    "from_operator_id": _("from operator"),
    "to_operator_id": _("to operator"),
    "availability": _("availability"),
    "previous": _("before"),
    "contacts": _("contacts"),
}
EVENT_DETAIL_VALUES = {
    "via": EventVia,
    "reason": UnassignedReason,
    "strategy": DecisionStrategy,
    "availability": OperatorAvailability,
    "previous": OperatorAvailability,
}


def event_details(data: dict) -> list[tuple[str, str]]:
    """(label, value) pairs of an event's details, in the reader's language: known words by
    their labels, ids with a "#", yes/no for flags; empty values left out."""
    details = []
    for key, value in data.items():
        if value in ("", None):
            continue
        choices = EVENT_DETAIL_VALUES.get(key)
        if choices is not None and value in choices.values:
            shown = str(choices(value).label)
        elif isinstance(value, bool):
            shown = gettext("yes") if value else gettext("no")
        elif key.endswith("_id"):
            shown = f"#{value}"
        else:
            shown = str(value)
        details.append((str(EVENT_DETAIL_LABELS.get(key, key)), shown))
    return details
