"""Recomputing transparency scores at register scale, against PostgreSQL on this machine.

    .venv/bin/python bench/transparency.py [--systems 1000] [--indicators 100] [--runs 5]

Target (from the issue): recomputing the stored scores of 1,000 systems' assessments, 100
indicators each, in the database, in under one second.

What it does, in one run:

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench_transparency`` on
   127.0.0.1:5432; creates it if missing and runs ``manage.py migrate``.
2. Seeds it once (later runs reuse it): one deployment indicator set ``tr-bench-deployment`` with
   ``--indicators`` indicators over 5 domains and 20 subdomains, weights 1 to 3; then with
   ``INSERT ... SELECT generate_series`` the deployed systems ``tr-bench-NNNNNN`` of one team, one
   final assessment of each on that set, and one answer per indicator and assessment (4 in 7
   satisfied, 2 in 7 not satisfied, 1 in 7 not applicable, varying by system). The change-history
   triggers are disabled for the seeding statements only, inside their own transaction; the
   tables are vacuumed and analysed.
3. ``--runs`` times: clears the stored scores of the seeded assessments (trigger disabled: a reset,
   not a change anybody made), then times the real ``recompute_scores()`` over every assessment,
   counting its SQL statements with Django's ``CaptureQueriesContext``. Every score changes, so each
   timed run also writes one change-history row per assessment, as a real recompute would. Then it
   times a second recompute with nothing to change, and one given the 1,000 ids explicitly.
   Finally it times ``ranking()`` over the whole register for an officer (for information).

It prints the best and median of the runs and PASS/FAIL against the target. It exits 0 whether or
not the target passes; it exits non-zero only if the bench itself breaks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server import DEFAULT_SERVER, ROOT, vacuum

DB_NAME = "verity_bench_transparency"
PREFIX = "tr-bench-"
SET_KEY = "tr-bench-deployment"
TARGET_SECONDS = 1.0
TABLES = (
    "governance_aisystem",
    "governance_indicator",
    "governance_transparencyassessment",
    "governance_assessmentanswer",
)
SEEDED_TABLES = TABLES

INDICATORS_SQL = """
INSERT INTO governance_indicator (
    indicator_set_id, key, domain, subdomain, name, definition, notes, rationale, weight, "order"
)
SELECT %(set_id)s, 'indicator-' || lpad(i::text, 3, '0'), 'Domain ' || (1 + i %% 5),
       'Subdomain ' || (1 + i %% 20), 'Bench indicator ' || i, 'Is it disclosed?', '', '',
       1 + i %% 3, i
  FROM generate_series(1, %(indicators)s::int) AS i
"""

SYSTEMS_SQL = """
INSERT INTO governance_aisystem (
    slug, name, purpose, description, owning_team_id, business_owner_id, technical_owner_id,
    lifecycle_stage, deployed_on, retired_on, eu_ai_act_class, annex_iii_area, operator_role, risk_tier,
    autonomy_level, human_oversight, personal_data_categories, affected_groups, jurisdictions,
    model_card_url, system_prompt_ref, system_prompt_version, system_prompt_sha256, guardrail_config_ref,
    tags, created_at, updated_at
)
SELECT %(prefix)s || lpad(i::text, 6, '0'), 'Transparency bench system ' || i,
       'Seeded by bench/transparency.py.', '', %(team)s, NULL, NULL,
       'deployed', current_date - 400, NULL, 'minimal', '', 'deployer', 'low', 'assistive', 'in_the_loop',
       '{}', '{}', '{EU}', '', '', '', '', '', '{bench}', now(), now()
  FROM generate_series(1, %(systems)s::int) AS i
"""

ASSESSMENTS_SQL = """
INSERT INTO governance_transparencyassessment (
    indicator_set_id, model_id, system_id, assessor_id, assessor_label, assessed_on, status, source,
    import_key, notes, points, possible_points, score, created_at, updated_at
)
SELECT %(set_id)s, NULL, s.id, NULL, 'bench', current_date - 30, 'final', 'manual', '', '',
       NULL, NULL, NULL, now(), now()
  FROM governance_aisystem AS s
 WHERE s.slug LIKE %(pattern)s
"""

ANSWERS_SQL = """
INSERT INTO governance_assessmentanswer (
    assessment_id, indicator_id, answer, disclosure, evidence_url, justification
)
SELECT a.id, i.id,
       (ARRAY['satisfied', 'satisfied', 'satisfied', 'satisfied', 'not_satisfied', 'not_satisfied',
              'not_applicable'])[1 + (a.system_id + i."order") %% 7],
       '', '', CASE WHEN (a.system_id + i."order") %% 7 = 6 THEN 'Seeded.' ELSE '' END
  FROM governance_transparencyassessment AS a
  JOIN governance_indicator AS i ON i.indicator_set_id = a.indicator_set_id
 WHERE a.indicator_set_id = %(set_id)s
"""

RESET_SQL = """
UPDATE governance_transparencyassessment SET points = NULL, possible_points = NULL, score = NULL
 WHERE indicator_set_id = %s
"""


def _django_setup() -> None:
    # bench/ is the script's directory: keep it off the path so app names resolve to the apps.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["VERITY_ENV"] = "development"  # in-process services, no server: as measured so far
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    import django

    django.setup()


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _migrate(url: str) -> None:
    env = {**os.environ, "VERITY_ENV": "development", "DATABASE_URL": url, "CELERY_BROKER_URL": "memory://"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("bench: migrate failed")


def _without_history(conn, tables: tuple[str, ...], statements: list[tuple[str, dict | list]]) -> None:
    """Run ``statements`` in one transaction with the tables' change-history triggers off: seeding
    and resets are not changes anybody made (ALTER TABLE is transactional and locks the tables)."""
    with conn.transaction():
        # Deferred foreign-key checks would leave trigger events pending, which ALTER TABLE refuses.
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_record_change")
        for sql, params in statements:
            conn.execute(sql, params)
        for table in tables:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_record_change")


def _seed(url: str, systems: int, indicators: int) -> dict:
    import psycopg

    from governance.choices import TransparencySubject
    from governance.models import AISystem, AssessmentAnswer, IndicatorSet, Team, TransparencyAssessment

    team, _ = Team.objects.get_or_create(slug=f"{PREFIX}team", defaults={"name": "Transparency bench team"})
    indicator_set, _ = IndicatorSet.objects.get_or_create(
        key=SET_KEY,
        defaults={
            "name": "Transparency bench deployment set",
            "version": "bench",
            "publisher": "Verity bench",
            "licence": "n/a",
            "subject_kind": TransparencySubject.SYSTEM,
            "scoring_rule": "Weighted satisfied over applicable.",
        },
    )
    have = AISystem.objects.filter(slug__startswith=PREFIX).count()
    started = time.perf_counter()
    if have == 0:
        params = {
            "set_id": indicator_set.pk,
            "team": team.pk,
            "prefix": PREFIX,
            "pattern": PREFIX + "%",
            "systems": systems,
            "indicators": indicators,
        }
        with psycopg.connect(url, autocommit=True) as conn:
            _without_history(
                conn,
                SEEDED_TABLES,
                [(sql, params) for sql in (INDICATORS_SQL, SYSTEMS_SQL, ASSESSMENTS_SQL, ANSWERS_SQL)],
            )
        vacuum(url, TABLES)
    elif have != systems:
        raise SystemExit(
            f"bench: {url} holds {have} seeded systems, not {systems}; drop it or pass --systems"
        )
    assessments = TransparencyAssessment.objects.filter(indicator_set=indicator_set)
    return {
        "set_id": indicator_set.pk,
        "seeded_now": have == 0,
        "seed_seconds": time.perf_counter() - started,
        "assessments": assessments.count(),
        "answers": AssessmentAnswer.objects.filter(assessment__indicator_set=indicator_set).count(),
        "ids": list(assessments.values_list("pk", flat=True)),
    }


def _timed(**kwargs) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.services.transparency import recompute_scores

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        changed = recompute_scores(**kwargs)
        seconds = time.perf_counter() - started
    # BEGIN/COMMIT are transaction control; the change-history stamp travels in the UPDATE's round trip.
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return seconds, changed, sum(not q["sql"].startswith(control) for q in ctx.captured_queries)


def _ranking(runs: int) -> list[tuple[float, int, int]]:
    """``ranking()`` evaluated over the whole register (every system has a deployment part)."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.choices import Role
    from governance.models import User
    from governance.services.transparency import ranking

    officer, _ = User.objects.get_or_create(username=f"{PREFIX}officer")
    officer.groups.add(Group.objects.get(name=Role.OFFICER))
    results = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            rows = len(list(ranking(user=officer)))
            seconds = time.perf_counter() - started
        results.append((seconds, rows, len(ctx.captured_queries)))
    return results


def _summary(label: str, runs: list[tuple[float, int, int]]) -> float:
    seconds = [s for s, _, _ in runs]
    changed = {c for _, c, _ in runs}
    statements = {n for _, _, n in runs}
    best, median = min(seconds), statistics.median(seconds)
    print(
        f"  {label}: best {best:.3f} s, median {median:.3f} s over {len(runs)} runs;"
        f" {'/'.join(str(c) for c in sorted(changed))} assessments changed,"
        f" {'/'.join(str(n) for n in sorted(statements))} SQL statement(s) besides BEGIN/COMMIT"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--systems", type=int, default=1_000)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or f"{DEFAULT_SERVER}/{DB_NAME}"
    _ensure_database(url)
    _migrate(url)
    os.environ["DATABASE_URL"] = url
    _django_setup()
    import psycopg

    from governance.change_context import change_context

    seed = _seed(url, args.systems, args.indicators)
    print(
        f"Register: {seed['assessments']:,} final assessments, {seed['answers']:,} answers"
        + (f" (seeded in {seed['seed_seconds']:.1f} s)" if seed["seeded_now"] else " (reused)")
    )
    changing, unchanged, by_ids = [], [], []
    with change_context(source="bench", reason="transparency bench"):
        for _ in range(args.runs):
            with psycopg.connect(url, autocommit=True) as conn:
                _without_history(
                    conn, ("governance_transparencyassessment",), [(RESET_SQL, [seed["set_id"]])]
                )
            changing.append(_timed())
            unchanged.append(_timed())
            with psycopg.connect(url, autocommit=True) as conn:
                _without_history(
                    conn, ("governance_transparencyassessment",), [(RESET_SQL, [seed["set_id"]])]
                )
            by_ids.append(_timed(assessment_ids=seed["ids"]))
        ranked = _ranking(args.runs)
    median = _summary("recompute_scores(), every score changing", changing)
    _summary("recompute_scores(), nothing to change", unchanged)
    _summary(f"recompute_scores(assessment_ids=<{len(seed['ids']):,} ids>), every score changing", by_ids)
    seconds = [r[0] for r in ranked]
    print(
        f"  ranking() of {ranked[0][1]:,} systems: best {min(seconds):.3f} s, median"
        f" {statistics.median(seconds):.3f} s, {min(r[2] for r in ranked)}-{max(r[2] for r in ranked)} SQL"
        " queries (the user's roles on first use, the current deployment set, the ranking)"
    )
    ok = median < TARGET_SECONDS
    print(
        f"  {'PASS' if ok else 'FAIL'}  {seed['assessments']:,} assessments x {args.indicators} indicators"
        f" recomputed in {median:.3f} s (median), target under {TARGET_SECONDS:.0f} s"
    )


if __name__ == "__main__":
    main()
