"""Seeding for bench/incidents.py: the ORM rows (teams, systems, the officer, a token) and the bulk
``INSERT ... SELECT generate_series`` of incidents with the change-history trigger switched off.

A module of the bench, imported by bench/incidents.py (bench/ is the script's directory on the path).
It is named ``incident_seed``, not ``incidents_*``, and must never ``import incidents``: that name is
the Django app's.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from server import ROOT, vacuum

SEED_TEAMS = 5
SEED_SYSTEMS = 50
SEED_EXTERNAL_PREFIX = "bench-seed-"
SEED_STEP_SECONDS = 30  # one seeded incident every 30 s, going back from the first seeding
SEED_CHUNK = 100_000
TABLES = ("incidents_incident", "incidents_incidentsequence", "governance_idempotencyrecord")


# --------------------------------------------------------------------------------------------
# Django steps (run in subprocesses of bench/incidents.py)
# --------------------------------------------------------------------------------------------


def _django_setup() -> None:
    # The bench script is called incidents.py: with its directory (bench/) on the path,
    # ``import incidents`` would find it instead of the app.
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
    is_serious, serious_grounds, widespread_infringement, report_due_at, report_due_rule,
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
    is_serious, CASE WHEN is_serious THEN ARRAY['health']::varchar[] ELSE '{}'::varchar[] END, false,
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
