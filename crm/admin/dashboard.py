"""The routing dashboard, an admin page at /admin/routing/ (added by the admin site's
`get_urls()`): configured against actual shares per source, operators' load against capacity,
and the waiting contacts.

Everything shown comes from `crm.selectors.routing_dashboard_stats` (a fixed number of aggregate
queries however many contacts there are) and one query for the operators; the bars are
plain HTML/CSS widths, so the page needs no JavaScript and no network.
"""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.selectors import STATS_DEFAULT_WINDOW as DEFAULT_WINDOW
from crm.selectors import STATS_WINDOWS as WINDOWS
from crm.selectors import operators_availability, routing_dashboard_stats, stats_window_since


def dashboard_context(*, window: str, now=None) -> dict:
    """The numbers the page shows, separate from the request so tests can compare them with
    the database directly."""
    now = now or timezone.now()
    since = stats_window_since(window, now=now)
    return {
        "window": window,
        "since": since,
        "now": now,
        **routing_dashboard_stats(since=since, now=now),
        "availability": operators_availability(now=now),
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
    return TemplateResponse(request, "admin/crm/routing_dashboard.html", context)
