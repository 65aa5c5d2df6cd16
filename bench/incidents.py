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
4. Starts gunicorn (``2 x cores`` sync workers, ``DJANGO_DEBUG=false``) and drives it from separate
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
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import loadgen
from loadgen import _Conn, percentiles, run_phase
from server import (
    DEFAULT_SERVER,
    ROOT,
    django_env,
    free_port,
    local_database,
    proc_cpu,
    start_gunicorn,
    stop_gunicorn,
    vacuum,
)

DB_NAME = "verity_bench_incidents"
API = "/api/v1/incidents/"
SEED_TEAMS = 5
SEED_SYSTEMS = 50
SEED_EXTERNAL_PREFIX = "bench-seed-"
SEED_STEP_SECONDS = 30  # one seeded incident every 30 s, going back from the first seeding
SEED_CHUNK = 100_000
REF_SAMPLE = 20_000  # seeded references the detail phase picks from
SEARCH_WORD = "injection"  # in one seeded title in twelve
WARMUP_SECONDS = 3.0
TARGET_CREATE_OVER_INSERT = 0.1
TARGET_LIST_OVER_DETAIL_P95 = 3.0
TABLES = ("incidents_incident", "incidents_incidentsequence", "governance_idempotencyrecord")


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


def _django_setup() -> None:
    # This file is called incidents.py: with its directory on the path, ``import incidents`` would
    # find it instead of the app.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    import django

    django.setup()


def setup_step(run_id: str) -> None:
    """(subprocess) Teams, systems, the officer and a fresh write token."""
    _django_setup()
    from django.conf import settings
    from django.contrib.auth.models import Group

    from governance import choices
    from governance.change_context import change_context
    from governance.models import AISystem, Team, User
    from governance.services.tokens import issue_token

    with change_context(source="bench", reason="incidents bench seed"):
        teams = [
            Team.objects.get_or_create(
                slug=f"inc-bench-team-{t}", defaults={"name": f"Incident bench team {t}"}
            )[0]
            for t in range(SEED_TEAMS)
        ]
        systems = [
            AISystem.objects.get_or_create(
                slug=f"inc-bench-system-{s:02d}",
                defaults={
                    "name": f"Incident bench system {s:02d}",
                    "purpose": "Seeded by bench/incidents.py to measure the incident API.",
                    "owning_team": teams[s % SEED_TEAMS],
                    "lifecycle_stage": choices.LifecycleStage.DEPLOYED,
                    "operator_role": choices.OperatorRole.DEPLOYER,
                    "risk_tier": choices.RiskTier.values[s % len(choices.RiskTier.values)],
                    "autonomy_level": choices.AutonomyLevel.ASSISTIVE,
                    "human_oversight": choices.HumanOversight.IN_THE_LOOP,
                    "tags": ["bench"],
                },
            )[0]
            for s in range(SEED_SYSTEMS)
        ]
        user, _ = User.objects.get_or_create(
            username="bench-officer", defaults={"email": "bench-officer@example.invalid"}
        )
        user.groups.add(Group.objects.get(name=choices.Role.OFFICER))
        issued = issue_token(
            actor=None, user=user, name=f"bench incidents {run_id}", scope=choices.TokenScope.WRITE
        )
    result = {
        "token": issued.secret,
        "token_id": issued.token.pk,
        "user_id": user.pk,
        "systems": [[s.pk, s.owning_team_id, s.slug] for s in systems],
        "time_zone": settings.TIME_ZONE,
    }
    print("BENCH_JSON " + json.dumps(result))


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
# Seeding incidents in SQL
# --------------------------------------------------------------------------------------------

# One row per i (0 = newest). h is a multiplicative hash of i, so system, severity and status
# vary independently of each other and of the row's age. Severity: SEV1 5 %, SEV2 20 %, SEV3
# 45 %, SEV4 30 %. Status: closed 52 %, resolved 20 %, investigating 8 %, reported, triaged,
# mitigated and rejected 5 % each (no duplicates: those need an original). SLA deadlines are the
# default SLAs counted from created_at; one response in ten was late.
SEED_SQL = """
WITH base AS (
    SELECT i,
           (i::bigint * 2654435761) %% 4294967296 AS h,
           %(anchor)s::timestamptz - make_interval(secs => i * %(step)s) AS created_at
      FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS i
), shaped AS (
    SELECT i, h, created_at,
           (%(system_ids)s::bigint[])[(1 + h %% %(n_systems)s)::int] AS system_id,
           (%(team_ids)s::bigint[])[(1 + h %% %(n_systems)s)::int] AS team_id,
           CASE WHEN (h / 64) %% 100 < 5 THEN 'SEV1' WHEN (h / 64) %% 100 < 25 THEN 'SEV2'
                WHEN (h / 64) %% 100 < 70 THEN 'SEV3' ELSE 'SEV4' END AS severity,
           CASE WHEN (h / 8192) %% 100 < 52 THEN 'closed' WHEN (h / 8192) %% 100 < 72 THEN 'resolved'
                WHEN (h / 8192) %% 100 < 80 THEN 'investigating' WHEN (h / 8192) %% 100 < 85 THEN 'reported'
                WHEN (h / 8192) %% 100 < 90 THEN 'triaged' WHEN (h / 8192) %% 100 < 95 THEN 'mitigated'
                ELSE 'rejected' END AS status,
           make_interval(mins => (h %% 4320)::int) AS before_created,
           make_interval(mins => ((h / 4320) %% 120)::int) AS detection_delay
      FROM base
), timed AS (
    SELECT s.*,
           created_at - before_created - detection_delay AS occurred_at,
           created_at - before_created AS detected_at,
           CASE severity WHEN 'SEV1' THEN interval '1 hour' WHEN 'SEV2' THEN interval '4 hours'
                WHEN 'SEV3' THEN interval '24 hours' ELSE interval '3 days' END AS respond_within,
           CASE severity WHEN 'SEV1' THEN interval '24 hours' WHEN 'SEV2' THEN interval '3 days'
                WHEN 'SEV3' THEN interval '14 days' ELSE interval '30 days' END AS resolve_within
      FROM shaped AS s
), dated AS (
    SELECT t.*,
           CASE WHEN status = 'reported' THEN NULL
                WHEN h %% 10 = 0 THEN created_at + respond_within * 1.5
                ELSE created_at + respond_within * ((h %% 90) / 100.0) END AS responded_at,
           CASE WHEN status IN ('resolved', 'closed', 'rejected')
                THEN created_at + resolve_within * ((h %% 97) / 100.0) END AS resolved_at,
           severity = 'SEV1' AND h %% 10 = 0 AS is_serious
      FROM timed AS t
)
INSERT INTO incidents_incident (
    reference, title, description, occurred_at, detected_at, became_aware_at, source, external_id,
    severity, status, harm_types, harm_level, mit_domain, mit_subdomain, affected_parties, sector,
    is_serious, serious_ground, widespread_infringement, report_due_at, report_due_rule,
    initial_report_sent_at, complete_report_sent_at, authority_reference,
    respond_by, resolve_by, responded_at, resolved_at, created_at, updated_at,
    duplicate_of_id, model_id, reporter_id, system_id, team_id
)
SELECT
    'INC-' || extract(year FROM created_at AT TIME ZONE %(tz)s)::int || '-'
        || (floor(extract(epoch FROM (created_at AT TIME ZONE %(tz)s)
                  - date_trunc('year', created_at AT TIME ZONE %(tz)s)) / %(step)s) + 1)::bigint,
    (ARRAY['Hallucinated citation in answer', 'Biased scoring of applicant',
           'Prompt injection via uploaded document', 'Personal data disclosed in response',
           'Toxic content generated', 'Model drift beyond threshold', 'Unsafe medical advice given',
           'Wrong refusal of valid request', 'Outage of inference endpoint',
           'Jailbreak bypassed guardrail', 'Incorrect translation of contract clause',
           'Misclassified fraud alert'])[(1 + (h / 512) %% 12)::int] || ' (' || i || ')',
    'Seeded by bench/incidents.py. Reported by the monitoring of the system; see the timeline.',
    occurred_at, detected_at, detected_at, 'import', %(prefix)s || i,
    severity, status,
    CASE WHEN h %% 3 = 0 THEN ARRAY['reputational']::varchar[] ELSE '{}'::varchar[] END,
    CASE WHEN h %% 4 = 0 THEN 'near_miss' WHEN h %% 4 = 1 THEN 'issue' ELSE '' END,
    '', '', '{}', '',
    is_serious, CASE WHEN is_serious THEN 'health' ELSE '' END, false,
    CASE WHEN is_serious THEN detected_at + interval '10 days' END,
    CASE WHEN is_serious THEN 'Art. 73(2)' ELSE '' END,
    NULL, NULL, '',
    created_at + respond_within, created_at + resolve_within, responded_at, resolved_at,
    created_at, coalesce(resolved_at, responded_at, created_at),
    NULL, NULL, CASE WHEN h %% 2 = 0 THEN %(reporter_id)s::bigint END, system_id, team_id
  FROM dated
"""

SEQUENCE_SQL = """
INSERT INTO incidents_incidentsequence (year, last_number)
SELECT split_part(reference, '-', 2)::int, max(split_part(reference, '-', 3)::bigint)
  FROM incidents_incident
 WHERE reference ~ '^INC-[0-9]{4}-[0-9]+$'
 GROUP BY 1
ON CONFLICT (year) DO UPDATE
   SET last_number = greatest(incidents_incidentsequence.last_number, excluded.last_number)
"""


def seed_incidents(db_url: str, n: int, setup: dict) -> dict:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        have, anchor = conn.execute(
            "SELECT count(*), max(created_at) FROM incidents_incident"
            " WHERE source = 'import' AND external_id LIKE %s",
            [SEED_EXTERNAL_PREFIX + "%"],
        ).fetchone()
        if anchor is None:
            anchor = datetime.now(UTC).replace(second=0, microsecond=0)
        params = {
            "anchor": anchor,
            "step": SEED_STEP_SECONDS,
            "system_ids": [s[0] for s in setup["systems"]],
            "team_ids": [s[1] for s in setup["systems"]],
            "n_systems": len(setup["systems"]),
            "tz": setup["time_zone"],
            "prefix": SEED_EXTERNAL_PREFIX,
            "reporter_id": setup["user_id"],
        }
        for start in range(have, n, SEED_CHUNK):
            stop = min(n, start + SEED_CHUNK)
            # Seeding is not a change anybody made: with the trigger on, every seeded row would
            # also write a change event (doubling the cost and the data). ALTER TABLE is
            # transactional and takes an exclusive lock on the table: the trigger is off only for
            # this transaction's own INSERT, nobody else writes meanwhile, and if the INSERT fails
            # the rollback turns the trigger back on as well.
            with conn.transaction():
                # The foreign keys are deferred: check them at the end of the INSERT, not at commit,
                # since ALTER TABLE refuses to run while checks of the table are still pending.
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                conn.execute(
                    "ALTER TABLE incidents_incident DISABLE TRIGGER incidents_incident_record_change"
                )
                conn.execute(SEED_SQL, {**params, "start": start, "stop": stop})
                conn.execute("ALTER TABLE incidents_incident ENABLE TRIGGER incidents_incident_record_change")
            print(f"bench: seeded incidents {start}..{stop - 1}", flush=True)
        conn.execute(SEQUENCE_SQL)
        seeded_now = max(0, n - have)
        total = conn.execute("SELECT count(*) FROM incidents_incident").fetchone()[0]
        seeded = conn.execute(
            "SELECT count(*) FROM incidents_incident WHERE source = 'import' AND external_id LIKE %s",
            [SEED_EXTERNAL_PREFIX + "%"],
        ).fetchone()[0]
        enabled = conn.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'incidents_incident_record_change'"
        ).fetchone()[0]
    seed_seconds = time.perf_counter() - started
    if enabled != "O":
        raise SystemExit("bench: the change-history trigger on incidents_incident is not enabled")
    vacuum_started = time.perf_counter()
    vacuum(db_url, TABLES)
    return {
        "seeded_now": seeded_now,
        "seed_seconds": seed_seconds,
        "vacuum_seconds": time.perf_counter() - vacuum_started,
        "seeded": seeded,
        "total": total,
    }


def sample_references(db_url: str, k: int) -> list[str]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT reference FROM incidents_incident TABLESAMPLE SYSTEM (5)"
            " WHERE source = 'import' AND external_id LIKE %s LIMIT %s",
            [SEED_EXTERNAL_PREFIX + "%", k],
        ).fetchall()
        if len(rows) < min(k, 1000):  # a small seed: sample it all
            rows = conn.execute(
                "SELECT reference FROM incidents_incident WHERE source = 'import' AND external_id LIKE %s"
                " ORDER BY random() LIMIT %s",
                [SEED_EXTERNAL_PREFIX + "%", k],
            ).fetchall()
    return [r[0] for r in rows]


# --------------------------------------------------------------------------------------------
# Raw INSERT rate
# --------------------------------------------------------------------------------------------

RAW_INSERT = """
INSERT INTO incidents_incident (
    reference, title, description, occurred_at, detected_at, became_aware_at, source, external_id,
    severity, status, harm_types, harm_level, mit_domain, mit_subdomain, affected_parties, sector,
    is_serious, serious_ground, widespread_infringement, report_due_rule, authority_reference,
    respond_by, resolve_by, created_at, updated_at, reporter_id, system_id, team_id
) VALUES (
    %s, %s, 'Raw insert rate.', %s, %s, %s, 'api', %s, 'SEV3', 'reported', '{}', '', '', '', '{}', '',
    false, '', false, '', '', %s, %s, %s, %s, %s, %s, %s
)
"""


def measure_raw_inserts(db_url: str, run_id: str, setup: dict, seconds: float) -> dict:
    import psycopg

    prefix = f"bench-{run_id}-raw-"
    system_id, team_id, _ = setup["systems"][0]
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Once per session, like the app's context stamp: the trigger files these rows under "bench".
        conn.execute(
            "SELECT set_config('verity.change_context', %s, false)",
            [json.dumps({"source": "bench", "reason": "incidents raw insert"})],
        )
        backend_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        if not local_database(db_url):
            backend_pid = -1  # a remote server's processes are not ours to read: report 0
        backend_cpu = proc_cpu(backend_pid)
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
            cur.execute(
                RAW_INSERT,
                [
                    f"RAW-{run_id}-{n}",
                    f"Raw insert {n}",
                    now - timedelta(hours=1),
                    now,
                    now,
                    f"{prefix}{n}",
                    now + timedelta(hours=24),
                    now + timedelta(days=14),
                    now,
                    now,
                    setup["user_id"],
                    system_id,
                    team_id,
                ],
            )
            latencies.append(time.perf_counter() - t0)
            n += 1
        elapsed = time.perf_counter() - started
        backend_cpu = proc_cpu(backend_pid) - backend_cpu
        conn.execute("DELETE FROM incidents_incident WHERE reference LIKE %s", [f"RAW-{run_id}-%"])
    vacuum(db_url, ("incidents_incident",))
    return {
        "rows": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "db_cpu": backend_cpu / elapsed,
        **percentiles(latencies),
    }


# --------------------------------------------------------------------------------------------
# Load: the incident requests, driven by loadgen.run_phase
# --------------------------------------------------------------------------------------------

SEVERITY_WEIGHTS = (("SEV1", 1), ("SEV2", 4), ("SEV3", 9), ("SEV4", 6))


def _request(
    method: str, path: str, port: int, token: str, body: bytes | None = None, key: str = ""
) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
    ]
    if key:
        head.append(f"Idempotency-Key: {key}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def incident_client_loop(kind: str, cfg: dict, worker_no: int, deadline: float, out: dict) -> None:
    """One connection's requests for a phase; same bookkeeping as ``loadgen``'s own loop."""
    port, token, systems, refs = cfg["port"], cfg["token"], cfg["system_slugs"], cfg["refs"]
    conn = _Conn("127.0.0.1", port)
    rng = random.Random(f"{cfg['run_id']}-{kind}-{cfg['proc']}-{worker_no}")
    severities = [s for s, w in SEVERITY_WEIGHTS for _ in range(w)]
    seq = 0
    while time.perf_counter() < deadline:
        if kind == "detail":
            raw = _request("GET", f"{API}{rng.choice(refs)}/", port, token)
        elif kind == "list":
            path = f"{API}?system={rng.choice(systems)}&severity=SEV2&status=investigating"
            raw = _request("GET", path, port, token)
        elif kind == "search":
            raw = _request("GET", f"{API}?system={rng.choice(systems)}&q={quote(SEARCH_WORD)}", port, token)
        else:
            unique = f"bench-{cfg['run_id']}-c{cfg['proc']}w{worker_no}n{seq}"
            seq += 1
            occurred = datetime.now(UTC) - timedelta(minutes=rng.randrange(5, 600))
            body = json.dumps(
                {
                    "system": rng.choice(systems),
                    "title": f"Unsafe answer reported by monitoring {unique}",
                    "description": "Created by bench/incidents.py to measure intake throughput.",
                    "severity": rng.choice(severities),
                    "occurred_at": occurred.isoformat(),
                    "external_id": unique,
                    "harm_types": ["reputational"],
                }
            ).encode()
            raw = _request("POST", API, port, token, body, key=f"{unique}-key")
        t0 = time.perf_counter()
        try:
            status, body = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await conn.close()
            out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - t0
        if status == (201 if kind == "create" else 200):
            out["latencies"].append(elapsed)
        else:
            key = f"HTTP {status}"
            out["errors"][key] = out["errors"].get(key, 0) + 1
            if len(out["samples"]) < 3:
                out["samples"].append(body[:300].decode("utf-8", "replace"))
    await conn.close()


# run_phase forks client processes that run ``loadgen._client_loop``; point it at the incident
# requests (the bookkeeping, timing and CPU accounting stay loadgen's).
loadgen._client_loop = incident_client_loop


def cleanup_rows(db_url: str, run_id: str, token_id: int) -> int:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "SELECT set_config('verity.change_context', %s, false)",
            [json.dumps({"source": "bench", "reason": "incidents bench cleanup"})],
        )
        removed = conn.execute(
            "DELETE FROM incidents_incident WHERE source = 'api' AND external_id LIKE %s",
            [f"bench-{run_id}-%"],
        ).rowcount
        conn.execute("DELETE FROM governance_idempotencyrecord WHERE client = %s", [f"token:{token_id}"])
    return removed


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
        f"{'app CPU':>9}{'PG CPU':>8}{'app ms/req':>12}{'PG ms/req':>11}"
    )
    counts = profile.get("counts", {})
    for p in phases:
        rps = p["rps"] or float("nan")
        queries = counts.get(p["kind"], {}).get("queries", "")
        print(
            f"  {p['kind']:<8}{p['rps']:>9.1f}{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['ok']:>8}"
            f"{sum(p['errors'].values()):>7}{queries!s:>9}{p['server_cpu']:>9.2f}{p['db_cpu']:>8.2f}"
            f"{p['server_cpu'] / rps * 1000:>12.1f}{p['db_cpu'] / rps * 1000:>11.2f}"
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
        "  that CPU per successful request."
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
