from rest_framework.pagination import CursorPagination


class StableCursorPagination(CursorPagination):
    """Cursor pagination: constant cost per page however deep, stable under inserts."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"


class NewestFirstPagination(StableCursorPagination):
    """Newest first; rows created in the same instant keep one order (by id) from page to page."""

    ordering = ("-created_at", "-id")
