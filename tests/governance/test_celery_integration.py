"""A real Celery worker on a real Redis broker, reaching the test database."""

import os
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
