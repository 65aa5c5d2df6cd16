"""API throughput of the AI-system inventory, against gunicorn and PostgreSQL on this machine.

    .venv/bin/python bench/api_throughput.py [--systems 10000] [--duration 15] [--concurrency N]

What it does, in one run:

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench`` on 127.0.0.1:5432 (created
   if missing). Runs ``manage.py migrate`` and seeds ``--systems`` AI systems (bulk, over a few
   teams, each with one or two model links), an officer account and a write-scope API token.
   Seeded systems are named ``bench-seed-NNNNNN`` and reused by later runs.
2. Measures the raw psycopg single-row INSERT rate into ``governance_aisystem`` (autocommit, one
   connection, one INSERT per row, the columns of a minimal system). The change-history trigger
   fires for these rows exactly as it does for API writes.
3. Starts gunicorn (``2 x cores`` sync workers, ``DJANGO_DEBUG=false``) on a free loopback port
   and drives it from separate client processes (asyncio, one request in flight per connection)
   through three phases of ``--duration`` seconds each: list (first page plus a few cursors),
   detail (random seeded slug) and create (unique slug per request).
4. Prints requests/s, p50/p95 latency and errors per phase, the two ratios with PASS/FAIL, then
   stops gunicorn and removes the rows the run created (API-created and raw-inserted systems) and
   revokes its token. The change history of those rows stays: that table is append-only.
   The tables it reads and deletes from are vacuumed and analysed after seeding, after the raw
   inserts and at the end, so repeated runs measure the same thing even with autovacuum off.

It exits 0 whether or not the targets pass; it exits non-zero only if the bench itself breaks.
Loopback only; every phase is bounded in time and in connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DB_NAME = "verity_bench"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
SEED_PREFIX = "bench-seed-"
SEED_TEAMS = 5
SEED_MODELS = 6
API = "/api/v1/ai-systems/"
LIST_PAGE_SIZE = 50
LIST_CURSORS_FOLLOWED = 3  # pages 2..4 after each first page
WARMUP_SECONDS = 3.0
TARGET_LIST_OVER_DETAIL = 0.4
TARGET_CREATE_OVER_INSERT = 0.1


def seed_slug(i: int) -> str:
    return f"{SEED_PREFIX}{i:06d}"


# --------------------------------------------------------------------------------------------
# Database set-up, seeding and cleanup (Django runs in short-lived subprocesses only, so the
# client processes forked later carry no Django state or open connections).
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
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=db_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secret_key,
        # Token digests are keyed with this; the seeding process and gunicorn must agree on it.
        VERITY_TOKEN_HMAC_KEY=secret_key,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        # Production settings insist on a named broker. The measured requests enqueue nothing
        # today; kombu's in-memory transport keeps the bench free of outside services and never
        # hands work to a worker someone else is running.
        CELERY_BROKER_URL="memory://",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_django_step(mode: str, env: dict[str, str], *args: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--_{mode}", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"bench: the {mode} step failed")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    return {}


def _django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed_step(n: int, run_id: str) -> None:
    """(subprocess) Make sure ``n`` seeded systems, the officer and a fresh token exist."""
    _django_setup()
    from django.contrib.auth.models import Group
    from django.db import transaction

    from governance import choices
    from governance.change_context import change_context
    from governance.models import AIModel, AISystem, SystemModel, Team, User
    from governance.services.tokens import issue_token

    started = time.perf_counter()
    with change_context(source="bench", reason="api_throughput seed"):
        teams = [
            Team.objects.get_or_create(slug=f"bench-team-{t}", defaults={"name": f"Bench team {t}"})[0]
            for t in range(SEED_TEAMS)
        ]
        models = [
            AIModel.objects.get_or_create(
                provider="Bench",
                name=f"bench-model-{m}",
                version="1",
                defaults={
                    "modality": choices.ModelModality.TEXT,
                    "model_type": choices.ModelType.FOUNDATION,
                    "weights": choices.WeightsAvailability.CLOSED,
                    "hosting": choices.Hosting.VENDOR_API,
                },
            )[0]
            for m in range(SEED_MODELS)
        ]
        existing = set(AISystem.objects.filter(slug__startswith=SEED_PREFIX).values_list("slug", flat=True))
        missing = [i for i in range(n) if seed_slug(i) not in existing]
        tiers = choices.RiskTier.values
        stages = [choices.LifecycleStage.IDEA, choices.LifecycleStage.DEVELOPMENT]
        for start in range(0, len(missing), 2000):
            chunk = missing[start : start + 2000]
            with transaction.atomic():
                systems = AISystem.objects.bulk_create(
                    [
                        AISystem(
                            slug=seed_slug(i),
                            name=f"Bench system {i:06d}",
                            purpose="Seeded by bench/api_throughput.py to measure API throughput.",
                            owning_team=teams[i % SEED_TEAMS],
                            lifecycle_stage=stages[i % 2],
                            operator_role=choices.OperatorRole.DEPLOYER,
                            risk_tier=tiers[i % len(tiers)],
                            autonomy_level=choices.AutonomyLevel.ASSISTIVE,
                            human_oversight=choices.HumanOversight.IN_THE_LOOP,
                            jurisdictions=["EU"] if i % 3 else ["EU", "GB"],
                            tags=["bench"],
                        )
                        for i in chunk
                    ]
                )
                links = []
                for system, i in zip(systems, chunk, strict=True):
                    links.append(SystemModel(system=system, model=models[i % SEED_MODELS]))
                    if i % 2:
                        links.append(
                            SystemModel(
                                system=system,
                                model=models[(i + 1) % SEED_MODELS],
                                role=choices.ModelRole.FALLBACK,
                            )
                        )
                SystemModel.objects.bulk_create(links)
        user, _ = User.objects.get_or_create(
            username="bench-officer", defaults={"email": "bench-officer@example.invalid"}
        )
        user.groups.add(Group.objects.get(name=choices.Role.OFFICER))
        issued = issue_token(actor=None, user=user, name=f"bench {run_id}", scope=choices.TokenScope.WRITE)
    result = {
        "token": issued.secret,
        "teams": [t.slug for t in teams],
        "seeded_now": len(missing),
        "seed_seconds": round(time.perf_counter() - started, 2),
        "systems_total": AISystem.objects.count(),
    }
    print("BENCH_JSON " + json.dumps(result))


def cleanup_step(run_id: str, token_prefix: str, drop_seed: str) -> None:
    """(subprocess) Remove the run's systems, revoke its token, optionally drop the seed."""
    _django_setup()
    from django.db import transaction

    from governance.change_context import change_context
    from governance.models import AIModel, AISystem, ApiToken, SystemModel, Team
    from governance.services.tokens import revoke_token

    prefixes = [f"bench-{run_id}-"] + ([SEED_PREFIX] if drop_seed == "yes" else [])
    removed = 0
    with change_context(source="bench", reason="api_throughput cleanup"), transaction.atomic():
        for prefix in prefixes:
            SystemModel.objects.filter(system__slug__startswith=prefix).delete()
            deleted = AISystem.objects.filter(slug__startswith=prefix).delete()[1]
            removed += deleted.get("governance.AISystem", 0)
        token = ApiToken.objects.select_related("user").filter(prefix=token_prefix).first()
        if token is not None:
            revoke_token(actor=token.user, token=token)
        if drop_seed == "yes":
            if not AISystem.objects.filter(owning_team__slug__startswith="bench-team-").exists():
                Team.objects.filter(slug__startswith="bench-team-").delete()
            AIModel.objects.filter(provider="Bench", system_links__isnull=True).delete()
    print("BENCH_JSON " + json.dumps({"removed": removed}))


# --------------------------------------------------------------------------------------------
# Raw INSERT rate, and table upkeep
# --------------------------------------------------------------------------------------------

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


RAW_INSERT = """
INSERT INTO governance_aisystem (
    slug, name, purpose, description, owning_team_id, lifecycle_stage, eu_ai_act_class,
    annex_iii_area, operator_role, risk_tier, autonomy_level, human_oversight,
    personal_data_categories, affected_groups, jurisdictions, model_card_url, system_prompt_ref,
    system_prompt_version, system_prompt_sha256, guardrail_config_ref, tags, created_at, updated_at
) VALUES (
    %s, %s, %s, '', %s, 'idea', 'unclassified', '', 'deployer', 'low', 'assistive', 'in_the_loop',
    '{}', '{}', '{}', '', '', '', '', '', '{}', %s, %s
)
"""


def measure_raw_inserts(db_url: str, run_id: str, seconds: float) -> dict:
    import psycopg

    prefix = f"bench-{run_id}-raw-"
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Once per session, like the app's context stamp: the trigger files these rows under "bench".
        conn.execute(
            "SELECT set_config('verity.change_context', %s, false)",
            [json.dumps({"source": "bench", "reason": "api_throughput raw insert"})],
        )
        team_id = conn.execute("SELECT id FROM governance_team WHERE slug = 'bench-team-0'").fetchone()[0]
        backend_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        if not _local_database(db_url):
            backend_pid = -1  # a remote server's processes are not ours to read: report 0
        backend_cpu = _proc_cpu(backend_pid)
        cur = conn.cursor()
        n = 0
        latencies = []
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            now = datetime.now(UTC)
            cur.execute(RAW_INSERT, [f"{prefix}{n}", f"Raw {n}", "Raw insert rate.", team_id, now, now])
            latencies.append(time.perf_counter() - t0)
            n += 1
        elapsed = time.perf_counter() - started
        backend_cpu = _proc_cpu(backend_pid) - backend_cpu
        conn.execute("DELETE FROM governance_aisystem WHERE slug LIKE %s", [prefix + "%"])
    vacuum(db_url, ("governance_aisystem",))
    return {
        "rows": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "db_cpu": backend_cpu / elapsed,
        **_percentiles(latencies),
    }


# --------------------------------------------------------------------------------------------
# Load generator: asyncio over raw sockets, HTTP/1.1. gunicorn's sync workers close the
# connection after each response, so a client reconnects when told to (loopback; cheap).
# --------------------------------------------------------------------------------------------


class _Conn:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close, chunked = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if length is not None:
            body = await self.reader.readexactly(length)
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body, close = await self.reader.read(), True
        if close:
            await self.close()
        return status, body


def _request_bytes(method: str, path: str, port: int, token: str, body: bytes | None = None) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
    ]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def _client_loop(kind: str, cfg: dict, worker_no: int, deadline: float, out: dict) -> None:
    port, token, n_systems = cfg["port"], cfg["token"], cfg["systems"]
    conn = _Conn("127.0.0.1", port)
    rng = random.Random(f"{cfg['run_id']}-{kind}-{cfg['proc']}-{worker_no}")
    first_page = f"{API}?page_size={LIST_PAGE_SIZE}"
    next_path, followed, seq = first_page, 0, 0
    while time.perf_counter() < deadline:
        if kind == "list":
            raw = _request_bytes("GET", next_path, port, token)
        elif kind == "detail":
            raw = _request_bytes("GET", f"{API}{seed_slug(rng.randrange(n_systems))}/", port, token)
        else:
            slug = f"bench-{cfg['run_id']}-c{cfg['proc']}w{worker_no}n{seq}"
            seq += 1
            body = json.dumps(
                {
                    "slug": slug,
                    "name": f"Bench created {slug}",
                    "purpose": "Created by bench/api_throughput.py.",
                    "owning_team": cfg["teams"][seq % len(cfg["teams"])],
                    "operator_role": "deployer",
                    "risk_tier": "low",
                    "autonomy_level": "assistive",
                    "human_oversight": "in_the_loop",
                }
            ).encode()
            raw = _request_bytes("POST", API, port, token, body)
        t0 = time.perf_counter()
        try:
            status, body = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await conn.close()
            out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - t0
        ok = status == (201 if kind == "create" else 200)
        if ok:
            out["latencies"].append(elapsed)
        else:
            key = f"HTTP {status}"
            out["errors"][key] = out["errors"].get(key, 0) + 1
            if len(out["samples"]) < 3:
                out["samples"].append(body[:300].decode("utf-8", "replace"))
        if kind == "list":
            nxt = json.loads(body).get("next") if ok else None
            if nxt and followed < LIST_CURSORS_FOLLOWED:
                parts = urlsplit(nxt)
                next_path, followed = f"{parts.path}?{parts.query}", followed + 1
            else:
                next_path, followed = first_page, 0
    await conn.close()


async def _client_main(kind: str, cfg: dict, connections: int, seconds: float) -> dict:
    out = {"latencies": [], "errors": {}, "samples": []}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client_loop(kind, cfg, w, deadline, out) for w in range(connections)))
    out["elapsed"] = time.perf_counter() - started
    return out


def _client_process(kind: str, cfg: dict, connections: int, seconds: float, start_at: float, queue) -> None:
    # Start all client processes on the same wall-clock instant.
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    out = asyncio.run(_client_main(kind, cfg, connections, seconds))
    out["cpu"] = time.process_time() - cpu0
    queue.put(out)


def run_phase(kind: str, cfg: dict, concurrency: int, procs: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.3
    shares = [concurrency // procs + (1 if p < concurrency % procs else 0) for p in range(procs)]
    workers = [
        ctx.Process(
            target=_client_process,
            args=(kind, {**cfg, "proc": p}, shares[p], seconds, start_at, queue),
            daemon=True,
        )
        for p in range(procs)
        if shares[p]
    ]
    cpu_before = _cpu_snapshot(cfg["gunicorn_pid"], cfg["db_url"])
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    cpu_after = _cpu_snapshot(cfg["gunicorn_pid"], cfg["db_url"])
    latencies = [x for r in results for x in r["latencies"]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    elapsed = max(r["elapsed"] for r in results)
    wall = cpu_after["wall"] - cpu_before["wall"]
    return {
        "kind": kind,
        "ok": len(latencies),
        "rps": len(latencies) / elapsed,
        "elapsed": elapsed,
        "errors": errors,
        "samples": [s for r in results for s in r["samples"]][:3],
        "client_cpu": sum(r["cpu"] for r in results) / elapsed,  # in cores
        "server_cpu": (cpu_after["gunicorn"] - cpu_before["gunicorn"]) / wall,
        "db_cpu": _db_cpu(cpu_before, cpu_after) / wall,
        "machine_busy": _busy(cpu_before, cpu_after),
        "cores": os.cpu_count() or 1,
        **_percentiles(latencies),
    }


# --------------------------------------------------------------------------------------------
# gunicorn
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
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
# Figures
# --------------------------------------------------------------------------------------------


def _percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan")}
    if len(latencies) == 1:
        return {"p50_ms": latencies[0] * 1000, "p95_ms": latencies[0] * 1000}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a local process has used; 0 if it is gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _cpu_snapshot(gunicorn_pid: int, db_url: str) -> dict:
    """CPU used by gunicorn (master + workers), by the PostgreSQL backends serving this database
    (local server only) and the machine's idle/total jiffies."""
    import psycopg

    pids = []
    if _local_database(db_url):
        with psycopg.connect(db_url, autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
    cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return {
        "gunicorn": sum(_proc_cpu(pid) for pid in [gunicorn_pid, *_children(gunicorn_pid)]),
        "db": {pid: _proc_cpu(pid) for (pid,) in pids},
        "wall": time.monotonic(),
        "idle": cpu[3] + cpu[4],
        "total": sum(cpu),
    }


def _local_database(db_url: str) -> bool:
    """PostgreSQL backends are only visible in /proc when the server runs on this machine."""
    return (urlsplit(db_url).hostname or "localhost") in ("localhost", "127.0.0.1", "::1")


def _db_cpu(before: dict, after: dict) -> float:
    return sum(used - before["db"].get(pid, 0.0) for pid, used in after["db"].items())


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _other_cpu(phase: dict) -> float:
    used = phase["client_cpu"] + phase["server_cpu"] + phase["db_cpu"]
    return max(0.0, phase["machine_busy"] * phase["cores"] - used)


def _busy(before: dict, after: dict) -> float:
    total = after["total"] - before["total"]
    return 1 - (after["idle"] - before["idle"]) / total if total else float("nan")


def print_report(args, info: dict, raw: dict, phases: list[dict]) -> None:
    by = {p["kind"]: p for p in phases}
    print()
    print(f"Verity API throughput  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(
        f"  machine: {os.cpu_count()} cores; gunicorn {info['workers']} sync workers; "
        f"{args.concurrency} connections from {args.client_procs} client process(es); "
        f"{args.duration:g} s per phase"
    )
    print(f"  database: {info['db_name']}, {info['systems_total']} AI systems ({args.systems} seeded)")
    print()
    print(f"  {'':<8}{'':>9}{'':>8}{'':>8}{'':>7}{'':>7}{'--- CPU, cores in use ---':>32}{'CPU ms/req':>12}")
    print(
        f"  {'phase':<8}{'req/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'ok':>7}{'errors':>7}"
        f"{'client':>8}{'gunicorn':>9}{'PG':>7}{'other':>8}{'app':>6}{'PG':>6}"
    )
    for p in phases:
        rps = p["rps"] or float("nan")
        print(
            f"  {p['kind']:<8}{p['rps']:>9.1f}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}{p['ok']:>7}"
            f"{sum(p['errors'].values()):>7}{p['client_cpu']:>8.2f}{p['server_cpu']:>9.2f}"
            f"{p['db_cpu']:>7.2f}{_other_cpu(p):>8.2f}"
            f"{p['server_cpu'] / rps * 1000:>6.1f}{p['db_cpu'] / rps * 1000:>6.2f}"
        )
        if p["errors"]:
            print(f"           errors: {p['errors']}")
            for sample in p["samples"]:
                print(f"           e.g. {sample}")
    print(
        f"  {'raw SQL':<8}{raw['rate']:>9.1f}{raw['p50_ms']:>8.2f}{raw['p95_ms']:>8.2f}{raw['rows']:>7}"
        f"{0:>7}{'':>8}{'':>9}{raw['db_cpu']:>7.2f}{'':>8}{'':>6}"
        f"{raw['db_cpu'] / raw['rate'] * 1000:>6.2f}"
    )
    print()
    print(
        "  raw SQL: psycopg, autocommit, one connection, one INSERT per row (change-history trigger\n"
        "  included). CPU columns: average cores used by the load generator, gunicorn (master and\n"
        "  workers), the PostgreSQL backends of this database, and everything else on the machine\n"
        "  (a busy neighbour shows under 'other' and lowers every rate). CPU ms/req: gunicorn and\n"
        "  PostgreSQL CPU per successful request, which depends far less on neighbours than req/s."
    )
    print()
    checks = [
        ("list / detail throughput", by["list"]["rps"] / by["detail"]["rps"], TARGET_LIST_OVER_DETAIL),
        ("create / raw INSERT rate", by["create"]["rps"] / raw["rate"], TARGET_CREATE_OVER_INSERT),
    ]
    for label, value, target in checks:
        verdict = "PASS" if value >= target else "FAIL"
        print(f"  {label:<26} {value:6.3f}   target >= {target:<4}  {verdict}")
    print()


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=10_000, help="AI systems to seed (default 10000)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase (default 15)")
    parser.add_argument(
        "--workers", type=int, default=2 * cores, help=f"gunicorn workers (default 2 x cores = {2 * cores})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="connections in flight (default 2 x workers, so a worker never waits for the client)",
    )
    parser.add_argument("--client-procs", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="seconds of raw INSERTs (default 5)")
    parser.add_argument(
        "--drop-seed",
        action="store_true",
        help="also delete the seeded systems at the end (default: keep them for the next run)",
    )
    # Internal: the Django steps run in subprocesses.
    parser.add_argument("--_seed", nargs=2, metavar=("N", "RUN_ID"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--_cleanup", nargs=3, metavar=("RUN_ID", "TOKEN_PREFIX", "DROP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.concurrency is None:
        args.concurrency = 2 * args.workers
    if args.systems < 1 or args.duration <= 0 or args.concurrency < 1 or not 1 <= args.client_procs <= 16:
        parser.error("--systems, --duration, --concurrency must be positive; --client-procs 1..16")
    args.concurrency = min(args.concurrency, 256)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args._seed:
        seed_step(int(args._seed[0]), args._seed[1])
        return 0
    if args._cleanup:
        cleanup_step(*args._cleanup)
        return 0

    run_id = secrets.token_hex(3)
    secret_key = secrets.token_urlsafe(48)
    db_url, own_db = database_url()
    env = django_env(db_url, secret_key)
    db_name = urlsplit(db_url).path.lstrip("/")
    print(f"bench: database {db_name} ({'own' if own_db else 'DATABASE_URL'}), run {run_id}", flush=True)

    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=600)
    seed = run_django_step("seed", env, str(args.systems), run_id)
    print(
        f"bench: seeded {seed['seeded_now']} new systems in {seed['seed_seconds']} s "
        f"({seed['systems_total']} in the table)",
        flush=True,
    )
    token_prefix = seed["token"].split("_")[1]
    vacuum(db_url)

    gunicorn = None
    workdir = Path(tempfile.mkdtemp(prefix="verity-bench-"))
    try:
        print(f"bench: raw INSERT rate for {args.raw_seconds:g} s", flush=True)
        raw = measure_raw_inserts(db_url, run_id, args.raw_seconds)

        port = free_port()
        gunicorn = start_gunicorn(env, port, args.workers, workdir / "gunicorn.log")
        cfg = {
            "port": port,
            "token": seed["token"],
            "systems": args.systems,
            "teams": seed["teams"],
            "run_id": run_id,
            "gunicorn_pid": gunicorn.pid,
            "db_url": db_url,
        }
        print(f"bench: gunicorn pid {gunicorn.pid} on 127.0.0.1:{port}; warming up", flush=True)
        for kind in ("list", "detail"):
            run_phase(kind, cfg, args.concurrency, args.client_procs, WARMUP_SECONDS / 2)
        phases = []
        for kind in ("list", "detail", "create"):
            print(f"bench: {kind} for {args.duration:g} s", flush=True)
            phases.append(run_phase(kind, cfg, args.concurrency, args.client_procs, args.duration))
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        drop = "yes" if args.drop_seed else "no"
        cleaned = run_django_step("cleanup", env, run_id, token_prefix, drop)
        vacuum(db_url)
        print(f"bench: gunicorn stopped; removed {cleaned.get('removed', 0)} bench systems", flush=True)

    info = {"workers": args.workers, "db_name": db_name, "systems_total": seed["systems_total"]}
    print_report(args, info, raw, phases)
    if any(p["errors"] for p in phases):
        print(f"bench: gunicorn's log is kept in {workdir / 'gunicorn.log'}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
