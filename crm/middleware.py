"""HTTP guards that run before any view reads the request, for the API and the admin alike.

- `RequestGuard` (WSGI, around Django): the only charsets a body or a query string is ever
  decoded with; a `Transfer-Encoding: chunked` body reaches Django with a length, read under
  the same cap as any other body.
- `AsgiRequestGuard` (ASGI, around Django): the same rules for `minicrm_project.asgi`, plus the
  body cap before Django buffers a body (its ASGI handler would spool any size to disk).
- `RequestCharsetMiddleware` (Django): the charset rule again, for entry points that do not
  come through either (the test client).
"""

import codecs
import io

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Real text encodings only, by the canonical name of Python's codec registry. Django takes the
# charset of Content-Type from that registry, which also holds bytes-to-bytes codecs (bz2,
# zlib: a 447-byte body inflates to 500 MB after the body cap was checked on the compressed
# bytes) and str-to-str ones (rot13: a 500). Each charset below decodes n bytes into at most n
# characters, so the body cap bounds what is parsed. UTF-8 is what JSON is (RFC 8259) and what
# browsers send for our pages; US-ASCII is its subset; ISO-8859-1 is HTTP's historical
# default, which some clients still name.
TEXT_CHARSETS = {"utf-8": "UTF-8", "ascii": "US-ASCII", "iso8859-1": "ISO-8859-1"}


def charset_label(name: str) -> str | None:
    """The supported charset `name` stands for (its alias spelled as we document it), or None."""
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError, TypeError):  # unknown, or not even a codec name
        return None
    return TEXT_CHARSETS.get(canonical)


def unsupported_charset_message(name: str) -> str:
    return _('Unsupported charset "%(charset)s" in Content-Type; send the body in UTF-8.') % {"charset": name[:40]}


def is_api_path(path: str) -> bool:
    """Paths whose clients parse JSON, errors included."""
    return path == "/api" or path.startswith("/api/")


def error_response(path: str, *, status: int, detail: str, code: str) -> HttpResponse:
    """An error outside any view: JSON under /api/, plain text elsewhere."""
    if is_api_path(path):
        return JsonResponse({"detail": detail, "code": code}, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def request_problem(*, content_type: str, content_encoding: str) -> tuple[int, str, str] | None:
    """(status, detail, code) when a request must be refused before anything reads it."""
    charset = parse_header_parameters(content_type)[1].get("charset")
    if charset is not None and charset_label(charset) is None:
        return 415, unsupported_charset_message(charset), "unsupported_charset"
    coding = content_encoding.strip().lower()
    if coding and coding != "identity":
        # Nothing here inflates a compressed body (and nothing should: the cap would then
        # bound the compressed bytes). Said plainly, rather than "not valid UTF-8".
        detail = _('Content-Encoding "%(coding)s" is not supported; send the body uncompressed.') % {
            "coding": content_encoding[:40]
        }
        return 415, detail, "unsupported_content_encoding"
    return None


def body_too_large_message(limit: int) -> str:
    return ngettext(
        "The request body is larger than %(limit)d byte.", "The request body is larger than %(limit)d bytes.", limit
    ) % {"limit": limit}


class RequestCharsetMiddleware:
    """415 for a request whose Content-Type names a charset we do not decode (or whose body
    comes with a content coding). Django uses that
    charset for the body *and* the query string (request.GET) of every request, and DRF's JSON
    parser and Django's form parsers (the admin) for the body, so the check belongs before all
    of them rather than in each."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = request_problem(
            content_type=request.META.get("CONTENT_TYPE", ""),
            content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
        )
        if problem is not None:
            status, detail, code = problem
            return error_response(request.path, status=status, detail=detail, code=code)
        return self.get_response(request)


def _wsgi_error(environ, start_response, *, status: str, detail: str, code: str):
    response = error_response(environ.get("PATH_INFO", ""), status=int(status[:3]), detail=detail, code=code)
    start_response(status, [*response.items(), ("Content-Length", str(len(response.content)))])
    return [response.content]


class RequestGuard:
    """WSGI middleware around Django, for what must happen before Django builds its request:

    - A Content-Type charset that is no supported text encoding is a 415 here: Django decodes
      a non-empty query string with it while it *builds* the request (a 500 before any
      middleware could answer). RequestCharsetMiddleware holds the same rule for entry points
      that do not come through here (ASGI, the test client).
    - gunicorn decodes `Transfer-Encoding: chunked` but, as WSGI allows, leaves CONTENT_LENGTH
      unset, and Django reads a body without a length as empty: a valid intake was answered
      400 "This field is required". Such a body is read here, at most the body cap
      (DATA_UPLOAD_MAX_MEMORY_SIZE) plus one byte, and handed to Django with its length;
      beyond the cap the answer is 413 and nothing more is read.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        problem = request_problem(
            content_type=environ.get("CONTENT_TYPE", ""), content_encoding=environ.get("HTTP_CONTENT_ENCODING", "")
        )
        if problem is not None:
            _status, detail, code = problem
            return _wsgi_error(environ, start_response, status="415 Unsupported Media Type", detail=detail, code=code)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _wsgi_error(
                    environ,
                    start_response,
                    status="413 Request Entity Too Large",
                    detail=body_too_large_message(limit),
                    code="payload_too_large",
                )
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)


class AsgiRequestGuard:
    """RequestGuard's rules for ASGI: a refused charset or content coding is a 415, and the
    body is read here, at most the cap plus one byte (413 beyond), then handed to Django in
    one message; Django's ASGI handler would otherwise spool a body of any size."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        problem = request_problem(
            content_type=headers.get("content-type", ""), content_encoding=headers.get("content-encoding", "")
        )
        if problem is not None:
            return await self._error(scope, send, *problem)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                return await self._error(scope, send, 413, body_too_large_message(limit), "payload_too_large")
            if not message.get("more_body", False):
                break
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: the client's disconnect, as Django expects
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.application(scope, replay, send)

    @staticmethod
    async def _error(scope, send, status: int, detail: str, code: str):
        response = error_response(scope.get("path", ""), status=status, detail=detail, code=code)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        headers.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})
