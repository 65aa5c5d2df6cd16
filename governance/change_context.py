"""Who and what is behind each database write, for the change history.

The change history is written by PostgreSQL triggers (see ``governance/audit_sql.py``), so it also
catches bulk ``update()`` calls, raw SQL and anything else that bypasses model signals. The
triggers learn the actor from the session setting ``verity.change_context``; this module keeps the
current context in a ``ContextVar`` (requests, tasks and commands push one) and stamps it on the
connection right before every INSERT, UPDATE or DELETE that Django sends.

This module must stay importable before Django is set up (``manage.py`` uses it).
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Any

SETTING_NAME = "verity.change_context"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "WITH")  # WITH: data-modifying CTEs
_STAMP = "SELECT set_config(%s, %s, false)"


@dataclass(frozen=True)
class ChangeContext:
    source: str = "unknown"
    actor_id: int | None = None
    actor_label: str = ""
    correlation_id: str = ""
    reason: str = ""
    # A request whose user is resolved at write time: DRF authenticates inside the view,
    # after middleware has pushed the context.
    request: Any = field(default=None, compare=False)

    def payload(self) -> dict:
        actor_id, actor_label = self.actor_id, self.actor_label
        user = getattr(self.request, "user", None) if self.request is not None else None
        if user is not None and getattr(user, "is_authenticated", False):
            actor_id, actor_label = user.pk, user.get_username()
        return {
            "source": self.source,
            "actor_id": actor_id,
            "actor": actor_label,
            "correlation_id": self.correlation_id,
            "reason": self.reason,
        }


_EMPTY = ChangeContext()  # frozen, so sharing it as the default is safe
_current: ContextVar[ChangeContext] = ContextVar("verity_change_context", default=_EMPTY)  # noqa: B039


def current() -> ChangeContext:
    return _current.get()


def push_context(**fields) -> Token:
    """Layer fields over the current context; returns the token for ``pop_context``."""
    if "actor" in fields:
        actor = fields.pop("actor")
        fields["actor_id"] = getattr(actor, "pk", None)
        fields["actor_label"] = actor.get_username() if actor is not None else ""
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("correlation_id", _current.get().correlation_id or uuid.uuid4().hex)
    return _current.set(replace(_current.get(), **fields))


def pop_context(token: Token) -> None:
    _current.reset(token)


@contextmanager
def change_context(**fields):
    """``with change_context(actor=user, source="import", reason="…"):`` around writes."""
    token = push_context(**fields)
    try:
        yield _current.get()
    finally:
        pop_context(token)


def stamp_writes(execute, sql, params, many, context):
    """Database execute wrapper: set ``verity.change_context`` before each write statement.

    The setting is session-wide (not ``SET LOCAL``) so it also works in autocommit mode; it is
    written before every write, so a rolled-back transaction can never leave a stale actor behind.
    A single write with positional parameters carries the setting in the same round trip
    (``SELECT set_config(…); INSERT …``, which Django's client-side-binding cursor sends as one
    query), and the cursor then moves on to the write's own result.
    """
    if not sql.lstrip()[:6].upper().startswith(_WRITE_VERBS):
        return execute(sql, params, many, context)
    payload = json.dumps(_current.get().payload(), separators=(",", ":"))
    raw_cursor = context["cursor"].cursor
    if many or not isinstance(params, list | tuple):
        raw_cursor.execute(_STAMP, [SETTING_NAME, payload])
        return execute(sql, params, many, context)
    result = execute(f"{_STAMP}; {sql}", [SETTING_NAME, payload, *params], many, context)
    raw_cursor.nextset()
    return result


def install_on_connection(sender=None, connection=None, **_) -> None:
    """``connection_created`` receiver: add the wrapper once per connection."""
    if connection.vendor == "postgresql" and stamp_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(stamp_writes)
