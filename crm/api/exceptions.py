"""One place that maps domain errors to HTTP. Services raise crm.errors; views stay thin."""

import logging

from django.db import IntegrityError, OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crm.errors import DomainError
from crm.models import id_from_text

logger = logging.getLogger(__name__)

# PostgreSQL: deadlock_detected, serialization_failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
# PostgreSQL: lock_not_available (lock_timeout), query_canceled (statement_timeout).
BUSY_SQLSTATES = {"55P03", "57014"}


def database_busy(exc: Exception) -> bool:
    """A statement gave up waiting: SQLite's busy timeout for the write lock, or PostgreSQL's
    lock or statement timeout. The transaction was rolled back; the request may be retried."""
    if not isinstance(exc, OperationalError):
        return False
    return getattr(exc.__cause__, "sqlstate", None) in BUSY_SQLSTATES or "database is locked" in str(exc)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        message = exc.message_for(getattr(context.get("request"), "user", None))
        if exc.field:
            body = {exc.field: [message]}
        else:
            body = {"detail": message, "code": exc.code}
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404) and (detail := _not_found_detail(context)):
        return Response({"detail": detail, "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, IntegrityError):
        # A constraint caught what validation could not see (a concurrent twin, say). The
        # transaction was rolled back: nothing half-written stays behind.
        # The first line names the constraint; PostgreSQL's DETAIL line quotes the row's
        # values (a name, a phone...), which never go to the logs.
        logger.warning("integrity error turned into 409: %s", str(exc).splitlines()[0] if str(exc) else "")
        return Response(
            {"detail": _("The request conflicts with the current data; nothing was changed."), "code": "conflict"},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES:
        # A deadlock or serialization failure: the lock order is meant to make these
        # impossible, but if one happens the transaction was rolled back and a retry is safe.
        logger.error("retryable database error turned into 409: %s", str(exc).splitlines()[0] if str(exc) else "")
        return Response(
            {
                "detail": _("A concurrent change got in the way; nothing was changed. Retry the request."),
                "code": "retry",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if database_busy(exc):
        logger.error("database busy, turned into 503: %s", exc)
        return Response(
            {"detail": _("The database is busy; nothing was changed. Retry the request."), "code": "busy"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ValidationError) and isinstance(response.data, dict):
        response.data = {
            field: _flat_messages(errors) if _nested(errors) else errors for field, errors in response.data.items()
        }
    return response


def _not_found_detail(context) -> str | None:
    """The 404 of an object addressed by its id, in the caller's language. Django's own ("No
    Contact matches the given query.") names the model's class, in English whatever the
    language. None when the path has no numeric id (DRF's "Not found." then)."""
    pk = (context.get("kwargs") or {}).get("pk")
    view = context.get("view")
    queryset = getattr(view, "queryset", None)
    if pk is None or id_from_text(str(pk)) is None or queryset is None:
        return None
    return _("Not found: %(model)s %(id)s.") % {"model": queryset.model._meta.verbose_name, "id": pk}


def _nested(errors) -> bool:
    return isinstance(errors, dict) or (isinstance(errors, list) and any(isinstance(e, dict | list) for e in errors))


def _flat_messages(errors, prefix: str = "") -> list[str]:
    """A field's errors as the flat list of strings the API documents. DRF nests the errors of
    a list's items and of nested fields in objects keyed by index or name ({"0": [...]}); those
    become prefixed messages ("0: ..."), so every 400 has one shape."""
    if isinstance(errors, dict):
        return [message for key, value in errors.items() for message in _flat_messages(value, f"{prefix}{key}: ")]
    if isinstance(errors, list):
        return [message for item in errors for message in _flat_messages(item, prefix)]
    return [f"{prefix}{errors}"]
