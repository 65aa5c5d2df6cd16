"""The audit chain: sealing final change events into a SHA-256 chain, verifying it, anchoring its head.

The recording trigger does not hash: a chain lock there would serialise every write in the system.
Instead the sealer (beat, every 30 s) appends the events that are *final* — written by a
transaction older than every running one, so no event with a lower transaction id can still
appear — in id order, under an advisory lock so one sealer runs at a time. A late-committing event
with a lower id lands in a later batch: the chain's order is its own ``seq``, not the event id.

The canonical form and the hashes live in ``governance.audit_canonical`` (standard library only,
embedded by the offline verifier of evidence packs).

Verification recomputes every event hash, which is the costly part (parsing and re-serialising the
stored JSON). A long chain is cut into ranges of ``PARALLEL_CHUNK`` links checked by a pool of
processes, each with its own database connection; every link's chain hash only needs the stored
chain hash of the link before it, so the ranges are independent, and their results are read in
seq order so the first bad link reported is the same as a single walk from the start would find.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing.util import Finalize
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from governance.audit_canonical import GENESIS, canonical_values, chain_hash, event_hash
from governance.models import AuditAnchor
from governance.services.delivery import signature_header

logger = logging.getLogger(__name__)

SEAL_LOCK_KEY = 0x5645524954590001  # pg_advisory_xact_lock key: one sealer at a time
SEAL_BATCH_LIMIT = 100_000  # events per seal; the next run carries on
VERIFY_FETCH = 5_000  # rows per round trip of the verifying cursor
PARALLEL_MIN_LINKS = 100_000  # shorter runs of the chain are checked by this process alone
PARALLEL_CHUNK = 10_000  # links per range handed to a verifying process (small: no long tail)
# A range takes well under a second; one that has not come back after this is stuck (a worker
# that cannot connect, say), and the check starts again in this process rather than hang.
PARALLEL_RANGE_TIMEOUT = 120.0
UNSEALED_GRACE = timedelta(seconds=60)

# occurred_at comes already in its canonical text (see audit_canonical), which also spares the
# verifier parsing and re-formatting a timestamp per event.
EVENT_COLUMNS = """
    e.id, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    e.table_name, e.object_pk, e.root_table, e.root_pk, e.operation,
    e.before::text, e.after::text, e.changes::text, e.actor_id, e.actor, e.source,
    e.correlation_id, e.reason, e.db_user, e.transaction_id
"""
_NAMES = (
    "id occurred_at table_name object_pk root_table root_pk operation before after changes "
    "actor_id actor source correlation_id reason db_user transaction_id"
).split()
_JSON = ("before", "after", "changes")
_LINK_NAMES = ("seq", "event_id", "event_hash", "chain_hash", "sealed_at", "batch")
# What verification reads per link: seq, event_id, event_hash, chain_hash, whether the event
# exists, then the event in COLUMNS order (see ``canonical_values``).
VERIFY_SELECT = f"""
    SELECT l.seq, l.event_id, l.event_hash, l.chain_hash, e.id IS NOT NULL, {EVENT_COLUMNS}
      FROM governance_auditchainlink l
      LEFT JOIN governance_changeevent e ON e.id = l.event_id
"""
_sha256 = hashlib.sha256


@dataclass(frozen=True)
class Seal:
    """One sealing run: the links it appended."""

    batch: int
    first_seq: int
    last_seq: int
    count: int
    chain_hash: str
    sealed_at: datetime


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of ``verify()``; ``first_bad_*`` name the first link that fails, if any."""

    ok: bool
    checked: int
    head_seq: int = 0
    head_hash: str = GENESIS
    first_bad_seq: int | None = None
    first_bad_event_id: int | None = None
    first_bad_table: str = ""
    first_bad_object: str = ""
    reason: str = ""
    warnings: tuple[str, ...] = ()


def _event(values) -> dict:
    """An event row (selected with ``EVENT_COLUMNS``) as the mapping ``canonical_event`` takes."""
    row = dict(zip(_NAMES, values, strict=True))
    for name in _JSON:
        if row[name] is not None:
            row[name] = json.loads(row[name])
    return row


def _final_xmin(cursor) -> int:
    """Transactions below this id are over: their events can no longer change or appear."""
    cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return cursor.fetchone()[0]


# --------------------------------------------------------------------------------------------
# Sealing
# --------------------------------------------------------------------------------------------


@transaction.atomic
def seal(now: datetime | None = None, *, limit: int = SEAL_BATCH_LIMIT) -> Seal | None:
    """Append the final, unsealed events to the chain in id order; ``None`` if there were none."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        # After the lock, so a sealer that waited sees the links the previous one committed.
        xmin = _final_xmin(cursor)
        cursor.execute(
            "SELECT seq, chain_hash, batch FROM governance_auditchainlink ORDER BY seq DESC LIMIT 1"
        )
        last = cursor.fetchone()
        seq, previous, batch = last if last else (0, GENESIS, 0)
        cursor.execute(
            f"""
            SELECT {EVENT_COLUMNS} FROM governance_changeevent e
             WHERE e.transaction_id < %s
               AND NOT EXISTS (SELECT 1 FROM governance_auditchainlink l WHERE l.event_id = e.id)
             ORDER BY e.id LIMIT %s
            """,
            [xmin, limit],
        )
        events = cursor.fetchall()
        if not events:
            return None
        batch += 1
        first_seq = seq + 1
        with cursor.copy(
            "COPY governance_auditchainlink (seq, event_id, event_hash, chain_hash, sealed_at, batch) "
            "FROM STDIN"
        ) as copy:
            for values in events:
                seq += 1
                digest = _sha256(canonical_values(values)).hexdigest()
                previous = chain_hash(previous, digest)
                copy.write_row((seq, values[0], digest, previous, now, batch))
    return Seal(batch, first_seq, seq, len(events), previous, now)


def seal_all(now: datetime | None = None) -> int:
    """Seal until nothing final is left unsealed; returns how many events were appended."""
    total = 0
    while (done := seal(now)) is not None:
        total += done.count
        if done.count < SEAL_BATCH_LIMIT:
            break
    return total


# --------------------------------------------------------------------------------------------
# Reading the chain
# --------------------------------------------------------------------------------------------


def head() -> tuple[int, str, datetime | None]:
    """The last link: ``(seq, chain_hash, sealed_at)``, or ``(0, GENESIS, None)`` for an empty chain."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, chain_hash, sealed_at FROM governance_auditchainlink ORDER BY seq DESC LIMIT 1"
        )
        row = cursor.fetchone()
    return tuple(row) if row else (0, GENESIS, None)


def link_before(seq: int) -> str:
    """The chain hash a segment starting at ``seq`` continues from (``GENESIS`` before seq 1)."""
    if seq <= 1:
        return GENESIS
    with connection.cursor() as cursor:
        cursor.execute("SELECT chain_hash FROM governance_auditchainlink WHERE seq = %s", [seq - 1])
        row = cursor.fetchone()
    if row is None:
        raise LookupError(f"no audit chain link {seq - 1}")
    return row[0]


def _links(cursor_name: str, from_seq: int, to_seq: int | None = None) -> Iterator[tuple[dict, dict | None]]:
    """Links from ``from_seq`` (to ``to_seq``) joined with their events, through a server-side cursor."""
    upper = "AND l.seq <= %s" if to_seq is not None else ""
    params = [from_seq] + ([to_seq] if to_seq is not None else [])
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name=cursor_name) as cursor:
            cursor.itersize = VERIFY_FETCH
            cursor.execute(
                f"""
                SELECT l.seq, l.event_id, l.event_hash, l.chain_hash, l.sealed_at, l.batch,
                       e.id IS NOT NULL, {EVENT_COLUMNS}
                  FROM governance_auditchainlink l
                  LEFT JOIN governance_changeevent e ON e.id = l.event_id
                 WHERE l.seq >= %s {upper}
                 ORDER BY l.seq
                """,
                params,
            )
            for row in cursor:
                link = dict(zip(_LINK_NAMES, row[:6], strict=True))
                yield link, (_event(row[7:]) if row[6] else None)


def segment_bounds(*, start: datetime, end: datetime) -> tuple[int, int] | None:
    """The first and last seq of the period's segment, or ``None`` when it has no link.

    The segment runs from the first to the last link whose event occurred in ``[start, end)`` and
    includes every link between them (a late-sealed event of a neighbouring period included), so
    it verifies on its own from ``link_before(first)``.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min(l.seq), max(l.seq) FROM governance_auditchainlink l
              JOIN governance_changeevent e ON e.id = l.event_id
             WHERE e.occurred_at >= %s AND e.occurred_at < %s
            """,
            [start, end],
        )
        first, last = cursor.fetchone()
    return None if first is None else (first, last)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def unsealed_stale(now: datetime | None = None) -> int:
    """Final events older than a minute that are still not sealed (a sealer that stopped)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        xmin = _final_xmin(cursor)
        cursor.execute(
            """
            SELECT count(*) FROM governance_changeevent e
             WHERE e.transaction_id < %s AND e.occurred_at < %s
               AND NOT EXISTS (SELECT 1 FROM governance_auditchainlink l WHERE l.event_id = e.id)
            """,
            [xmin, now - UNSEALED_GRACE],
        )
        return cursor.fetchone()[0]


def verify(*, from_seq: int = 1, now: datetime | None = None, workers: int | None = None) -> VerifyResult:
    """Recompute every event hash and chain hash from ``from_seq`` on; report the first mismatch.

    ``workers`` processes (default: one per CPU) share the work when at least
    ``PARALLEL_MIN_LINKS`` links are to be checked and this process runs no other thread;
    ``workers=1`` checks in this process alone.
    """
    previous = link_before(from_seq)
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    last = head()[0]
    result = None
    if workers > 1 and last - from_seq + 1 >= PARALLEL_MIN_LINKS and _can_fork():
        try:
            result = _verify_parallel(from_seq, last, previous, workers)
        except multiprocessing.TimeoutError:
            logger.warning("A verifying process stalled; checking the chain in this process instead")
    if result is None:
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor(name="audit_chain_verify") as cursor:
                cursor.itersize = VERIFY_FETCH
                cursor.execute(f"{VERIFY_SELECT} WHERE l.seq >= %s ORDER BY l.seq", [from_seq])
                result = _check(cursor, previous, from_seq)
    if not result.ok:
        return result
    warnings = []
    if stale := unsealed_stale(now):
        warnings.append(f"{stale} final events older than a minute are not sealed: is the sealer running?")
    return replace(result, warnings=tuple(warnings))


def _check(rows, previous: str, expected: int) -> VerifyResult:
    """Walk link rows (``VERIFY_SELECT``) from seq ``expected`` on; stop at the first that does not hold."""
    checked = 0
    for row in rows:
        digest, linked = row[2], row[3]
        if not (
            row[0] == expected
            and row[4]
            and _sha256(canonical_values(row[5:])).hexdigest() == digest
            and chain_hash(previous, digest) == linked
        ):
            if problem := _problem(row, previous, expected):
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    head_seq=expected - 1,
                    head_hash=previous,
                    first_bad_seq=row[0],
                    first_bad_event_id=row[1],
                    first_bad_table=row[7] if row[4] else "",
                    first_bad_object=row[8] if row[4] else "",
                    reason=problem,
                )
        previous = linked
        expected += 1
        checked += 1
    return VerifyResult(ok=True, checked=checked, head_seq=expected - 1, head_hash=previous)


def _problem(row, previous: str, expected: int) -> str:
    """Why one link row does not hold, through the reference functions ('' if it does)."""
    seq, digest, linked, present = row[0], row[2], row[3], row[4]
    if seq != expected:
        return f"link {expected} is missing: the chain jumps to {seq}"
    if not present:
        return "the event is missing (deleted)"
    if event_hash(_event(row[5:])) != digest:
        return "the event does not match its sealed hash (changed, or links reordered)"
    if chain_hash(previous, digest) != linked:
        return "the chain hash does not follow from the previous link"
    return ""


# --------------------------------------------------------------------------------------------
# Parallel verification
# --------------------------------------------------------------------------------------------


def _can_fork() -> bool:
    """Forking is offered, and safe: no other thread (of a threaded web server, say) holds a lock."""
    return "fork" in multiprocessing.get_all_start_methods() and _single_threaded()


def _single_threaded() -> bool:
    return threading.active_count() == 1


def _verify_parallel(from_seq: int, last: int, previous: str, workers: int) -> VerifyResult:
    """Check links ``from_seq``..``last`` in ranges over a pool of processes; the first bad link wins."""
    params = {
        key: value
        for key, value in connection.get_connection_params().items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    ranges = [
        (first, min(first + PARALLEL_CHUNK - 1, last), previous if first == from_seq else None)
        for first in range(from_seq, last + 1, PARALLEL_CHUNK)
    ]
    checked, head_seq, head_hash = 0, from_seq - 1, previous
    context = multiprocessing.get_context("fork")  # the children need no Django set-up of their own
    with context.Pool(min(workers, len(ranges)), initializer=_start_worker, initargs=(params,)) as pool:
        results = pool.imap(_check_range, ranges)
        for _, upper, _ in ranges:
            result = results.next(timeout=PARALLEL_RANGE_TIMEOUT)
            if not result.ok:
                return replace(result, checked=checked + result.checked)
            checked += result.checked
            head_seq, head_hash = result.head_seq, result.head_hash
            if head_seq < upper:  # the chain ends early, with no link after the gap
                break
        pool.close()
        pool.join()
    return VerifyResult(ok=True, checked=checked, head_seq=head_seq, head_hash=head_hash)


_worker_connection = None


def _start_worker(params: dict) -> None:
    """Pool initializer: this process's own connection (the parent's is never touched)."""
    global _worker_connection
    # A handler inherited from the parent (a web server's graceful exit, say) would keep this
    # process alive when the pool is terminated after the first bad range: back to the defaults.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    gc.disable()  # it only parses and hashes acyclic rows; a collection would walk the inherited heap
    _worker_connection = psycopg.connect(**params, autocommit=True)
    Finalize(_worker_connection, _worker_connection.close, exitpriority=10)


def _check_range(task: tuple[int, int, str | None]) -> VerifyResult:
    """Check links ``first``..``last`` (in a worker process); ``previous`` is looked up if not given."""
    first, last, previous = task
    conn = _worker_connection
    with conn.transaction():
        if previous is None:
            row = conn.execute(
                "SELECT chain_hash FROM governance_auditchainlink WHERE seq = %s", [first - 1]
            ).fetchone()
            # The link before is missing: the range before this one ends early and reports it.
            previous = row[0] if row else GENESIS
        with conn.cursor(name="audit_chain_verify_range") as cursor:
            cursor.itersize = VERIFY_FETCH
            cursor.execute(f"{VERIFY_SELECT} WHERE l.seq BETWEEN %s AND %s ORDER BY l.seq", [first, last])
            result = _check(cursor, previous, first)
        if result.ok and result.head_seq < last:
            # No link from head_seq + 1 to last: the next link, if any, is where the chain jumps to.
            after = conn.execute(
                f"{VERIFY_SELECT} WHERE l.seq > %s ORDER BY l.seq LIMIT 1", [last]
            ).fetchall()
            if after:
                bad = _check(after, result.head_hash, result.head_seq + 1)
                result = replace(bad, checked=result.checked)
    return result


def check_anchor(anchor: dict) -> str:
    """Compare a published anchor with the chain: '' if it agrees, otherwise why not."""
    seq, expected = int(anchor["seq"]), anchor["chain_hash"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT chain_hash FROM governance_auditchainlink WHERE seq = %s", [seq])
        row = cursor.fetchone()
    if row is None:
        return f"the chain ends before the anchor published at {anchor.get('at')} (seq {seq})"
    if row[0] != expected:
        return f"link {seq} has hash {row[0]}, but {expected} was published at {anchor.get('at')}"
    return ""


# --------------------------------------------------------------------------------------------
# Anchors
# --------------------------------------------------------------------------------------------


def _to_file(path: str, body: bytes) -> str:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("ab") as handle:
        handle.write(body + b"\n")
    return str(target)


def _to_emails(recipients: list[str], payload: dict, body: bytes) -> str:
    send_mail(
        subject=f"Verity audit chain head #{payload['seq']}",
        message=(
            "The audit chain head, for your records. Keep this message: it lets you detect a\n"
            "rewrite of the history (compare with `manage.py verify_audit_log`).\n\n"
            f"seq:        {payload['seq']}\n"
            f"chain hash: {payload['chain_hash']}\n"
            f"at:         {payload['at']}\n"
            "\nAs a line for `manage.py verify_audit_log --anchor-file`:\n"
            f"{body.decode()}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
    return ", ".join(recipients)


def _to_webhook(url: str, body: bytes) -> str:
    headers = {"Content-Type": "application/json"}
    if secret := settings.VERITY_AUDIT_ANCHOR_SECRET:
        headers["Verity-Signature"] = signature_header(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=settings.VERITY_WEBHOOK_TIMEOUT_SECONDS) as response:
        return f"{url} → HTTP {response.status}"


def publish_head(now: datetime | None = None) -> list[AuditAnchor]:
    """Write the chain head to every configured sink and record each publication.

    A failing sink is logged and recorded with its error; it never stops the others or raises.
    """
    now = now or timezone.now()
    seq, digest, _ = head()
    if seq == 0:
        return []
    payload = {"seq": seq, "chain_hash": digest, "at": now.isoformat()}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    sinks = []
    if settings.VERITY_AUDIT_ANCHOR_FILE:
        sinks.append(("file", lambda: _to_file(settings.VERITY_AUDIT_ANCHOR_FILE, body)))
    if emails := [e.strip() for e in settings.VERITY_AUDIT_ANCHOR_EMAILS.split(",") if e.strip()]:
        sinks.append(("email", lambda: _to_emails(emails, payload, body)))
    if settings.VERITY_AUDIT_ANCHOR_WEBHOOK:
        sinks.append(("webhook", lambda: _to_webhook(settings.VERITY_AUDIT_ANCHOR_WEBHOOK, body)))
    anchors = []
    for sink, send in sinks:
        try:
            detail = send()
        except Exception as exc:  # a sink that is down must not stop the others
            logger.exception("audit anchor to %s failed", sink)
            detail = f"failed: {exc}"
        anchors.append(
            AuditAnchor.objects.create(seq=seq, chain_hash=digest, at=now, sink=sink, detail=detail[:500])
        )
    return anchors


def last_file_anchor(path: str) -> dict | None:
    """The last anchor line of a file sink, or ``None`` if there is none."""
    try:
        lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    return json.loads(lines[-1]) if lines else None
