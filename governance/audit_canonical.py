"""The canonical form of a change event and the chain's hashes: standard library only.

This module is the whole definition of what the audit chain hashes. It imports nothing from
Django so that an auditor's offline ``verify.py`` can embed it unchanged and re-check an exported
evidence pack.

Canonical event
    A JSON object over every stored column of ``governance_changeevent``::

        id, occurred_at, table_name, object_pk, root_table, root_pk, operation, before, after,
        changes, actor_id, actor, source, correlation_id, reason, db_user, transaction_id

    serialised with ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    and encoded as UTF-8. Keys are sorted at every depth, so the key order of the stored jsonb
    (or of an exported line) never matters. Values:

    - ``id``, ``actor_id`` (or null), ``transaction_id``: integers;
    - ``occurred_at``: UTC, ISO-8601 with microseconds and a ``Z`` suffix,
      e.g. ``2026-11-25T16:30:00.000000Z`` (an exported string in any offset is normalised);
    - ``before``, ``after`` (or null), ``changes``: the JSON values as stored;
    - every other column: its string.

Hashes
    ``event_hash  = sha256(canonical_event(row)).hexdigest()``
    ``chain_hash  = sha256((previous chain_hash + event_hash).encode("ascii")).hexdigest()``
    where the previous chain_hash of the first link (seq 1) is ``GENESIS`` (64 zeros).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
_CANONICAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")

COLUMNS = (
    "id",
    "occurred_at",
    "table_name",
    "object_pk",
    "root_table",
    "root_pk",
    "operation",
    "before",
    "after",
    "changes",
    "actor_id",
    "actor",
    "source",
    "correlation_id",
    "reason",
    "db_user",
    "transaction_id",
)
# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), without re-reading the
# keyword arguments on every call.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_encode_string = json.encoder.encode_basestring  # a JSON string as ensure_ascii=False writes it
_scan = json.JSONDecoder().scan_once  # json.loads without its wrappers: (value, end)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    # The encoder json.dumps builds on every call with the arguments above, built once.
    _c_encode = _c_make_encoder(
        None, json.JSONEncoder().default, _encode_string, None, ":", ",", True, False, True
    )

    def _encode(value: Any) -> str:
        return "".join(_c_encode(value, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _encode = _ENCODE


def _json(text: str | None) -> str:
    """JSON text (or ``None``) re-serialised canonically, keys sorted at every depth."""
    if text is None:
        return "null"
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):  # surrounding white space, or not one JSON value: the long way (or its error)
        value = json.loads(text)
    return _encode(value)


def canonical_time(value: datetime | str) -> str:
    """``occurred_at`` as UTC ISO-8601 with microseconds and ``Z`` (accepts an exported string)."""
    if isinstance(value, str):
        if _CANONICAL_TIME.fullmatch(value):
            return value
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("occurred_at must carry a time zone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_event(row: dict[str, Any]) -> bytes:
    """The canonical bytes of one event (a mapping with at least the columns in ``COLUMNS``)."""
    obj = {column: row[column] for column in COLUMNS}
    obj["id"] = int(obj["id"])
    obj["transaction_id"] = int(obj["transaction_id"])
    obj["actor_id"] = None if obj["actor_id"] is None else int(obj["actor_id"])
    obj["occurred_at"] = canonical_time(obj["occurred_at"])
    return _ENCODE(obj).encode("utf-8")


def canonical_values(values: Sequence[Any]) -> bytes:
    """The same bytes as ``canonical_event``, from one row given as values in ``COLUMNS`` order.

    The fast path for checking many stored events: the values must already have their canonical
    types (``id`` and ``transaction_id`` integers, ``actor_id`` an integer or ``None``,
    ``occurred_at`` its canonical string, every other column its string) except ``before``,
    ``after`` and ``changes``, which are given as JSON text (or ``None``). The object is written
    key by key in sorted order, which is what ``json.dumps(..., sort_keys=True)`` does.
    """
    (
        id_,
        occurred_at,
        table_name,
        object_pk,
        root_table,
        root_pk,
        operation,
        before,
        after,
        changes,
        actor_id,
        actor,
        source,
        correlation_id,
        reason,
        db_user,
        transaction_id,
    ) = values
    s = _encode_string
    return (
        f'{{"actor":{s(actor)},"actor_id":{"null" if actor_id is None else _int(actor_id)},'
        f'"after":{_json(after)},"before":{_json(before)},"changes":{_json(changes)},'
        f'"correlation_id":{s(correlation_id)},"db_user":{s(db_user)},"id":{_int(id_)},'
        f'"object_pk":{s(object_pk)},"occurred_at":{s(occurred_at)},"operation":{s(operation)},'
        f'"reason":{s(reason)},"root_pk":{s(root_pk)},"root_table":{s(root_table)},"source":{s(source)},'
        f'"table_name":{s(table_name)},"transaction_id":{_int(transaction_id)}}}'
    ).encode()


def _int(value: int) -> str:
    """An integer as JSON writes it; anything else is refused."""
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return int.__repr__(value)


def event_hash(row: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical event."""
    return hashlib.sha256(canonical_event(row)).hexdigest()


def chain_hash(previous: str, event_digest: str) -> str:
    """SHA-256 (hex) of the previous chain hash followed by the event hash (both hex, ASCII)."""
    return hashlib.sha256((previous + event_digest).encode("ascii")).hexdigest()
