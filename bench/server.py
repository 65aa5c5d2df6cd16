"""The system under test: its PostgreSQL database, gunicorn, and the CPU they use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DB_NAME = "verity_bench"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"

# --------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------


def database_url() -> tuple[str, bool]:
    """The URL to use, and whether it is the bench's own database."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url, False
    import psycopg

    with psycopg.connect(f"{DEFAULT_SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DEFAULT_DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DEFAULT_DB_NAME}"')
    return f"{DEFAULT_SERVER}/{DEFAULT_DB_NAME}", True


def django_env(db_url: str, secret_key: str) -> dict[str, str]:
    """Production settings (the default, named here all the same: a test run's environment says
    development) with everything they require, for gunicorn and the bench's Django steps."""
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        VERITY_ENV="production",
        DATABASE_URL=db_url,
        DJANGO_SECRET_KEY=secret_key,
        # Token digests are keyed with this; the seeding process and gunicorn must agree on it.
        VERITY_TOKEN_HMAC_KEY=secret_key,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        # Production settings insist on a named broker. The measured requests enqueue nothing
        # today; kombu's in-memory transport keeps the bench free of outside services and never
        # hands work to a worker someone else is running.
        CELERY_BROKER_URL="memory://",
        # Rate limits still count every request (their cost is measured) but never refuse one.
        VERITY_API_RATE_TOKEN="1000000/min",
        VERITY_API_RATE_ANONYMOUS="1000000/min",
        VERITY_API_RATE_FAILED_AUTHENTICATION="1000000/min",
        PYTHONPATH=str(ROOT),
    )
    return env


BENCH_TABLES = (
    "governance_aisystem",
    "governance_systemmodel",
    "governance_aimodel",
    "governance_team",
    "governance_user",
    "governance_user_groups",
    "governance_apitoken",
)


def vacuum(db_url: str, tables: tuple[str, ...] = BENCH_TABLES) -> None:
    """VACUUM (ANALYZE) what the bench reads and deletes from.

    Each run deletes the rows it wrote; if autovacuum is off or behind (it is off on some
    development servers), dead rows pile up at the head of the ``created_at`` index and the
    planner has no statistics, and every later run measures that instead of the API.
    """
    import psycopg

    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    except psycopg.Error as exc:
        print(f"bench: warning: VACUUM failed ({exc}); figures may drift between runs", flush=True)


def local_database(db_url: str) -> bool:
    """PostgreSQL backends are only visible in /proc when the server runs on this machine."""
    return (urlsplit(db_url).hostname or "localhost") in ("localhost", "127.0.0.1", "::1")


# --------------------------------------------------------------------------------------------
# gunicorn
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, log_path: Path, app: str = "config.wsgi"
) -> subprocess.Popen:
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                app,
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--graceful-timeout",
                "10",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: gunicorn exited early, see {log_path}:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    stop_gunicorn(proc)
    raise SystemExit("bench: gunicorn did not answer /healthz within 60 s")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# CPU accounting
# --------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a local process has used; 0 if it is gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_snapshot(gunicorn_pid: int, db_url: str) -> dict:
    """CPU used by gunicorn (master + workers), by the PostgreSQL backends serving this database
    (local server only) and the machine's idle/total jiffies."""
    import psycopg

    pids = []
    if local_database(db_url):
        with psycopg.connect(db_url, autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
    cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return {
        "gunicorn": sum(proc_cpu(pid) for pid in [gunicorn_pid, *children(gunicorn_pid)]),
        "db": {pid: proc_cpu(pid) for (pid,) in pids},
        "wall": time.monotonic(),
        "idle": cpu[3] + cpu[4],
        "total": sum(cpu),
    }


def db_cpu(before: dict, after: dict) -> float:
    return sum(used - before["db"].get(pid, 0.0) for pid, used in after["db"].items())


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def busy(before: dict, after: dict) -> float:
    total = after["total"] - before["total"]
    return 1 - (after["idle"] - before["idle"]) / total if total else float("nan")
