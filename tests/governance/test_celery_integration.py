"""A real Celery worker on a real Redis broker, reaching the test database; the tasks it knows."""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

REDIS_URL = os.environ.get("VERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db):
    settings = connection.settings_dict
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        # The worker must use the test database, over TCP or the embedded server's socket.
        "DATABASE_URL": f"postgres://{settings['USER']}@/{settings['NAME']}?host={settings['HOST']}"
        + (f"&port={settings['PORT']}" if settings["PORT"] else ""),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )
    yield queue
    proc.terminate()
    proc.wait(timeout=30)


def test_it_runs_a_task_on_a_real_worker_against_the_test_database(worker):
    client = Celery("verity-test", broker=REDIS_URL, backend=REDIS_URL)
    result = client.send_task("governance.tasks.heartbeat", queue=worker)
    payload = result.get(timeout=60)
    assert payload["database"] == connection.settings_dict["NAME"]
    assert payload["time"]


# Every task a worker registers, by the name the beat schedule, queued messages and send_task
# callers use. Moving a task to another module must not change its name.
TASK_NAMES = {
    "governance.tasks.heartbeat",
    "governance.tasks.purge_idempotency_keys",
    "governance.tasks.seal_audit_chain",
    "governance.tasks.anchor_audit_head",
    "governance.tasks.deliver_notification",
    "governance.tasks.deliver_due",
    "governance.tasks.send_digests",
    "governance.tasks.build_evidence_pack",
    "governance.tasks.sweep_evidence_packs",
    "governance.tasks.scan_reviews",
    "governance.tasks.scan_evidence_expiry",
    "incidents.tasks.scan_incident_clocks",
}

# What a worker does as it starts (autodiscovery of each app's ``tasks`` package), in a process
# of its own so that nothing the tests imported registers a task the worker would not have.
_LIST_TASKS = (
    "import json\n"
    "from config.celery import app\n"
    "app.loader.import_default_modules()\n"
    "print(json.dumps({n: t.__module__ for n, t in app.tasks.items() if not n.startswith('celery.')}))\n"
)


def test_it_registers_exactly_the_known_task_names_from_each_apps_tasks_package():
    result = subprocess.run(
        [sys.executable, "-c", _LIST_TASKS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.splitlines()[-1])
    assert set(modules) == TASK_NAMES
    for name, module in modules.items():
        app_label = name.split(".")[0]
        assert module.startswith(f"{app_label}.tasks."), (name, module)


def test_it_schedules_and_sends_only_registered_task_names():
    from config.celery import app
    from governance.services import notifications

    queued_on_demand = {"governance.tasks.deliver_notification", "governance.tasks.build_evidence_pack"}
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == TASK_NAMES - queued_on_demand
    assert {notifications.DELIVER_ONE, notifications.DELIVER_DUE} <= TASK_NAMES


def test_it_has_a_real_worker_register_the_known_task_names(worker):
    client = Celery("verity-test", broker=REDIS_URL, backend=REDIS_URL)
    registered = client.control.inspect(destination=[f"{worker}@{socket.gethostname()}"], timeout=5)
    by_worker = None
    for _ in range(12):  # the worker answers once it has started
        by_worker = registered.registered()
        if by_worker:
            break
    assert by_worker, "the worker did not answer"
    (names,) = by_worker.values()
    assert {name.split()[0] for name in names if not name.startswith("celery.")} == TASK_NAMES


def test_it_gives_every_beat_entry_an_expiry_a_little_shorter_than_its_interval():
    """A worker outage must not pile up a backlog of runs: each beat message expires before the
    next run of its entry is sent."""
    from celery.beat import ScheduleEntry

    from config.celery import app

    assert app.conf.beat_schedule
    for name, entry in app.conf.beat_schedule.items():
        interval = float(entry["schedule"])
        expires = entry.get("options", {}).get("expires")
        assert expires is not None, f"{name} has no expires"
        assert 0.5 * interval <= expires < interval, f"{name}: expires {expires} s for every {interval} s"
        # Beat hands the options to apply_async with each message it sends.
        scheduled = ScheduleEntry(name=name, app=app, **entry)
        assert scheduled.options["expires"] == expires
