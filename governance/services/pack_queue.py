"""The queue of evidence pack builds: sending a build, its lease and heartbeat, and the sweep.

A pack is never left unfinished for good:

1. **Send inside the transaction.** ``send_build()`` publishes the build message before the
   transaction that queued the pack commits, holding a transaction-level advisory lock on the
   pack. If the broker cannot take the message, ``Unavailable`` rolls the pack back (the API
   answers 503): no row is committed that nothing will build. A build waits for that lock
   (``claim()``), so it never looks for the pack before the sender's transaction has ended;
   if that transaction rolled back, the build finds no pack and does nothing.
2. **Lease and heartbeat.** ``claim()`` counts the attempt and takes a lease of
   ``VERITY_PACK_LEASE_SECONDS``; ``heartbeat()`` renews it from a thread while the build runs.
   A lease left to expire means the worker died (SIGKILL, a lost machine).
3. **Take over.** A build message for a pack whose lease expired takes the pack over (a message
   delivered again after its worker died), up to ``VERITY_PACK_MAX_ATTEMPTS`` builds; after that
   the pack fails with the reason.
4. **The sweep** (``sweep()``, from beat every minute) fails packs unfinished longer than
   ``VERITY_PACK_BUILD_TIMEOUT_SECONDS`` after their first build began, queues again the packs
   whose lease expired (or fails them once their attempts are used up), and sends a build message
   again for queued packs none was sent for within a lease: the filesystem broker of ``make run``
   deletes a message as a worker takes it, so a worker dying then loses it.
5. **Fenced outcome.** ``finish()`` writes the outcome only while the build still holds the pack
   (its status is building and its attempt count is this build's): a build that lost its lease
   or outran the bound changes nothing.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from governance.exceptions import Unavailable
from governance.models import EvidencePack
from governance.models.packs import lease_length

logger = logging.getLogger(__name__)

Status = EvidencePack.Status
# pg_advisory_xact_lock(class, pack id): the two-key space, apart from the project's one-key locks.
LOCK_CLASS = 0x5650
RETRY_AFTER_SECONDS = 30
# A publish retries briefly, so that a request does not hang on a broker that is down.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
SWEEP_BATCH = 500
_REASON_LIMIT = 2000


def lock(pack_id: int) -> None:
    """Take the pack's advisory lock until the transaction ends. A sender takes it before it locks
    the pack's row, as a build does, so the two never wait for each other in opposite order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, pack_id])


def send_build(pack: EvidencePack, *, now: datetime | None = None) -> None:
    """Publish the build message of ``pack``, inside the caller's transaction (see the module's
    docstring); raises ``Unavailable`` when the broker does not take it, so the caller's
    transaction rolls back."""
    from governance.tasks.packs import build_evidence_pack

    if not connection.in_atomic_block:
        raise RuntimeError("send_build() must run inside the transaction that queued the pack")
    lock(pack.pk)
    EvidencePack.objects.filter(pk=pack.pk).update(queued_at=now or timezone.now())
    try:
        build_evidence_pack.apply_async((pack.pk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except (KombuError, OSError) as exc:
        logger.warning("Evidence pack %s: the build could not be queued: %s", pack.pk, exc)
        raise Unavailable(
            "The task queue is unavailable, so the pack cannot be built now; nothing was saved. "
            "Retry later (with the same Idempotency-Key).",
            code="task_queue_unavailable",
            retry_after=RETRY_AFTER_SECONDS,
        ) from exc


@dataclass(frozen=True)
class Held:
    """One build's hold on its pack: the pack as claimed, and the attempt that fences it."""

    pack: EvidencePack
    attempt: int


def claim(*, pack_id: int, now: datetime | None = None) -> Held | None:
    """Start a build of ``pack_id``: count the attempt and take the lease.

    ``None`` when there is nothing to build: the pack does not exist (its request rolled back),
    is finished, is held by a live build, or has used up its attempts (it is failed here, with
    the reason).
    """
    with transaction.atomic():
        lock(pack_id)  # the sender's transaction has ended once this returns
        now = now or timezone.now()
        pack = (
            EvidencePack.objects.claimable(now)
            .select_for_update(of=("self",))
            .select_related("requested_by")
            .filter(pk=pack_id)
            .first()
        )
        if pack is None or _give_up_if_exhausted(pack, now):
            return None
        pack.attempts += 1
        pack.status, pack.error = Status.BUILDING, ""
        pack.lease_until = now + lease_length()
        pack.started_at = pack.started_at or now
        pack.save(update_fields=["attempts", "status", "error", "lease_until", "started_at"])
    return Held(pack=pack, attempt=pack.attempts)


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _give_up_if_exhausted(pack: EvidencePack, now: datetime) -> bool:
    """Fail a pack whose builds all died; the one home of the attempt limit."""
    limit = settings.VERITY_PACK_MAX_ATTEMPTS
    if pack.attempts < limit:
        return False
    _fail(
        pack,
        now,
        f"Its build stopped without finishing {_times(pack.attempts)} (VERITY_PACK_MAX_ATTEMPTS is "
        f"{limit}): the worker building it died or was stopped. Retry the pack to build it again.",
    )
    return True


def _fail_past_bound(pack: EvidencePack, now: datetime) -> None:
    seconds = settings.VERITY_PACK_BUILD_TIMEOUT_SECONDS
    _fail(
        pack,
        now,
        f"The pack was not finished within {seconds:g} seconds of its first build "
        f"(VERITY_PACK_BUILD_TIMEOUT_SECONDS; {pack.attempts} builds started). Retry it, or ask for "
        "a smaller scope or period.",
    )


def _fail(pack: EvidencePack, now: datetime, reason: str) -> None:
    pack.status, pack.error = Status.FAILED, reason[:_REASON_LIMIT]
    pack.lease_until, pack.finished_at = None, now
    pack.save(update_fields=["status", "error", "lease_until", "finished_at"])


def _renew(held: Held) -> bool:
    """Extend the lease; False when the build no longer holds the pack."""
    return bool(
        EvidencePack.objects.filter(pk=held.pack.pk, status=Status.BUILDING, attempts=held.attempt).update(
            lease_until=timezone.now() + lease_length()
        )
    )


@contextmanager
def heartbeat(held: Held):
    """Renew the lease from a thread (with its own database connection) while the block runs."""
    stop = threading.Event()
    interval = settings.VERITY_PACK_LEASE_SECONDS / 4

    def beat():
        try:
            while not stop.wait(interval):
                try:
                    if not _renew(held):
                        logger.warning("Evidence pack %s: the build lost its lease", held.pack.pk)
                        return
                except DatabaseError:
                    logger.exception("Evidence pack %s: the lease could not be renewed", held.pack.pk)
        finally:
            connection.close()  # this thread's connection

    thread = threading.Thread(target=beat, name=f"pack-{held.pack.pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def finish(held: Held, **outcome) -> bool:
    """Record the build's outcome (status and the fields it sets) and drop the lease, only while
    the build still holds the pack; returns whether it was recorded."""
    outcome.setdefault("finished_at", timezone.now())
    return bool(
        EvidencePack.objects.filter(pk=held.pack.pk, status=Status.BUILDING, attempts=held.attempt).update(
            lease_until=None, **outcome
        )
    )


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat, every minute: fail packs past the bound, queue again (or fail) the packs whose build
    died, and send the build of queued packs whose message was lost. Returns what it did."""
    now = now or timezone.now()
    done = {"failed": 0, "requeued": 0, "sent": 0}
    with transaction.atomic():
        locked = EvidencePack.objects.select_for_update(skip_locked=True)
        for pack in locked.past_bound(now)[:SWEEP_BATCH]:
            _fail_past_bound(pack, now)
            done["failed"] += 1
        for pack in locked.lease_expired(now)[:SWEEP_BATCH]:
            if _give_up_if_exhausted(pack, now):
                done["failed"] += 1
                continue
            pack.status, pack.lease_until, pack.queued_at = Status.QUEUED, None, None
            pack.save(update_fields=["status", "lease_until", "queued_at"])
            done["requeued"] += 1
    for pack_id in EvidencePack.objects.unsent(now).values_list("pk", flat=True)[:SWEEP_BATCH]:
        try:
            with transaction.atomic():
                lock(pack_id)
                pack = EvidencePack.objects.select_for_update(skip_locked=True).unsent(now).filter(pk=pack_id)
                if pack := pack.first():
                    send_build(pack, now=now)
                    done["sent"] += 1
        except Unavailable:
            break  # the broker is down: the next sweep tries again
    return done
