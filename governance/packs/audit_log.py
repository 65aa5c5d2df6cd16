"""``audit_log.jsonl``: the audit chain's segment for the pack's period, one event per line with its
link, so ``verify.py`` can recompute every event hash and chain hash offline.

The lines are written by PostgreSQL (``COPY … TO STDOUT``): each is a JSON object with the link's
``seq``, ``event_id``, ``event_hash`` and ``chain_hash`` and the ``event`` with every column of
the canonical form (``governance.audit_canonical``; key order does not matter to it, and
``occurred_at`` is already in its canonical UTC form).

A reader who does not see the whole register (an engineer) gets the body of an event only when
the event's root object is in the pack's scope: an AI system of the pack, or an object another app
declares through ``register_event_scope`` (incidents declares its incidents). Other events keep
their link, so the chain still verifies, with ``"event": null`` and ``"withheld": true``.

Used only when this installation keeps an audit chain (``governance.services.audit_chain``).
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from governance.packs import PackScope
from governance.packs.copy_out import CopyOut

MEMBER = "audit_log.jsonl"

# Root table -> the primary keys of its objects in a pack's scope.
EventScope = Callable[[PackScope], QuerySet]
_EVENT_SCOPES: dict[str, EventScope] = {
    "governance_aisystem": lambda scope: scope.system_queryset().values("pk"),
}

# Columns of the canonical event by how they are written into JSON; every other one is text.
_INTEGER_COLUMNS = {"id", "transaction_id"}
_NULLABLE_COLUMNS = {"actor_id", "before", "after", "changes"}  # integers or JSON, written as stored
_TIME_COLUMNS = {"occurred_at"}


def _event_json_sql() -> str:
    """SQL writing the event ``e`` as a JSON object with every canonical column.

    Built by concatenation rather than ``json_build_object`` so that jsonb columns go out through
    their own text form, as in a plain COPY (``json_build_object`` took a third longer)."""
    from governance.audit_canonical import COLUMNS

    values = []
    for column in COLUMNS:
        if column in _INTEGER_COLUMNS:
            value = f"e.{column}::text"
        elif column in _NULLABLE_COLUMNS:
            value = f"coalesce(e.{column}::text, 'null')"
        elif column in _TIME_COLUMNS:
            value = (
                f"'\"' || to_char(e.{column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '\"'"
            )
        else:
            value = f"coalesce(to_json(e.{column})::text, 'null')"
        values.append(f"'\"{column}\":' || {value}")
    return "'{' || " + " || ',' || ".join(values) + " || '}'"


# One JSON object per link. PostgreSQL escapes every control character inside JSON strings, so a
# line never holds a raw newline, and COPY's CSV format with separator and quote characters that
# JSON cannot contain raw writes each line verbatim.
_LINE_SQL = (
    """
SELECT '{"seq":' || l.seq || ',"event_id":' || l.event_id || ',"event_hash":"' || l.event_hash
       || '","chain_hash":"' || l.chain_hash || '","withheld":'
       || CASE WHEN e.id IS NOT NULL AND NOT (VISIBLE) THEN 'true' ELSE 'false' END
       || ',"event":' || CASE WHEN e.id IS NOT NULL AND (VISIBLE) THEN EVENT ELSE 'null' END || '}'
  FROM governance_auditchainlink l
  -- One event looked up per link (OFFSET 0 keeps the subquery a lookup), so the links are read in
  -- seq order from their index instead of joined in bulk and the lines sorted on disk.
  LEFT JOIN LATERAL (SELECT * FROM governance_changeevent e WHERE e.id = l.event_id OFFSET 0) e ON TRUE
 WHERE l.seq BETWEEN %s AND %s
 ORDER BY l.seq
"""
).replace("EVENT", _event_json_sql())
_COPY_OPTIONS = "FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e', ENCODING 'UTF8'"


def register_event_scope(root_table: str, visible_pks: EventScope) -> None:
    """Let readers with a partial view see events rooted in ``root_table`` whose root object is
    among ``visible_pks(scope)`` (a queryset of one primary-key column)."""
    _EVENT_SCOPES[root_table] = visible_pks


def chain_module():
    try:
        return importlib.import_module("governance.services.audit_chain")
    except ImportError:
        return None


def canonical_source() -> str | None:
    """The source of the canonical event form, embedded in ``verify.py``; ``None`` without a chain."""
    try:
        module = importlib.import_module("governance.audit_canonical")
    except ImportError:
        return None
    return Path(module.__file__).read_text(encoding="utf-8")


def head() -> dict:
    chain = chain_module()
    if chain is None:
        return {"seq": None, "chain_hash": None, "note": "this installation keeps no audit chain"}
    seq, chain_hash, sealed_at = chain.head()
    return {"seq": seq, "chain_hash": chain_hash, "sealed_at": sealed_at.isoformat() if sealed_at else None}


def _bounds(scope: PackScope) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_current_timezone()
    start = scope.start or datetime.date(1970, 1, 1)
    end = (scope.end or timezone.localdate()) + datetime.timedelta(days=1)
    return (
        datetime.datetime.combine(start, datetime.time.min, tzinfo=zone),
        datetime.datetime.combine(end, datetime.time.min, tzinfo=zone),
    )


def _visibility(scope: PackScope) -> tuple[str, list]:
    """SQL (over the event ``e``) true when the pack's reader may see the event's body."""
    if scope.user is not None and scope.user.sees_everything:
        return "TRUE", []
    clauses, params = [], []
    for root_table, visible_pks in _EVENT_SCOPES.items():
        sql, pk_params = visible_pks(scope).query.sql_with_params()
        clauses.append(f"(e.root_table = %s AND e.root_pk IN (SELECT v.pk::text FROM ({sql}) AS v (pk)))")
        params.extend([root_table, *pk_params])
    return " OR ".join(clauses) or "FALSE", params


def segment_lines(scope: PackScope, summary: dict) -> Iterator[bytes]:
    """JSON lines of the period's chain segment; ``summary`` receives what the manifest records."""
    chain = chain_module()
    start, end = _bounds(scope)
    summary.update(start=start.isoformat(), end=end.isoformat(), lines=0, first_seq=None, last_seq=None)
    summary.update(prev_chain_hash=None, last_chain_hash=None, withheld=0)
    bounds = chain.segment_bounds(start=start, end=end)
    if bounds is None:
        return
    first, last = bounds
    with connection.cursor() as cursor:
        cursor.execute("SELECT chain_hash FROM governance_auditchainlink WHERE seq = %s", [last])
        (last_hash,) = cursor.fetchone()
        visible, visible_params = _visibility(scope)
        statement = f"COPY ({_LINE_SQL.replace('VISIBLE', visible)}) TO STDOUT WITH ({_COPY_OPTIONS})"
        stream = CopyOut(cursor.cursor, statement, [*visible_params, *visible_params, first, last])
        yield from stream
        summary.update(lines=stream.rows, first_seq=first, last_seq=last, last_chain_hash=last_hash)
        summary["prev_chain_hash"] = chain.link_before(first)
        summary["withheld"] = _withheld(cursor, visible, visible_params, first, last)


def _withheld(cursor, visible: str, params: list, first: int, last: int) -> int:
    if visible == "TRUE":
        return 0
    cursor.execute(
        "SELECT count(*) FROM governance_auditchainlink l JOIN governance_changeevent e ON e.id = l.event_id"
        f" WHERE l.seq BETWEEN %s AND %s AND NOT ({visible})",
        [first, last, *params],
    )
    return cursor.fetchone()[0]
