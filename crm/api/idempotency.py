"""The `Idempotency-Key` protocol: a client's retry with the same key gets the first
response again instead of a second contact (the semantics of Stripe's API and of the IETF
httpapi draft). HTTP's part of it (the header, the status and body stored and replayed) lives
here, in the API layer; the purge of old keys is a service (crm.services.idempotency).

Crash safety comes from one transaction: the key row is inserted first, the action runs in
the same transaction (its own atomic block nests as a savepoint), and the response is stored
on the key row before commit. Either all of it is committed or none of it is, so a worker
killed mid-request leaves no key stuck "in flight": the client's retry is processed afresh.

Concurrent twins: the second INSERT of the same (client, key) waits on the unique index
until the first transaction ends. On PostgreSQL (READ COMMITTED) it then fails if the first
committed, and the next statement sees the committed row, whose response is replayed; if the
first rolled back, the INSERT succeeds and this request does the work. On SQLite every
transaction is BEGIN IMMEDIATE, so twins never overlap at all.

Lock order: the key row is written before the action takes any operator lock, and nothing
takes a key-row lock while holding an operator lock, so the wait cannot be part of a cycle.
Errors raised by the action roll everything back, key included: only successful responses
are stored, and a request that failed validation is simply answered again on retry.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from crm.errors import DomainError, UnprocessableError
from crm.models import IDEMPOTENCY_KEY_MAX_LENGTH, IdempotencyKey
from crm.services.lead_erasure import ERASED_FINGERPRINT

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

KEY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Optional. A retry with the same key and the same body gets the first response again "
    f"(no second contact), marked `{REPLAYED_HEADER}: true`; the same key with another body is a 422. "
    "Keys are per client and kept at least 24 hours.",
)
REPLAYED_PARAMETER = OpenApiParameter(
    REPLAYED_HEADER,
    str,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=[201],
    description="Present on a replayed response.",
)


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: dict
    replayed: bool
    contact_id: int | None = None


def idempotency_key_clean(raw: str | None) -> str | None:
    """The key as sent, or None when the header is absent. 1..255 visible ASCII characters
    (0x21-0x7E); anything else is a 400 naming the header."""
    if raw is None:
        return None
    if not (1 <= len(raw) <= IDEMPOTENCY_KEY_MAX_LENGTH) or not all("!" <= ch <= "~" for ch in raw):
        raise DomainError(
            gettext("%(header)s must be 1 to %(max)d visible ASCII characters (no spaces).")
            % {"header": HEADER, "max": IDEMPOTENCY_KEY_MAX_LENGTH},
            field=HEADER,
            code="invalid_idempotency_key",
        )
    return raw


def idempotency_fingerprint(*, operation: str, payload: object) -> str:
    """A hash of what the request asks for: the operation and its body, canonical JSON (key
    order and whitespace do not matter, values do)."""
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def idempotent_run(
    *, user_id: int, key: str, fingerprint: str, action: Callable[[], tuple[int, dict, int | None]]
) -> IdempotentResponse:
    """Run `action` once per (user, key) and store its (status, body, contact id); a repeat
    with the same fingerprint gets the stored response with replayed=True. A repeat with
    another fingerprint raises UnprocessableError (422). Exceptions from `action` propagate
    and store nothing."""
    for _attempt in range(3):
        with transaction.atomic():
            try:
                # Savepoint: a clash on the unique index must not abort the outer transaction.
                with transaction.atomic():
                    row = IdempotencyKey.objects.create(
                        user_id=user_id, key=key, fingerprint=fingerprint, response_status=0, response_body={}
                    )
            except IntegrityError:
                stored = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
                if stored is None:
                    continue  # purged between our INSERT and this read: try again
                # An erased lead's key lost its fingerprint (a hash of the personal data it
                # carried): whatever the retry sends, it gets the scrubbed response.
                if stored.fingerprint not in (fingerprint, ERASED_FINGERPRINT):
                    raise UnprocessableError(
                        gettext("This %(header)s was already used with a different request; use a new key.")
                        % {"header": HEADER},
                        field=HEADER,
                        code="idempotency_key_reused",
                    ) from None
                return IdempotentResponse(
                    stored.response_status, stored.response_body, replayed=True, contact_id=stored.contact_id
                )
            status, body, contact_id = action()
            row.response_status, row.response_body, row.contact_id = status, body, contact_id
            row.save(update_fields=["response_status", "response_body", "contact"])
            return IdempotentResponse(status, body, replayed=False, contact_id=contact_id)
    raise IntegrityError(f"{HEADER} {key!r} could be neither stored nor read.")


def request_idempotency_key(request) -> str | None:
    """The request's Idempotency-Key (None without one); a malformed key is a 400 naming
    the header. Checked before the body, so a bad key is the first thing a client hears of."""
    return idempotency_key_clean(request.headers.get(HEADER))


def idempotent_response(
    request, *, key: str | None, operation: str, action: Callable[[], tuple[int, dict, int | None]]
) -> tuple[Response, bool]:
    """Answer with `action`'s (status, body, contact id), run once per `key` of this client
    (every time without a key). Returns the response and whether it is a replay."""
    if key is None:
        status, body, _ = action()
        return Response(body, status=status), False
    fingerprint = idempotency_fingerprint(operation=operation, payload=request.data)
    outcome = idempotent_run(user_id=request.user.pk, key=key, fingerprint=fingerprint, action=action)
    response = Response(outcome.body, status=outcome.status)
    if outcome.replayed:
        response[REPLAYED_HEADER] = "true"
    return response, outcome.replayed
