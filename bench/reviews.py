"""The review scan at register scale, against PostgreSQL on this machine.

    .venv/bin/python bench/reviews.py [--systems 100000] [--due 10000]

Target (from the issue): with 100,000 systems of which 10,000 have a review inside a reminder
window, one scan writes the outbox rows in at most 10 seconds, with a number of SQL statements that
does not grow with the number of systems.

What it does, in one run:

1. Picks the databases: ``DATABASE_URL`` if set, else ``verity_bench_reviews`` on 127.0.0.1:5432,
   plus a second, ten times smaller register in ``<that name>_small``; creates them if missing and
   runs ``manage.py migrate`` on both.
2. Seeds each register once (later runs reuse it; a larger ``--systems`` adds the missing ones):
   through the ORM 5 teams, 50 owners and the officer ``rev-bench-officer``; then, with
   ``INSERT ... SELECT generate_series``, deployed systems ``rev-bench-NNNNNN`` spread over those
   teams, owners, risk tiers and EU AI Act classes, each with one open review scheduled 100 days
   before the seed's anchor time. Every tenth review falls due 3 to 6 days after the anchor, so it
   is owed its 30-day and its 7-day reminder (the outbox starts empty, as after a long outage),
   each to two owners and the officer by e-mail and in-app; the others fall due 60 to 660 days
   after the anchor, outside every reminder window. The change-history triggers are disabled for the
   seeding statements only, inside their own transaction; the tables are vacuumed and analysed.
3. Deletes the outbox rows of the seeded reviews left by earlier runs, then runs the real
   ``governance.services.review_scans.scan_reviews`` with ``now`` one hour after the anchor (time
   stands still, so every run measures the same work), counting its SQL statements with Django's
   ``CaptureQueriesContext``; then scans again, which must write nothing.
4. Does the same on the small register and compares the statement counts.

Celery runs on kombu's in-memory transport: the scan's delivery request goes nowhere. It exits 0
whether or not the targets pass; it exits non-zero only if the bench itself breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server import DEFAULT_SERVER, ROOT, vacuum

DB_NAME = "verity_bench_reviews"
PREFIX = "rev-bench-"
TEAMS, OWNERS = 5, 50
TARGET_SECONDS = 10.0
TABLES = ("governance_aisystem", "governance_review", "governance_notification", "governance_user")

SYSTEMS_SQL = """
INSERT INTO governance_aisystem (
    slug, name, purpose, description, owning_team_id, business_owner_id, technical_owner_id,
    lifecycle_stage, deployed_on, retired_on, eu_ai_act_class, annex_iii_area, operator_role, risk_tier,
    autonomy_level, human_oversight, personal_data_categories, affected_groups, jurisdictions,
    model_card_url, system_prompt_ref, system_prompt_version, system_prompt_sha256, guardrail_config_ref,
    tags, created_at, updated_at
)
SELECT %(prefix)s || lpad(i::text, 6, '0'), 'Review bench system ' || i, 'Seeded by bench/reviews.py.', '',
       (%(teams)s::bigint[])[1 + i %% cardinality(%(teams)s::bigint[])],
       (%(owners)s::bigint[])[1 + i %% cardinality(%(owners)s::bigint[])],
       (%(owners)s::bigint[])[1 + (i / 7) %% cardinality(%(owners)s::bigint[])],
       'deployed', %(anchor)s::date - 400, NULL,
       (ARRAY['minimal', 'limited', 'unclassified'])[1 + i %% 3], '', 'deployer',
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + (i / 3) %% 4], 'assistive', 'in_the_loop',
       '{}', '{}', '{EU}', '', '', '', '', '', '{bench}', %(anchor)s, %(anchor)s
  FROM generate_series(%(start)s::int, %(stop)s::int - 1) AS i
"""

# One open review per seeded system without one: one in ``every`` due within the 7-day window.
REVIEWS_SQL = """
INSERT INTO governance_review (
    system_id, due_at, status, trigger, reason, reviewer_id, checklist, answers, outcome, conditions,
    waived_reason, signed_off_by_id, signed_off_at, created_at, updated_at
)
SELECT s.id,
       CASE WHEN n %% %(every)s = 0
            THEN %(anchor)s + interval '3 days' + make_interval(hours => n %% 72)
            ELSE %(anchor)s + interval '60 days' + make_interval(days => n %% 600) END,
       'scheduled', 'cadence', 'Seeded by bench/reviews.py.', NULL, '[]', '{}', '', '', '', NULL, NULL,
       %(anchor)s - interval '100 days', %(anchor)s - interval '100 days'
  FROM (SELECT id, substr(slug, length(%(prefix)s) + 1)::int AS n FROM governance_aisystem
         WHERE slug LIKE %(pattern)s) AS s
 WHERE NOT EXISTS (SELECT 1 FROM governance_review r WHERE r.system_id = s.id)
"""

CLEAR_OUTBOX_SQL = """
DELETE FROM governance_notification
 WHERE subject_type = 'governance.review'
   AND subject_id IN (SELECT r.id::text FROM governance_review r
                        JOIN governance_aisystem s ON s.id = r.system_id WHERE s.slug LIKE %s)
"""


# --------------------------------------------------------------------------------------------
# Measuring (a subprocess per register, with DATABASE_URL pointing at it)
# --------------------------------------------------------------------------------------------


def _django_setup() -> None:
    # bench/ is the script's directory: on the path, ``import incidents`` would find the bench
    # script of that name instead of the app.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["VERITY_ENV"] = "development"  # in-process services, no server: as measured so far
    import django

    django.setup()


def _people() -> dict:
    from django.contrib.auth.models import Group

    from governance import choices
    from governance.models import Team, User

    teams = [
        Team.objects.get_or_create(slug=f"{PREFIX}team-{t}", defaults={"name": f"Review bench team {t}"})[
            0
        ].pk
        for t in range(TEAMS)
    ]
    owners = [
        User.objects.get_or_create(
            username=f"{PREFIX}owner-{o}", defaults={"email": f"{PREFIX}owner-{o}@example.invalid"}
        )[0].pk
        for o in range(OWNERS)
    ]
    officer, _ = User.objects.get_or_create(
        username=f"{PREFIX}officer", defaults={"email": f"{PREFIX}officer@example.invalid"}
    )
    officer.groups.add(Group.objects.get(name=choices.Role.OFFICER))
    return {"teams": teams, "owners": owners}


def _seed(db_url: str, systems: int, due: int) -> dict:
    import psycopg
    from django.utils import timezone

    people = _people()
    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        have, anchor = conn.execute(
            "SELECT count(*), min(created_at) FROM governance_aisystem WHERE slug LIKE %s", [PREFIX + "%"]
        ).fetchone()
        anchor = anchor or timezone.now().replace(microsecond=0)
        params = {
            **people,
            "prefix": PREFIX,
            "pattern": PREFIX + "%",
            "anchor": anchor,
            "start": have,
            "stop": systems,
            "every": max(1, systems // due),
        }
        if have < systems:
            # Seeding is not a change anybody made: the history triggers are off for these two
            # statements only (ALTER TABLE is transactional and locks the tables meanwhile).
            with conn.transaction():
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for table in ("governance_aisystem", "governance_review"):
                    conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_record_change")
                conn.execute(SYSTEMS_SQL, params)
                conn.execute(REVIEWS_SQL, params)
                for table in ("governance_aisystem", "governance_review"):
                    conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_record_change")
        cleared = conn.execute(CLEAR_OUTBOX_SQL, [PREFIX + "%"]).rowcount
        total = conn.execute("SELECT count(*) FROM governance_aisystem").fetchone()[0]
    seed_seconds = time.perf_counter() - started
    vacuum(db_url, TABLES)
    return {
        "anchor": anchor,
        "seeded_now": max(0, systems - have),
        "seed_seconds": seed_seconds,
        "systems_total": total,
        "cleared_rows": cleared,
    }


def _scan(now) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.services.review_scans import scan_reviews

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = scan_reviews(now=now)
        seconds = time.perf_counter() - started
    rows = sum(count for kind, count in result.items() if kind != "overdue_reviews")
    return {"seconds": seconds, "rows": rows, "statements": len(ctx.captured_queries), "result": result}


def measure_step(systems: int, due: int) -> None:
    _django_setup()
    from django.db import connection

    from governance.change_context import change_context
    from governance.models import Review

    with change_context(source="bench", reason="reviews bench"):
        seed = _seed(os.environ["DATABASE_URL"], systems, due)
        now = seed["anchor"] + timedelta(hours=1)
        due_now = Review.objects.open().filter(due_at__gt=now, due_at__lte=now + timedelta(days=7)).count()
        first = _scan(now)
        second = _scan(now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM governance_aisystem")
        total = cursor.fetchone()[0]
    out = {**seed, "anchor": seed["anchor"].isoformat(), "systems": total, "due": due_now}
    print("BENCH_JSON " + json.dumps({**out, "first": first, "second": second}))


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _run(args: list[str], url: str) -> str:
    env = {**os.environ, "VERITY_ENV": "development", "DATABASE_URL": url, "CELERY_BROKER_URL": "memory://"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"bench: {' '.join(args[:2])} failed")
    return proc.stdout


def register(url: str, systems: int, due: int) -> dict:
    _ensure_database(url)
    _run(["manage.py", "migrate", "--no-input", "-v", "0"], url)
    out = _run([__file__, "--step", "measure", "--systems", str(systems), "--due", str(due)], url)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON "))


def _report(label: str, figures: dict) -> None:
    print(f"{label}: {figures['systems']:,} systems, {figures['due']:,} reviews due within 7 days")
    if figures["seeded_now"]:
        print(f"  seeded {figures['seeded_now']:,} systems and reviews in {figures['seed_seconds']:.1f} s")
    for name in ("first", "second"):
        scan = figures[name]
        print(
            f"  {name} scan: {scan['seconds']:.2f} s, {scan['rows']:,} outbox rows written,"
            f" {scan['statements']} SQL statements"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--systems", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--step", choices=["measure"])
    args = parser.parse_args()
    if args.step == "measure":
        measure_step(args.systems, args.due)
        return

    url = os.environ.get("DATABASE_URL") or f"{DEFAULT_SERVER}/{DB_NAME}"
    small_url = urlunsplit(urlsplit(url)._replace(path=urlsplit(url).path + "_small"))
    started = time.perf_counter()
    large = register(url, args.systems, args.due)
    small = register(small_url, args.systems // 10, args.due // 10)
    _report("Large register", large)
    _report("Small register", small)
    first = large["first"]
    verdicts = [
        (f"first scan at {large['systems']:,} systems within {TARGET_SECONDS:.0f} s", first["seconds"] <= 10),
        ("second scan writes nothing", large["second"]["rows"] == 0 and small["second"]["rows"] == 0),
        (
            f"same statements at {small['systems']:,} and {large['systems']:,} systems",
            first["statements"] == small["first"]["statements"],
        ),
    ]
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    print(f"bench: {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
