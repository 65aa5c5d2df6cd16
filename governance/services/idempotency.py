"""Idempotency keys for POST requests, after the IETF httpapi ``Idempotency-Key`` draft.

A client sends a key with a write; a retry with the same key and the same request gets the first
response again instead of writing twice. Keys belong to one client (an API token, or a user when
there is no token) and live for ``KEY_LIFETIME``.

The life of a key:

1. ``begin()`` claims it with ``INSERT … ON CONFLICT DO NOTHING``, a statement of its own that
   commits at once, so two processes can never both claim one key. Whoever inserted the row does
   the work. Everyone else gets the stored response to replay, or ``KeyInFlight`` while the first
   request still runs, or ``KeyMismatch`` when the key was first used for another request.
2. The claimant calls ``hold()`` first thing in the transaction that does the work. The row lock
   it takes tells a live request from a dead one: PostgreSQL drops it when the process dies, and
   ``begin()`` takes over a claim older than ``STALE_AFTER`` only when nobody holds it.
3. ``complete()`` stores the response in that same transaction, so the work and the response to
   replay commit together. When the response is not one to replay (``is_replayable()``), or the
   work raised, the caller rolls back and ``release()`` deletes the claim so a retry runs afresh.
4. ``purge_expired()`` (an hourly beat task) deletes expired records; ``begin()`` treats an
   expired record as absent in the meantime.

``begin()`` and ``release()`` must run outside any transaction (``ATOMIC_REQUESTS`` is off): a
claim made inside the request's transaction would be invisible to other processes until it
commits, and they would wait for it instead of answering 409.

Nothing here sees a request: the API layer passes the client, key, method, path and a fingerprint
made by ``body_fingerprint()`` or ``form_fingerprint()``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from governance.models import IdempotencyRecord

KEY_LIFETIME = timedelta(hours=24)
# Longer than any request may run (gunicorn's worker timeout is 30 s), so only a claim whose
# process died, before it could lock the record, is taken over.
STALE_AFTER = timedelta(seconds=60)
RETRY_AFTER_SECONDS = 1
MAX_KEY_LENGTH = 255
# Headers that belong to the response itself; everything else is set afresh on every answer.
REPLAYED_HEADERS = ("Content-Type", "Location")
# 409 and 429 say "not now": a retry with the same key must be able to run again.
_NOT_REPLAYED = frozenset({409, 429})
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_TABLE = IdempotencyRecord._meta.db_table
_IN_FLIGHT = IdempotencyRecord.State.IN_FLIGHT
_COMPLETED = IdempotencyRecord.State.COMPLETED
_ATTEMPTS = 3  # a record deleted between our INSERT and SELECT sends us round again


class InvalidKey(ValueError):
    """The header value is not a key of 1–255 printable ASCII characters."""


class KeyMismatch(Exception):
    """The key was first used for a different request (method, path or body)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KeyInFlight(Exception):
    """The first request with this key is still running; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = RETRY_AFTER_SECONDS):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claim:
    """The right to run the request for one key; ``token`` changes when a claim is taken over."""

    record_id: int
    token: uuid.UUID


@dataclass(frozen=True)
class StoredResponse:
    """A response as it is replayed: status, the ``REPLAYED_HEADERS`` it had, and its bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


# --- Keys and fingerprints --------------------------------------------------------------------


def parse_key(raw: str) -> str:
    """The key in an ``Idempotency-Key`` header value.

    The draft writes the key as a structured-field string (``"8e03978e-…"``); a bare value is
    accepted too, as most clients send one. Either way the key is 1–255 printable ASCII
    characters, else ``InvalidKey``.
    """
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _unquote(value[1:-1])
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not _PRINTABLE_ASCII.fullmatch(value):
        raise InvalidKey(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            '(a bare value or a quoted string such as "8e03978e-40d5-43e8-bc93-6894a57f9324").'
        )
    return value


def _unquote(inner: str) -> str:
    """The content of a structured-field string: ``\\"`` and ``\\\\`` are its only escapes."""
    out, i = [], 0
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            if i + 1 < len(inner) and inner[i + 1] in '"\\':
                out.append(inner[i + 1])
                i += 2
                continue
            raise InvalidKey("Idempotency-Key is a malformed quoted string.")
        if char == '"':
            raise InvalidKey("Idempotency-Key is a malformed quoted string.")
        out.append(char)
        i += 1
    return "".join(out)


def body_fingerprint(body: bytes, *, content_type: str = "") -> str:
    """SHA-256 of a request body in canonical form.

    A JSON body is parsed and dumped again with sorted keys and no spaces, so the same object
    sent with other key order or whitespace is the same request. Any other body (or JSON that
    does not parse) is hashed as raw bytes together with its media type.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        except (ValueError, RecursionError):
            pass
        else:
            return _sha256(b"json\n" + canonical.encode("ascii"))
    return _sha256(media_type.encode("latin-1", "replace") + b"\n" + body)


def form_fingerprint(*, fields: Iterable[tuple[str, str]], files: Iterable[tuple[str, str, str, str]]) -> str:
    """SHA-256 of a parsed form (multipart uploads, whose boundary changes on every send).

    ``fields`` are ``(name, value)`` pairs; ``files`` are ``(name, file name, content type,
    SHA-256 of the content)``. Order across names does not matter; order within a name does.
    """
    canonical = json.dumps(
        {
            "fields": sorted(fields, key=lambda item: item[0]),
            "files": sorted(files, key=lambda item: item[0]),
        },
        separators=(",", ":"),
    )
    return _sha256(b"form\n" + canonical.encode("ascii"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Claiming, storing, releasing -------------------------------------------------------------


def begin(*, client: str, key: str, method: str, path: str, fingerprint: str) -> Claim | StoredResponse:
    """Claim ``key`` for ``client``, or say why the request must not run.

    Returns a ``Claim`` when the caller is to do the work, or the ``StoredResponse`` of the
    first request to replay. Raises ``KeyMismatch`` when the key was first used with another
    method, path or body, and ``KeyInFlight`` while the first request runs. An expired record
    counts as absent; an in-flight record older than ``STALE_AFTER`` that no process holds is
    taken over.
    """
    for _ in range(_ATTEMPTS):
        now = timezone.now()
        claim = _insert(client=client, key=key, method=method, path=path, fingerprint=fingerprint, now=now)
        if claim is not None:
            return claim
        record = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if record is None:
            continue  # released or purged since our INSERT: claim it again
        if record.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=record.pk, expires_at__lte=now).delete()
            continue
        if (record.method, record.path) != (method, path):
            raise KeyMismatch(
                f"This Idempotency-Key was already used for {record.method} {record.path}; "
                "send a new key with a different request."
            )
        if record.fingerprint != fingerprint:
            raise KeyMismatch(
                "This Idempotency-Key was already used with a different request body; "
                "send a new key with a different request."
            )
        if record.state == _COMPLETED:
            return StoredResponse(
                status=record.response_status,
                headers=dict(record.response_headers),
                body=bytes(record.response_body),
            )
        if record.claimed_at <= now - STALE_AFTER:
            claim = _take_over(record.pk, now=now)
            if claim is not None:
                return claim
        raise KeyInFlight()
    raise KeyInFlight()


def _insert(
    *, client: str, key: str, method: str, path: str, fingerprint: str, now: datetime
) -> Claim | None:
    token = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_TABLE} (
                client, key, method, path, fingerprint, state, claim_token,
                response_headers, response_body, created_at, claimed_at, expires_at
            ) VALUES (%s, %s, %s, %s, %s, %s, %s, '{{}}'::jsonb, ''::bytea, %s, %s, %s)
            ON CONFLICT (client, key) DO NOTHING
            RETURNING id
            """,
            [client, key, method, path, fingerprint, _IN_FLIGHT, token, now, now, now + KEY_LIFETIME],
        )
        row = cursor.fetchone()
    return Claim(record_id=row[0], token=token) if row else None


def _take_over(record_id: int, *, now: datetime) -> Claim | None:
    """Re-claim a stale in-flight record, unless a live request holds its lock."""
    token = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_TABLE} SET claim_token = %s, claimed_at = %s
             WHERE id = (
                SELECT id FROM {_TABLE}
                 WHERE id = %s AND state = %s AND claimed_at <= %s
                   FOR UPDATE SKIP LOCKED
             )
            RETURNING id
            """,
            [token, now, record_id, _IN_FLIGHT, now - STALE_AFTER],
        )
        row = cursor.fetchone()
    return Claim(record_id=row[0], token=token) if row else None


def hold(claim: Claim) -> None:
    """Lock the claimed record until the caller's transaction ends.

    Call it first inside the transaction that does the work. Raises ``KeyInFlight`` if the
    claim was taken over in the meantime (another process now runs the request).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("hold() must run inside the transaction that does the work")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {_TABLE} WHERE id = %s AND claim_token = %s AND state = %s FOR UPDATE",
            [claim.record_id, claim.token, _IN_FLIGHT],
        )
        if cursor.fetchone() is None:
            raise KeyInFlight()


def is_replayable(status: int) -> bool:
    """Whether a response with ``status`` is stored and replayed.

    Successes and client errors are (a retry of an invalid request is just as invalid); server
    errors are not, nor 409 and 429, which ask the client to try again later.
    """
    return status < 500 and status not in _NOT_REPLAYED


def complete(claim: Claim, *, status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """Store the response to replay, in the caller's transaction (the one ``hold()`` locked in).

    Keeps only the ``REPLAYED_HEADERS``. Returns False, storing nothing, when the response is
    not replayable; the caller then rolls its work back and calls ``release()``.
    """
    if not is_replayable(status):
        return False
    kept = {name: headers[name] for name in REPLAYED_HEADERS if name in headers}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_TABLE}
               SET state = %s, response_status = %s, response_headers = %s::jsonb,
                   response_body = %s, completed_at = %s
             WHERE id = %s AND claim_token = %s AND state = %s
            """,
            [
                _COMPLETED,
                status,
                json.dumps(kept),
                bytes(body),
                timezone.now(),
                claim.record_id,
                claim.token,
                _IN_FLIGHT,
            ],
        )
        return cursor.rowcount == 1


def release(claim: Claim) -> None:
    """Give the key up after a failure, so a retry with it runs the request again."""
    IdempotencyRecord.objects.filter(pk=claim.record_id, claim_token=claim.token).delete()


@transaction.atomic
def purge_expired(*, now: datetime | None = None) -> int:
    """Delete every record whose ``expires_at`` has passed; returns how many went."""
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now).delete()
    return deleted
