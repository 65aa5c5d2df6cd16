"""Cursor pagination whose cursors are signed: a cursor this server did not issue, for this list
and this order, answers 404 ``Invalid cursor`` before it reaches a query.

DRF's cursor is base64 of ``o=…&r=…&p=…`` that anyone can write: a forged position that is not
a number (``p=garbage`` on ``?ordering=inherent_score``) reached the query as a 500, and a
damaged one without a position silently answered the first page. Signing (``django.core.signing``,
keyed by ``SECRET_KEY``) makes every cursor either one the server issued or a 404.
"""

from __future__ import annotations

from django.core import signing
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.utils.urls import replace_query_param


class CursorPagination(pagination.CursorPagination):
    """The base of every paginator of the API: signed cursors, bound to the list's path and order
    (a cursor from ``?ordering=title`` is not a position in ``?ordering=inherent_score``)."""

    invalid_cursor_message = "Invalid cursor"

    def _salt(self) -> str:
        return f"verity.cursor:{self.request.path}:{','.join(self.ordering)}"

    def encode_cursor(self, cursor):
        signed = signing.dumps([cursor.offset, bool(cursor.reverse), cursor.position], salt=self._salt())
        return replace_query_param(self.base_url, self.cursor_query_param, signed)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            offset, reverse, position = signing.loads(encoded, salt=self._salt())
        except (signing.BadSignature, ValueError, TypeError):
            raise NotFound(self.invalid_cursor_message) from None
        valid = (
            type(offset) is int
            and 0 <= offset <= self.offset_cutoff
            and type(reverse) is bool
            and (position is None or type(position) is str)
        )
        if not valid:  # signed by this server, so only by an older version of it
            raise NotFound(self.invalid_cursor_message)
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)

    def get_page_size(self, request):
        """The page size asked for, at most ``max_page_size``; anything but a positive whole
        number is a 400 (DRF would quietly fall back to the default)."""
        name = self.page_size_query_param
        raw = request.query_params.get(name) if name else None
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            limit = f" (at most {self.max_page_size} are given)" if self.max_page_size else ""
            raise ValidationError({name: [f"A whole number from 1{limit}."]})
        return min(int(raw), self.max_page_size) if self.max_page_size else int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class StableCursorPagination(CursorPagination):
    """Cursor pagination: constant cost per page however deep, stable under inserts."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"


class NewestFirstPagination(StableCursorPagination):
    """Newest first; rows created in the same instant keep one order (by id) from page to page."""

    ordering = ("-created_at", "-id")
