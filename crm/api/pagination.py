from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

from crm.models import id_from_text


class IdCursorPagination(CursorPagination):
    """Cursor pagination on the primary key: a stable order, a bounded page, and no
    COUNT(*) over the table, so the first page costs the same at a thousand rows or a
    million. A view may set `cursor_ordering` (default newest first).

    `page_size` is a whole number from 1; more than max_page_size is capped (as DRF does),
    anything else is a 400 naming it (DRF would silently use the default, hiding the
    client's mistake)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        return (getattr(view, "cursor_ordering", self.ordering),)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and text.strip("0")):
            raise ValidationError({self.page_size_query_param: [_("Enter a whole number, 1 or more.")]})
        # Capped without int() on an overlong string (Python refuses > 4300 digits: a 500).
        return min(int(text[-4:]) if len(text.lstrip("0")) <= 4 else self.max_page_size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["schema"]["minLength"] = 1
                parameter["description"] = (
                    "Where the page starts: the opaque value in a previous answer's `next` or `previous` "
                    "link; any other value is a 400."
                )
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = f"Results per page, 1 or more; at most {self.max_page_size} are returned."
        return parameters

    def decode_cursor(self, request):
        # DRF answers a mangled cursor with 404; it is a bad query parameter: 400 naming it.
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({self.cursor_query_param: [str(exc.detail)]}) from exc
        # The position is compared with the id column: anything but a plain id (a forged
        # cursor) would reach the database and fail there.
        position = cursor.position if cursor is not None else None
        if position is not None and id_from_text(position) is None:
            raise ValidationError({self.cursor_query_param: [_("Invalid cursor")]})
        return cursor
