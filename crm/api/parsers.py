from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from crm.middleware import body_too_large_message, charset_label, unsupported_charset_message


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class UnsupportedCharset(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_charset"


class BoundedJSONParser(JSONParser):
    """JSON with a bounded body, decoded by us. DRF reads the request stream itself, so
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE would not apply: a client could make a worker buffer
    and parse any amount. We read at most the limit plus one byte (413 beyond it), then decode
    with a real text encoding only (crm.middleware.TEXT_CHARSETS): DRF would hand the charset
    of Content-Type to Python's codec machinery, where `bz2` inflates the capped bytes after
    the cap. The middleware refuses such requests first; this parser holds on its own too."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(body_too_large_message(limit))
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        label = charset_label(encoding)
        if label is None:
            raise UnsupportedCharset(unsupported_charset_message(encoding))
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(_("JSON parse error - the body is not valid %(charset)s.") % {"charset": label}) from exc
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc
        except RecursionError as exc:  # '[' * 20000 fits the limit and exhausts the parser
            raise ParseError(_("JSON parse error - nested too deeply.")) from exc
