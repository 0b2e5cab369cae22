"""Plain Django views outside the API: no authentication, no throttling, no data. The error
handlers answer JSON under /api/ (clients parse it) and Django's plain pages elsewhere; no
page ever shows a traceback or the URL list."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from crm.middleware import is_api_path
from crm.tasks import worker_health

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
def healthz_worker(request):
    """For monitoring the background worker: 200 while a worker has shown a heartbeat
    recently, 503 otherwise; with the queue's state (waiting contacts, the oldest's age)."""
    try:
        health = worker_health()
    except DatabaseError as exc:
        logger.warning("healthz/worker: database unavailable: %s", exc)
        return JsonResponse({"status": "unavailable"}, status=503)
    alive = health["worker"]["alive"]
    return JsonResponse({"status": "ok" if alive else "worker_down", **health}, status=200 if alive else 503)


def api_bad_request(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse({"detail": _("Bad request."), "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)


def api_permission_denied(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse({"detail": _("Permission denied."), "code": "permission_denied"}, status=403)
    return defaults.permission_denied(request, exception)


def api_not_found(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def api_server_error(request):
    """The traceback goes to the log, never to the client."""
    if is_api_path(request.path):
        return JsonResponse({"detail": _("Server error."), "code": "server_error"}, status=500)
    return defaults.server_error(request)
