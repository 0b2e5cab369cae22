"""Behaviour every API view shares: which query parameters it takes, and what a write may
show its caller."""

from rest_framework.exceptions import ValidationError

from crm.api.params import query_parameter_errors
from crm.api.permissions import can_read


class AnswerWhatCallerMayRead:
    """A write answers with the object only to a caller who may read it. Changing and reading
    are separate permissions: staff may hold `change_contact` without `view_contact`, and
    the detail of a contact names operators, weights and loads. Such a caller gets the same
    status with `{"id": N}` only (enough to refer to the row; the schema documents both)."""

    def caller_may_read(self, request) -> bool:
        return can_read(request.user, self.queryset.model)

    def finalize_response(self, request, response, *args, **kwargs):
        if (
            request.method in ("POST", "PUT", "PATCH")
            and response.status_code in (200, 201)
            and isinstance(response.data, dict)
            and "id" in response.data
            and not self.caller_may_read(request)
        ):
            response.data = {"id": response.data["id"]}
        return super().finalize_response(request, response, *args, **kwargs)


class StrictQueryParameters:
    """Every operation knows its query parameters: a list its filters and the cursor
    pagination's, the statistics its `query_serializer_class`' fields; anything else, and any
    parameter repeated or empty, is a 400 naming it (crm.api.params), after authentication
    and permissions (an anonymous caller hears 401 first)."""

    query_serializer_class = None

    def known_query_parameters(self) -> set[str]:
        known: set[str] = set()
        if self.query_serializer_class is not None:
            known |= set(self.query_serializer_class().fields)
        if getattr(self, "action", None) == "list":
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                known |= set(filterset_class.base_filters)
            if self.paginator is not None:
                known |= {self.paginator.cursor_query_param, self.paginator.page_size_query_param}
        return known

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            return  # the 405 comes first: the operation does not exist, nor do its parameters
        errors = query_parameter_errors(request.query_params, self.known_query_parameters())
        if errors:
            raise ValidationError(errors)
