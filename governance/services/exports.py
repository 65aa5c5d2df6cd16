"""Helpers shared by every export: spreadsheet-safe CSV cells and safe download names.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` is read as a formula by spreadsheet programs,
and a leading tab, carriage return or NUL can smuggle one past a naive check. Such cells are
prefixed with a single quote, which spreadsheets show as text and which a person can still read.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")

_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def neutralise_cell(value: object) -> object:
    """Return ``value`` ready for a CSV cell: text that could start a formula gets a leading ``'``.

    ``None`` becomes an empty cell; numbers (but not booleans) are left as numbers.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Write a header and rows as CSV text, every cell passed through ``neutralise_cell``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()


def safe_filename_part(text: str, *, fallback: str = "export") -> str:
    """Reduce ``text`` to letters, digits, ``.``, ``_`` and ``-`` for a ``Content-Disposition`` name."""
    cleaned = _UNSAFE_FILENAME_CHARS.sub("-", text).strip(".-")
    return cleaned[:80] or fallback
