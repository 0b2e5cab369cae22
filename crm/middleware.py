"""HTTP guards that run before any view reads the request, for the API and the admin alike.

- `RequestGuard` (WSGI, around Django): the only charsets a body or a query string is ever
  decoded with; a `Transfer-Encoding: chunked` body reaches Django with a length, read under
  the same cap as any other body.
- `RequestCharsetMiddleware` (Django): the charset rule again, for entry points that do not
  come through the WSGI application (ASGI, the test client).
"""

import codecs
import io

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _

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


class RequestCharsetMiddleware:
    """415 for a request whose Content-Type names a charset we do not decode. Django uses that
    charset for the body *and* the query string (request.GET) of every request, and DRF's JSON
    parser and Django's form parsers (the admin) for the body, so the check belongs before all
    of them rather than in each."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        charset = request.content_params.get("charset")
        if charset is not None and charset_label(charset) is None:
            return error_response(
                request.path, status=415, detail=unsupported_charset_message(charset), code="unsupported_charset"
            )
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
        params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))[1]
        charset = params.get("charset")
        if charset is not None and charset_label(charset) is None:
            return _wsgi_error(
                environ,
                start_response,
                status="415 Unsupported Media Type",
                detail=unsupported_charset_message(charset),
                code="unsupported_charset",
            )
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _wsgi_error(
                    environ,
                    start_response,
                    status="413 Request Entity Too Large",
                    detail=_("The request body is larger than %(limit)d bytes.") % {"limit": limit},
                    code="payload_too_large",
                )
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)
