"""drf-spectacular extensions: describe our token scheme in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as OpenApiAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from rest_framework import serializers

from crm.api.docs import RESOURCE_TAGS
from crm.api.serializers import StrictFieldsMixin
from crm.models import MAX_PATH_ID


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key from `manage.py create_bot` or `create_api_token`, sent as "
            "`Authorization: Token <key>`.",
        }


# --- Error responses and exact string rules in the OpenAPI document ------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error. `detail` (and `code`) for errors of the whole request; otherwise each "
    'field at fault maps to its messages, e.g. `{"source_id": ["Source 9 does not exist."]}`.',
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
OBJECT_ID_SCHEMA = {
    "type": "object",
    "description": "The answer to a write for a caller who may not read the object: its id only.",
    "properties": {"id": {"type": "integer", "minimum": 1}},
    "required": ["id"],
    "additionalProperties": False,
}
SUCCESS_DESCRIPTIONS = {"200": "OK.", "201": "Created.", "204": "Done; no body."}
ERROR_DESCRIPTIONS = {
    "400": "Bad input: the body, a parameter or a filter; the JSON body names each field or parameter at "
    "fault with its messages, including a body field the operation does not accept and a query parameter "
    "that is unknown, repeated or empty. (A request line or header over the server's limits is refused "
    "by gunicorn with an HTML page.)",
    "401": "No key, or a revoked or unknown key.",
    "403": "Authenticated, but not allowed (bots: anything but their own contacts).",
    "404": "No such object (a path id that is not a number is a 404 too).",
    "409": "Conflicts with the current data; nothing was changed.",
    "413": "The request body is too large.",
    "415": "The body is not JSON.",
    "422": "The Idempotency-Key was already used with a different request.",
    "429": "Too many requests from this client; retry after `Retry-After` seconds.",
}

# Python's str.strip() (DRF, our services) treats exactly these as whitespace; ECMA's \s differs
# (\x1c-\x1f, \x85), so the class is spelled out. A value must hold one character outside it.
_PY_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_NO_NUL_PATTERN = rf"^[^\x00]*[^\x00{_PY_SPACE}][^\x00]*$"


ERROR_EXAMPLES = {
    "400": {
        "A field at fault": {"source_id": ["Source 9 does not exist."]},
        "An unknown field": {"phone": ["Unknown field."]},
        "A repeated query parameter": {"page_size": ["Give this parameter at most once."]},
    },
    "401": {"No or an unknown key": {"detail": "Invalid token."}},
    "403": {"Not allowed": {"detail": "You do not have permission to perform this action."}},
    "404": {"No such object": {"detail": "Not found: contact 41.", "code": "not_found"}},
    "409": {"Conflict": {"detail": "Contact 41 is closed; only open contacts can be reassigned.", "code": "conflict"}},
    "413": {"Too large": {"detail": "The request body is larger than 65536 bytes."}},
    "415": {"Not JSON": {"detail": 'Unsupported media type "text/plain" in request.'}},
    "422": {
        "Key reused": {
            "Idempotency-Key": ["This Idempotency-Key was already used with a different request; use a new key."]
        }
    },
    "429": {"Throttled": {"detail": "Request was throttled. Expected available in 3 seconds."}},
}


class AutoSchema(OpenApiAutoSchema):
    """drf-spectacular's AutoSchema plus what clients (and schemathesis) need to know:
    operations grouped by resource (crm.api.docs), every error status an operation can
    answer, with the one error body shape and examples; and, for request strings, the rule
    "no NUL, not blank" that DRF and the services enforce."""

    def _resolve_path_parameters(self, variables):
        # An id in a path is a number (crm.models.ID_PATH_REGEX: up to 18 digits); say so, rather
        # than "a string of digits", so clients and generated tests send the ids that exist.
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] in ("id", "pk"):
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PATH_ID}
                parameter.setdefault("description", "The object's id.")
        return parameters

    def _get_filter_parameters(self):
        # A filter whose schema is fixed by @extend_schema_field (the id filters) loses its
        # help_text in drf-spectacular; give it back.
        parameters = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = filterset_class.base_filters if filterset_class is not None else {}
        for parameter in parameters:
            help_text = getattr(filters.get(parameter["name"]), "extra", {}).get("help_text")
            if help_text and not parameter.get("description"):
                parameter["description"] = str(help_text)
        return parameters

    def get_tags(self) -> list[str]:
        return [RESOURCE_TAGS.get(getattr(self.view, "basename", ""), "api")]

    def get_summary(self) -> str | None:
        # Every operation has one (crm.api.docs); an action added without: its docstring's first line.
        summary = super().get_summary()
        if summary:
            return summary
        description = self.get_description() or ""
        return description.strip().split("\n")[0].rstrip(".") or None

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["400", "401", "403", "404", "429"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "413", "415"]
        if self.method == "POST" and getattr(self.view, "basename", "") == "contact" and self._is_create_operation():
            codes.append("422")
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(component)
        for code in codes:
            examples = {name: {"summary": name, "value": value} for name, value in ERROR_EXAMPLES.get(code, {}).items()}
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": component.ref, "examples": examples}},
                    "description": ERROR_DESCRIPTIONS[code],
                },
            )
        for code, response in responses.items():
            if code in SUCCESS_DESCRIPTIONS and not response.get("description"):
                response["description"] = SUCCESS_DESCRIPTIONS[code]
        if self.method in ("POST", "PUT", "PATCH") and hasattr(self.view, "caller_may_read"):
            self._answer_what_caller_may_read(responses)
        if "400" in responses and "content" in responses["400"]:
            # gunicorn refuses an over-long request line or header itself, before Django, with
            # its own HTML page (gunicorn.conf.py sets the limits).
            responses["400"]["content"].setdefault("text/html", {"schema": {"type": "string"}})
        return responses

    def _answer_what_caller_may_read(self, responses) -> None:
        """A write's answer is the object, or `{"id"}` only for a caller who may change but
        not read it (crm.api.views.AnswerWhatCallerMayRead): document both shapes."""
        reference = ResolvedComponent(
            name="ObjectId", type=ResolvedComponent.SCHEMA, object="ObjectId", schema=OBJECT_ID_SCHEMA
        )
        self.registry.register_on_missing(reference)
        for code in ("200", "201"):
            content = responses.get(code, {}).get("content", {}).get("application/json")
            if content and "$ref" in content.get("schema", {}):
                content["schema"] = {"oneOf": [content["schema"], reference.ref]}
                responses[code]["description"] = (
                    responses[code].get("description", "")
                    + " A caller who may make this change but not read the object gets only its id."
                ).strip()

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), StrictFieldsMixin):
            schema["additionalProperties"] = False  # any other key is a 400 naming it
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and not isinstance(field, serializers.ChoiceField)
            and "pattern" not in schema
            and schema.get("type") == "string"
        ):
            schema["pattern"] = NOT_BLANK_NO_NUL_PATTERN
        return schema


class SingleObjectSchema(AutoSchema):
    """For a viewset whose `list` answers one object (GET /me/: the caller's own operator)."""

    def _is_list_view(self, serializer=None) -> bool:
        return False
