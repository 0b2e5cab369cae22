"""Plain Django views outside the API: no authentication, no throttling, no data."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from crm.selectors import webhook_backlog

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """For load balancers: 200 when the database answers `SELECT 1`, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("healthz: database unavailable: %s", exc)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def healthz_webhooks(request):
    """The webhook outbox: backlog and the oldest undelivered event's age. 503 when an event has
    waited longer than WEBHOOK_DISPATCH_ALERT to be fanned out (the worker is down or behind);
    deliveries waiting on a failing receiver are reported but are not our outage."""
    try:
        backlog = webhook_backlog()
    except DatabaseError as exc:
        logger.warning("healthz: database unavailable: %s", exc)
        return JsonResponse({"status": "unavailable"}, status=503)
    lagging = (backlog["oldest_undispatched_age_seconds"] or 0) > settings.WEBHOOK_DISPATCH_ALERT.total_seconds()
    return JsonResponse({"status": "lagging" if lagging else "ok", **backlog}, status=503 if lagging else 200)


def api_not_found(request, exception=None):
    """404 for paths that match no route: JSON under /api/ (clients parse it), Django's page
    elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    """500 as JSON under /api/; the traceback goes to the log, never to the client."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    from django.views.defaults import server_error

    return server_error(request)
