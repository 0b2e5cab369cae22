import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """JSON with a bounded body. DRF reads the request stream itself, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE would not apply: a client could make a worker buffer and
    parse any amount. We read at most the limit plus one byte and answer 413 beyond it."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:  # '[' * 20000 fits the limit and exhausts the parser
            raise ParseError("JSON parse error - nested too deeply.") from exc
