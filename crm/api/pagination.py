from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Cursor pagination on the primary key: a stable order, a bounded page, and no
    COUNT(*) over the table, so the first page costs the same at a thousand rows or a
    million. A view may set `cursor_ordering` (default newest first)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        return (getattr(view, "cursor_ordering", self.ordering),)
