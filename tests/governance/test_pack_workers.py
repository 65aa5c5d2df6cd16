"""Evidence packs on real Celery workers: a worker SIGKILLed while it builds, on Redis and on the
filesystem broker of ``make run``; the bound on a build that hangs.

A build is held at a real checkpoint: the test locks a table the build reads (``LOCK TABLE`` in
a connection of its own), so the worker has claimed the pack, renews its lease and waits inside
its build until the test lets go. The beat is played by the test: it sends the sweep itself.
"""

import datetime
import hashlib
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.utils import timezone

from governance.models import EvidencePack
from governance.services import pack_builds, pack_queue
from tests.factories import FrameworkFactory, UserFactory
from tests.worker import Worker, database_url, wait_for

pytestmark = pytest.mark.integration

BUILD = "governance.tasks.build_evidence_pack"
SWEEP = "governance.tasks.sweep_evidence_packs"
LEASE_SECONDS = 2
# The first thing a build reads of the register (``pack_builds._scope``).
CHECKPOINT_TABLE = "governance_framework"


def env(var_dir, **extra) -> dict[str, str]:
    return {"VERITY_VAR_DIR": str(var_dir), "VERITY_PACK_LEASE_SECONDS": str(LEASE_SECONDS), **extra}


@pytest.fixture
def pack(transactional_db):
    from governance.choices import Role

    auditor = UserFactory(username="auditor", role=Role.AUDITOR)
    framework = FrameworkFactory(code="iso-iec-42001", version="2023")
    parameters = pack_builds._parameters([framework], None, [], None, None)
    return EvidencePack.objects.create(requested_by=auditor, parameters=parameters, queued_at=timezone.now())


@pytest.fixture
def workers():
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
        worker.purge()


@contextmanager
def held_at_checkpoint():
    """Builds that start meanwhile wait at their first read of the register."""
    with psycopg.connect(database_url()) as conn:
        conn.execute(f"LOCK TABLE {CHECKPOINT_TABLE} IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def state(pack) -> tuple:
    pack.refresh_from_db()
    return pack.status, pack.attempts


def building_with_a_beating_heart(pack) -> None:
    wait_for(lambda: state(pack) == ("building", 1), timeout=60, message="the build to start")
    first_lease = pack.lease_until
    wait_for(lambda: state(pack) and pack.lease_until > first_lease, message="a heartbeat renewing the lease")


def sleep_past_lease(pack) -> None:
    time.sleep(max(0.0, (pack.lease_until - timezone.now()).total_seconds()) + 0.2)


def ready_and_intact(pack, var_dir) -> bool:
    if state(pack)[0] != "ready":
        return False
    data = (var_dir / "evidence" / pack.file.name).read_bytes()
    return hashlib.sha256(data).hexdigest() == pack.sha256


def started(workers: list, worker: Worker) -> Worker:
    """``worker`` started, and stopped by the ``workers`` fixture at the end of the test."""
    workers.append(worker)
    worker.start()
    return worker


def kill_mid_build(worker: Worker, pack) -> None:
    """Hand ``worker`` the pack's build and SIGKILL it while the build holds the pack, its
    heartbeat renewing the lease."""
    with held_at_checkpoint():
        worker.send(BUILD, pack.pk)
        building_with_a_beating_heart(pack)
        worker.kill()


def test_a_pack_whose_worker_was_killed_mid_build_is_built_by_another_after_the_sweep(
    pack, workers, tmp_path
):
    first = started(workers, Worker(env(tmp_path)))
    kill_mid_build(first, pack)
    assert state(pack) == ("building", 1)
    # Within the lease the sweep leaves it alone (asked with the clock inside the lease: the next
    # worker may take longer than the lease to come up on a busy machine).
    inside = pack.lease_until - datetime.timedelta(seconds=1)
    assert pack_queue.sweep(now=inside) == {"failed": 0, "requeued": 0, "sent": 0}

    second = started(workers, Worker(env(tmp_path), queue=first.queue))
    sleep_past_lease(pack)
    assert second.call(SWEEP) == {"failed": 0, "requeued": 1, "sent": 1}
    wait_for(lambda: ready_and_intact(pack, tmp_path), timeout=120, message="the pack built again")
    assert (pack.attempts, pack.error, pack.lease_until) == (2, "", None)


def test_a_redelivered_build_fails_the_pack_with_the_reason_once_its_attempts_are_used_up(
    pack, workers, tmp_path
):
    first = started(workers, Worker(env(tmp_path, VERITY_PACK_MAX_ATTEMPTS="1")))
    kill_mid_build(first, pack)

    second = started(workers, Worker(env(tmp_path, VERITY_PACK_MAX_ATTEMPTS="1"), queue=first.queue))
    sleep_past_lease(pack)
    assert second.call(BUILD, pack.pk) == "failed"  # delivered again after the lease: takes over
    assert state(pack) == ("failed", 1)
    assert "stopped without finishing once" in pack.error and pack.finished_at is not None


def test_a_build_that_outlives_the_bound_is_failed_and_its_late_result_discarded(pack, workers, tmp_path):
    worker = started(workers, Worker(env(tmp_path)))
    with held_at_checkpoint():
        worker.send(BUILD, pack.pk)
        building_with_a_beating_heart(pack)
        bound = datetime.timedelta(seconds=3600)  # VERITY_PACK_BUILD_TIMEOUT_SECONDS's default
        assert pack_queue.sweep(now=pack.started_at + bound - datetime.timedelta(seconds=1))["failed"] == 0
        assert pack_queue.sweep(now=pack.started_at + bound)["failed"] == 1
    assert worker.call("governance.tasks.heartbeat")  # one task at a time: the build has ended
    assert state(pack) == ("failed", 1)
    assert "not finished within 3600 seconds" in pack.error
    assert pack.file.name == "" and not list((tmp_path / "evidence").rglob("*.zip"))


def test_the_filesystem_broker_loses_a_killed_workers_message_and_the_sweep_builds_the_pack(
    pack, workers, tmp_path
):
    first = started(workers, Worker.on_filesystem(tmp_path, env(tmp_path)))
    kill_mid_build(first, pack)
    # The transport deleted the message as the worker took it: nothing would ever deliver it again.
    assert list((tmp_path / "broker" / "out").iterdir()) == []

    second = started(workers, Worker.on_filesystem(tmp_path, env(tmp_path), queue=first.queue))
    sleep_past_lease(pack)
    assert second.call(SWEEP) == {"failed": 0, "requeued": 1, "sent": 1}
    wait_for(lambda: ready_and_intact(pack, tmp_path), timeout=120, message="the pack built again")
    assert pack.attempts == 2
