"""The routing dashboard, an admin page at /admin/routing/ (added by the admin site's
`get_urls()`): configured against actual shares per source, operators' load against capacity,
and the waiting contacts.

Everything shown comes from `crm.selectors.distribution_stats` (a fixed number of aggregate
queries however many contacts there are) and one query for the operators; the bars are
plain HTML/CSS widths, so the page needs no JavaScript and no network.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Operator
from crm.selectors import distribution_stats, webhook_backlog, webhook_failing_endpoints

# key → (length of the window, label); the first is the default.
WINDOWS = {
    "24h": (timedelta(hours=24), _("last 24 hours")),
    "7d": (timedelta(days=7), _("last 7 days")),
    "all": (None, _("all time")),
}
DEFAULT_WINDOW = "24h"


def _percent(share: float) -> float:
    return round(100 * share, 1)


def dashboard_context(*, window: str, now=None) -> dict:
    """The numbers the page shows, separate from the request so tests can compare them with
    the database directly."""
    now = now or timezone.now()
    length, _label = WINDOWS[window]
    since = now - length if length is not None else None
    sources = distribution_stats(since=since, now=now)
    for source in sources:
        for row in source["operators"]:
            row["configured_percent"] = _percent(row["configured_share"])
            row["actual_percent"] = _percent(row["actual_share"])
    operators = list(Operator.objects.order_by("name", "id"))
    for operator in operators:
        ratio = operator.open_load / operator.max_load if operator.max_load else 1.0
        operator.load_percent = min(100, round(100 * ratio))
        operator.is_full = operator.open_load >= operator.max_load
    active = [op for op in operators if op.is_active]
    waiting_sources = [s for s in sources if s["waiting"]]
    oldest = min((s["oldest_waiting_since"] for s in waiting_sources), default=None)
    return {
        "window": window,
        "since": since,
        "now": now,
        "sources": sources,
        "operators": operators,
        "totals": {
            "contacts": sum(s["contacts"] for s in sources),
            "assigned": sum(s["assigned"] for s in sources),
            "waiting": sum(s["waiting"] for s in sources),
            "oldest_waiting_since": oldest,
            "open_load": sum(op.open_load for op in active),
            "capacity": sum(op.max_load for op in active),
            "full": sum(1 for op in active if op.is_full),
            "inactive": len(operators) - len(active),
        },
        "waiting_sources": waiting_sources,
    }


def webhooks_context(*, now=None) -> dict:
    """The webhook outbox's backlog and the endpoints whose receivers are failing."""
    now = now or timezone.now()
    backlog = webhook_backlog(now=now)
    age = backlog["oldest_undelivered_age_seconds"]
    return {
        "backlog": backlog,
        "oldest_since": now - timedelta(seconds=age) if age is not None else None,
        "now": now,
        "failing": webhook_failing_endpoints(now=now),
    }


def routing_dashboard(request, *, site):
    """Staff only (wrapped by the site's `admin_view`), and only those who may read contacts."""
    if not request.user.has_perm("crm.view_contact"):
        raise PermissionDenied
    window = request.GET.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    context = {
        **site.each_context(request),
        **dashboard_context(window=window),
        "title": _("Routing dashboard"),
        "windows": [(key, label) for key, (_length, label) in WINDOWS.items()],
        "window_label": WINDOWS[window][1],
    }
    if request.user.has_perm("crm.view_webhookendpoint"):
        context["webhooks"] = webhooks_context()
    return TemplateResponse(request, "admin/crm/routing_dashboard.html", context)
