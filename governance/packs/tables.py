"""CSV sections read straight from PostgreSQL with ``COPY (query) TO STDOUT``.

A section over a queryset costs little more than the COPY itself: PostgreSQL writes the CSV, and
every text cell is neutralised in the same statement (``'`` before a leading ``=``, ``+``, ``-``,
``@``, tab or carriage return; PostgreSQL text cannot hold NUL) exactly as
``exports.neutralise_cell`` does for rows built in Python. Numbers, dates, times and booleans are
left as they are: they cannot start a formula the way text can.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from django.db import connection
from django.db.models import F, QuerySet

from governance.packs.copy_out import CopyOut
from governance.services.exports import FORMULA_TRIGGERS, neutralise_cell

# PostgreSQL type OIDs written as they are: integers, numeric, floats, date and time types, uuid.
_PLAIN_TYPES = frozenset({20, 21, 23, 26, 700, 701, 1700, 1082, 1083, 1114, 1184, 1186, 1266, 2950})
_BOOLEAN = 16
_TRIGGERS_SQL = ", ".join(
    "E'\\t'" if c == "\t" else "E'\\r'" if c == "\r" else f"'{c}'" for c in FORMULA_TRIGGERS if c != "\0"
)


class QueryRows:
    """The rows of ``queryset`` as CSV: a header of ``fields`` (or ``header``), then one row per
    object with the value of each field path (``"system__slug"`` follows relations).

    The pack writer streams ``chunks()`` into the archive and reads ``count`` afterwards."""

    def __init__(self, queryset: QuerySet, fields: Sequence[str], header: Sequence[str] | None = None):
        self.header = list(header or fields)
        self._queryset = queryset.values(**{f"c{i}": F(field) for i, field in enumerate(fields)})
        self.count = 0

    def chunks(self) -> Iterator[bytes]:
        """The CSV bytes: the header, then PostgreSQL's output in blocks of about 256 KiB."""
        inner, params = self._queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            columns = ", ".join(
                self._cell_sql(i, code) for i, code in enumerate(_column_types(cursor, inner, params))
            )
            statement = f"COPY (SELECT {columns} FROM ({inner}) AS q) TO STDOUT WITH (FORMAT csv)"
            stream = CopyOut(cursor.cursor, statement, params, prefix=_header_line(self.header))
            yield from stream
            self.count = stream.rows

    @staticmethod
    def _cell_sql(index: int, type_code: int) -> str:
        column = f"q.c{index}"
        if type_code in _PLAIN_TYPES:
            return column
        if type_code == _BOOLEAN:
            return f"{column}::text"
        text = f"{column}::text"
        return f"CASE WHEN left({text}, 1) IN ({_TRIGGERS_SQL}) THEN '''' || {text} ELSE {text} END"


def _column_types(cursor, inner: str, params: Sequence) -> list[int]:
    """The PostgreSQL type of each output column, from a plan-only run of the query."""
    cursor.execute(f"SELECT * FROM ({inner}) AS q LIMIT 0", params)
    return [column.type_code for column in cursor.description]


def _header_line(header: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralise_cell(name) for name in header])
    return buffer.getvalue().encode("utf-8")
