"""Incident intake and incident reads at register scale, against gunicorn and PostgreSQL on this machine.

    .venv/bin/python bench/incidents.py [--incidents 1000000] [--duration 15] [--concurrency N]

Targets (from the issue): intake throughput with token auth, idempotency and change history at
least 0.1 x the raw INSERT rate measured in the same run; at 1,000,000 incidents, a filtered list
page's p95 at most 3 x a detail request's p95.

What it does, in one run:

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench_incidents`` on 127.0.0.1:5432
   (created if missing), and runs ``manage.py migrate``.
2. Seeds, through the ORM, 5 teams and 50 AI systems (``inc-bench-team-N``,
   ``inc-bench-system-NN``), the ``bench-officer`` account and a write-scope API token; then, with
   ``INSERT ... SELECT generate_series``, ``--incidents`` incidents spread over those systems, with
   varied severities, statuses, times and SLA deadlines, one every 30 seconds back from the first
   seeding (references ``INC-<year>-<n>``, ``n`` counting the 30-second slots of the year). Seeded
   incidents carry the external id ``bench-seed-N`` (source ``import``) and are reused by later
   runs; a larger ``--incidents`` adds the missing ones. ``incidents_incidentsequence`` is then set
   to the highest number of each year, so references the API hands out never clash with the seed.
   The change-history trigger is disabled for the seeding statements only, inside their own
   transaction (see ``seed_incidents``), and the table is vacuumed and analysed afterwards.
3. Measures the raw psycopg single-row INSERT rate into ``incidents_incident`` (autocommit, one
   connection, change-history trigger enabled), then deletes those rows.
4. Starts gunicorn (``2 x cores`` sync workers, production settings) and drives it from separate
   client processes (asyncio, one request in flight per connection) through four phases of
   ``--duration`` seconds: detail (``GET /api/v1/incidents/<random seeded reference>/``), list
   (``?system=<random seeded system>&severity=SEV2&status=investigating``, first page), search
   (``?system=<random seeded system>&q=injection``, first page) and create
   (``POST /api/v1/incidents/`` with a unique ``Idempotency-Key`` header and a unique
   ``external_id``, so the idempotency record, the reference sequence and the change history are
   all written).
5. Counts the SQL statements of one request of each kind (Django test client, same token) and,
   when the list target fails, prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the list page's query.
6. Prints requests/s, p50/p95 latency and errors per phase and both targets with PASS/FAIL; stops
   gunicorn; deletes the incidents the run created (API and raw), its idempotency records and
   revokes its token. The seed stays; the change history of the deleted rows stays (append-only).

It exits 0 whether or not the targets pass; it exits non-zero only if the bench itself breaks.
Loopback only; every phase is bounded in time and in connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from incident_load import API, SEARCH_WORD, cleanup_rows, measure_raw_inserts
from incident_seed import (
    SEED_SYSTEMS,
    SEED_TEAMS,
    TABLES,
    _django_setup,
    sample_references,
    seed_incidents,
    setup_step,
)
from loadgen import run_phase
from server import (
    DEFAULT_SERVER,
    ROOT,
    django_env,
    free_port,
    start_gunicorn,
    stop_gunicorn,
    vacuum,
)

DB_NAME = "verity_bench_incidents"
REF_SAMPLE = 20_000  # seeded references the detail phase picks from
WARMUP_SECONDS = 3.0
TARGET_CREATE_OVER_INSERT = 0.1
TARGET_LIST_OVER_DETAIL_P95 = 3.0


def database_url() -> tuple[str, bool]:
    """``DATABASE_URL``, or this bench's own database (``server.database_url`` names another)."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url, False
    import psycopg

    with psycopg.connect(f"{DEFAULT_SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{DEFAULT_SERVER}/{DB_NAME}", True


# --------------------------------------------------------------------------------------------
# Django steps (subprocesses, so the client processes forked later carry no Django state)
# --------------------------------------------------------------------------------------------


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


def profile_step(token: str, reference: str, system: str, explain: str) -> None:
    """(subprocess) SQL statements per request, and the list query's plan when asked."""
    _django_setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    requests = {
        "detail": f"{API}{reference}/",
        "list": f"{API}?system={system}&severity=SEV2&status=investigating",
        "search": f"{API}?system={system}&q={SEARCH_WORD}",
    }
    counts, captured = {}, {}
    for kind, path in requests.items():
        client.get(path)  # warm: the first request of a process loads more than the rest
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        counts[kind] = {"status": response.status_code, "queries": len(ctx.captured_queries)}
        captured[kind] = ctx.captured_queries
    # One intake request, rolled back: the view's own transaction becomes a savepoint.
    body = {
        "system": system,
        "title": "Query count of one intake request",
        "severity": "SEV3",
        "occurred_at": "2026-01-01T00:00:00Z",
        "external_id": f"bench-profile-{secrets.token_hex(4)}",
    }
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        response = client.post(
            API, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=body["external_id"]
        )
        transaction.set_rollback(True)
    counts["create"] = {"status": response.status_code, "queries": len(ctx.captured_queries)}
    plans = {}
    if explain == "yes":
        # The page's query exactly as the view sent it (parameters inlined by the driver).
        for kind in ("list", "search"):
            page_sql = [q["sql"] for q in captured[kind] if 'FROM "incidents_incident"' in q["sql"]]
            if page_sql:
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {max(page_sql, key=len)}")
                    plans[kind] = [row[0] for row in cursor.fetchall()]
    print("BENCH_JSON " + json.dumps({"counts": counts, "plans": plans}))


def cleanup_step(token_id: str) -> None:
    """(subprocess) Revoke the run's token."""
    _django_setup()
    from governance.change_context import change_context
    from governance.models import ApiToken
    from governance.services.tokens import revoke_token

    token = ApiToken.objects.select_related("user").filter(pk=int(token_id)).first()
    if token is not None:
        with change_context(source="bench", reason="incidents bench cleanup"):
            revoke_token(actor=token.user, token=token)
    print("BENCH_JSON {}")


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def print_report(args, info: dict, raw: dict, phases: list[dict], profile: dict) -> None:
    by = {p["kind"]: p for p in phases}
    print()
    print(f"Verity incident API  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(
        f"  machine: {os.cpu_count()} cores; gunicorn {args.workers} sync workers; "
        f"{args.concurrency} connections from {args.client_procs} client process(es); "
        f"{args.duration:g} s per phase"
    )
    print(
        f"  database: {info['db_name']}, {info['total']:,} incidents ({info['seeded']:,} seeded, "
        f"{SEED_SYSTEMS} systems in {SEED_TEAMS} teams); seeding {info['seeded_now']:,} took "
        f"{info['seed_seconds']:.1f} s + {info['vacuum_seconds']:.1f} s VACUUM ANALYZE"
    )
    print()
    print(
        f"  {'phase':<8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'ok':>8}{'errors':>7}{'queries':>9}"
        f"{'app CPU':>9}{'PG CPU':>8}{'app ms/req':>12}{'PG ms/req':>11}{'client CPU':>12}{'busy':>7}"
    )
    counts = profile.get("counts", {})
    for p in phases:
        rps = p["rps"] or float("nan")
        queries = counts.get(p["kind"], {}).get("queries", "")
        print(
            f"  {p['kind']:<8}{p['rps']:>9.1f}{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['ok']:>8}"
            f"{sum(p['errors'].values()):>7}{queries!s:>9}{p['server_cpu']:>9.2f}{p['db_cpu']:>8.2f}"
            f"{p['server_cpu'] / rps * 1000:>12.1f}{p['db_cpu'] / rps * 1000:>11.2f}"
            f"{p['client_cpu']:>12.2f}{p['machine_busy'] * 100:>6.0f}%"
        )
        if p["errors"]:
            print(f"           errors: {p['errors']}")
            for sample in p["samples"]:
                print(f"           e.g. {sample}")
    print(
        f"  {'raw SQL':<8}{raw['rate']:>9.1f}{raw['p50_ms']:>9.2f}{raw['p95_ms']:>9.2f}{raw['rows']:>8}"
        f"{0:>7}{1:>9}{'':>9}{raw['db_cpu']:>8.2f}"
        f"{'':>12}{raw['db_cpu'] / raw['rate'] * 1000:>11.2f}"
    )
    print()
    print(
        "  detail: GET /api/v1/incidents/<random seeded reference>/\n"
        "  list:   GET /api/v1/incidents/?system=<random seeded system>&severity=SEV2&status=investigating\n"
        f"  search: GET /api/v1/incidents/?system=<random seeded system>&q={SEARCH_WORD}\n"
        "  create: POST /api/v1/incidents/, officer's write token, unique Idempotency-Key and external_id\n"
        "  raw SQL: psycopg, autocommit, one connection, one INSERT per row, change-history trigger on.\n"
        "  queries: SQL statements of one request (create: one intake, rolled back). CPU: cores used\n"
        "  by gunicorn (master and workers) and by the PostgreSQL backends of this database; ms/req:\n"
        "  that CPU per successful request; client CPU: cores used by the load generator; busy: the\n"
        "  whole machine's CPU use during the phase."
    )
    print()
    create_ratio = by["create"]["rps"] / raw["rate"]
    list_ratio = by["list"]["p95_ms"] / by["detail"]["p95_ms"]
    search_ratio = by["search"]["p95_ms"] / by["detail"]["p95_ms"]
    checks = [
        ("create / raw INSERT rate", create_ratio, f">= {TARGET_CREATE_OVER_INSERT}", create_ratio >= 0.1),
        ("list p95 / detail p95", list_ratio, f"<= {TARGET_LIST_OVER_DETAIL_P95:g}", list_ratio <= 3),
    ]
    for label, value, target, ok in checks:
        print(f"  {label:<26} {value:7.3f}   target {target:<6}  {'PASS' if ok else 'FAIL'}")
    print(f"  {'search p95 / detail p95':<26} {search_ratio:7.3f}   (for information)")
    if info["total"] < 1_000_000:
        print(f"  note: the list target is stated at 1,000,000 incidents; this run has {info['total']:,}.")
    for kind, plan in profile.get("plans", {}).items():
        print()
        print(f"  EXPLAIN (ANALYZE, BUFFERS) of the {kind} page's query:")
        for line in plan:
            print(f"    {line}")
    print()


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--incidents", type=int, default=1_000_000, help="incidents to seed (default 1000000)"
    )
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
        "--explain", action="store_true", help="print the list queries' plans even when the target passes"
    )
    # Internal: the Django steps run in subprocesses.
    parser.add_argument("--_setup", nargs=1, metavar="RUN_ID", help=argparse.SUPPRESS)
    parser.add_argument(
        "--_profile", nargs=4, metavar=("TOKEN", "REF", "SYSTEM", "EXPLAIN"), help=argparse.SUPPRESS
    )
    parser.add_argument("--_cleanup", nargs=1, metavar="TOKEN_ID", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.concurrency is None:
        args.concurrency = 2 * args.workers
    if args.incidents < 1 or args.duration <= 0 or args.concurrency < 1 or not 1 <= args.client_procs <= 16:
        parser.error("--incidents, --duration, --concurrency must be positive; --client-procs 1..16")
    args.concurrency = min(args.concurrency, 256)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args._setup:
        setup_step(*args._setup)
        return 0
    if args._profile:
        profile_step(*args._profile)
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
    setup = run_django_step("setup", env, run_id)
    try:
        return run(args, run_id, env, db_url, db_name, setup)
    finally:
        run_django_step("cleanup", env, str(setup["token_id"]))  # revoke the run's token


def run(args, run_id: str, env: dict[str, str], db_url: str, db_name: str, setup: dict) -> int:
    seed = seed_incidents(db_url, args.incidents, setup)
    print(
        f"bench: seeded {seed['seeded_now']:,} new incidents in {seed['seed_seconds']:.1f} s "
        f"(+{seed['vacuum_seconds']:.1f} s VACUUM ANALYZE); {seed['total']:,} in the table",
        flush=True,
    )
    refs = sample_references(db_url, REF_SAMPLE)
    slugs = [s[2] for s in setup["systems"]]

    gunicorn = None
    workdir = Path(tempfile.mkdtemp(prefix="verity-bench-incidents-"))
    phases: list[dict] = []
    try:
        print(f"bench: raw INSERT rate for {args.raw_seconds:g} s", flush=True)
        raw = measure_raw_inserts(db_url, run_id, setup, args.raw_seconds)

        port = free_port()
        gunicorn = start_gunicorn(env, port, args.workers, workdir / "gunicorn.log")
        cfg = {
            "port": port,
            "token": setup["token"],
            "system_slugs": slugs,
            "refs": refs,
            "run_id": run_id,
            "gunicorn_pid": gunicorn.pid,
            "db_url": db_url,
        }
        print(f"bench: gunicorn pid {gunicorn.pid} on 127.0.0.1:{port}; warming up", flush=True)
        for kind in ("detail", "list", "search"):
            run_phase(kind, cfg, args.concurrency, args.client_procs, WARMUP_SECONDS / 3)
        for kind in ("detail", "list", "search", "create"):
            print(f"bench: {kind} for {args.duration:g} s", flush=True)
            phases.append(run_phase(kind, cfg, args.concurrency, args.client_procs, args.duration))
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        removed = cleanup_rows(db_url, run_id, setup["token_id"])
        vacuum(db_url, TABLES)
        print(f"bench: gunicorn stopped; removed {removed} incidents created by the run", flush=True)

    by = {p["kind"]: p for p in phases}
    list_fails = by["list"]["p95_ms"] > TARGET_LIST_OVER_DETAIL_P95 * by["detail"]["p95_ms"]
    explain = "yes" if (list_fails or args.explain) else "no"
    profile = run_django_step("profile", env, setup["token"], random.choice(refs), slugs[0], explain)

    info = {"db_name": db_name, **seed}
    print_report(args, info, raw, phases, profile)
    if any(p["errors"] for p in phases):
        print(f"bench: gunicorn's log is kept in {workdir / 'gunicorn.log'}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
