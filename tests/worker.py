"""Real Celery workers on a real Redis broker, and a local webhook receiver, for integration tests.

``Worker`` starts ``celery worker`` in a subprocess on the test database and a queue of its own,
which is also the worker's default queue, so tasks it sends itself (a sweep handing rows to
deliveries) come back to it and not to some other worker sharing the Redis database. Tests can
stop it, SIGKILL it and start another on the same queue.

Several ``Worker`` objects given the same ``queue`` compete for its tasks, as workers of one
deployment do. ``Worker.on_filesystem(var_dir)`` runs one on kombu's filesystem transport in
``var_dir/broker`` instead, as ``make run`` does.

``WebhookReceiver`` is an HTTP server on a free loopback port, in a thread of the test process,
that records every request and answers as the test scripts it: a status, a delay, or holding the
request until released.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from celery import Celery
from django.db import connection

REDIS_URL = os.environ.get("VERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[1]

# Run as ``python -c``: the worker's default queue is its own, read from the environment.
_LAUNCHER = (
    "import os, sys\n"
    "from config.celery import app\n"
    "app.conf.task_default_queue = os.environ['VERITY_TEST_QUEUE']\n"
    "app.worker_main(sys.argv[1:])\n"
)


def database_url() -> str:
    """The test database as a URL the worker process can use (TCP or the embedded socket)."""
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@/{settings['NAME']}?host={settings['HOST']}" + (
        f"&port={settings['PORT']}" if settings["PORT"] else ""
    )


class Worker:
    """One worker process at a time on one queue; ``start()`` again after ``stop()`` or ``kill()``."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        queue: str | None = None,
        *,
        broker: str = REDIS_URL,
        transport_options: dict | None = None,
    ):
        self.queue = queue or f"test-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": REDIS_URL,
            "DATABASE_URL": database_url(),
            "VERITY_TEST_QUEUE": self.queue,
            **(env or {}),
        }
        # A queue only this worker consumes, to know when this very process is ready.
        self.own_queue = f"{self.queue}-{uuid.uuid4().hex[:6]}"
        self.client = Celery("verity-test", broker=broker, backend=REDIS_URL)
        self.client.conf.broker_transport_options = transport_options or {}
        self.proc: subprocess.Popen | None = None

    @classmethod
    def on_filesystem(cls, var_dir: Path, env: dict[str, str] | None = None, queue: str | None = None):
        """A worker on the filesystem transport in ``var_dir/broker`` (the folders
        config/settings.py makes there), which deletes a message as a worker takes it."""
        broker = var_dir / "broker"
        options = {
            "data_folder_in": str(broker / "out"),
            "data_folder_out": str(broker / "out"),
            "processed_folder": str(broker / "processed"),
            "store_processed": False,
            "control_folder": str(broker / "control"),
        }
        for folder in ("out", "processed", "control"):
            (broker / folder).mkdir(parents=True, exist_ok=True)
        env = {"VERITY_VAR_DIR": str(var_dir), **(env or {})}
        return cls(env, queue, broker="filesystem://", transport_options=options)

    def start(self, *, wait: bool = True) -> Worker:
        argv = ["worker", "-Q", f"{self.queue},{self.own_queue}", "--pool", "solo", "--loglevel", "WARNING"]
        argv += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *argv], cwd=ROOT, env=self.env)
        if wait:
            self.client.send_task("governance.tasks.heartbeat", queue=self.own_queue).get(timeout=60)
        return self

    def send(self, name: str, *args):
        """Queue a task for this worker (it need not be running yet)."""
        return self.client.send_task(name, args=list(args), queue=self.queue)

    def call(self, name: str, *args, timeout: float = 30):
        """Run a task on this worker and wait for its result."""
        return self.send(name, *args).get(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, leases left behind."""
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def purge(self) -> None:
        """Drop what is left in this worker's queue, so it does not linger in the Redis database."""
        with self.client.connection_for_write() as conn:
            for queue in (self.queue, self.own_queue):
                conn.default_channel.queue_purge(queue)


def wait_for(predicate, *, timeout: float = 20, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {message}")


# --- Webhook receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def delivery_id(self) -> str:
        return self.headers.get("Verity-Delivery", "")

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    """How the receiver answers a request to one path: ``hold`` blocks until ``release()``."""

    status: int = 200
    delay: float = 0.0
    hold: bool = False


@dataclass
class WebhookReceiver:
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receiver._record(self.path, dict(self.headers.items()), body)
                if answer.hold:
                    receiver._released.wait(timeout=60)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender went away (a killed worker, a timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def _record(self, path: str, headers: dict, body: bytes) -> Answer:
        with self._lock:
            self.received.append(Received(path, headers, body))
            script = self.answers.get(path) or [Answer()]
            # Each request to a path takes the next scripted answer; the last one repeats.
            answer = script.pop(0) if len(script) > 1 else script[0]
        self.arrived.set()
        return answer

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def script(self, path: str, *answers: Answer) -> str:
        self.answers[path] = list(answers)
        return self.url(path)

    def release(self) -> None:
        self._released.set()

    def to(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    def deliveries(self, path: str) -> set[str]:
        """Distinct delivery ids received at ``path``: what a receiver that drops repeats accepts."""
        return {request.delivery_id for request in self.to(path)}

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
