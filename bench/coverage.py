"""Coverage of every framework, for the organisation and for each of 500 systems.

    .venv/bin/python bench/coverage.py [--systems 500] [--controls 60] [--per-system 20]

Uses ``DATABASE_URL`` or the database ``verity_bench_coverage`` on 127.0.0.1:5432 (created if
missing), migrates it and loads the catalogs, then seeds (once, reused by later runs) ``--systems``
AI systems, a library of ``--controls`` controls mapped to ISO/IEC 42001 Annex A controls and
clauses, an organisation-wide implementation for a third of them, ``--per-system``
implementations for every system, and evidence (some expired). It then times
``coverage_summary`` + ``coverage_rows`` for every loaded framework: once for the organisation,
and once for each system, and prints the figures with the query count per computation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ROOT, database_url  # noqa: E402

SEED_PREFIX = "cov-seed-"


def setup_django(db_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=db_url,
        VERITY_ENV="production",
        DJANGO_SECRET_KEY="bench-coverage-" + "x" * 40,
        CELERY_BROKER_URL="memory://",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_catalogs", verbosity=0)


def seed(n_systems: int, n_controls: int, per_system: int) -> None:
    from django.db import transaction

    from governance.models import (
        AISystem,
        Control,
        ControlImplementation,
        Evidence,
        Framework,
        Requirement,
        Team,
    )

    if AISystem.objects.filter(slug__startswith=SEED_PREFIX).count() >= n_systems:
        return
    rng = random.Random(42)
    iso = Framework.objects.filter(code="iso-iec-42001").order_by("-version").first()
    targets = list(Requirement.objects.filter(framework=iso, assessable=True).values_list("id", flat=True))
    with transaction.atomic():
        team, _ = Team.objects.get_or_create(slug="cov-team", defaults={"name": "Coverage bench team"})
        systems = AISystem.objects.bulk_create(
            AISystem(
                slug=f"{SEED_PREFIX}{i:04d}",
                name=f"Coverage system {i}",
                purpose="Bench.",
                owning_team=team,
                operator_role="deployer",
                risk_tier="low",
                autonomy_level="assistive",
                human_oversight="in_the_loop",
            )
            for i in range(n_systems)
        )
        controls = Control.objects.bulk_create(
            Control(code=f"cov-ctl-{i:03d}", title=f"Control {i}", control_type="process", frequency="annual")
            for i in range(n_controls)
        )
        links = Control.requirements.through
        links.objects.bulk_create(
            links(control_id=control.id, requirement_id=requirement)
            for control in controls
            for requirement in rng.sample(targets, 2)
        )
        org_wide = [
            ControlImplementation(control=c, status="implemented") for c in controls[: n_controls // 3]
        ]
        per_system_rows = [
            ControlImplementation(
                control=control,
                system=system,
                status=rng.choice(["implemented", "implemented", "in_progress", "not_started"]),
            )
            for system in systems
            for control in rng.sample(controls[n_controls // 3 :], per_system)
        ]
        implementations = ControlImplementation.objects.bulk_create(org_wide + per_system_rows)
        today = date.today()
        evidence = Evidence.objects.bulk_create(
            Evidence(
                title=f"Evidence {i}",
                kind="link",
                url=f"https://example.com/e/{i}",
                collected_on=today - timedelta(days=400),
                valid_until=today + timedelta(days=rng.choice([-30, 180, 365])),
            )
            for i in range(len(implementations) // 4)
        )
        through = Evidence.implementations.through
        through.objects.bulk_create(
            through(evidence_id=e.id, controlimplementation_id=rng.choice(implementations).id)
            for e in evidence
        )


def measure(n_systems: int) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from governance.models import AISystem, Framework
    from governance.services.coverage import Scope, coverage_rows, coverage_summary

    frameworks = list(Framework.objects.all())
    systems = list(AISystem.objects.filter(slug__startswith=SEED_PREFIX).order_by("slug")[:n_systems])

    def compute(scope):
        for framework in frameworks:
            coverage_summary(framework=framework, scope=scope)
            coverage_rows(framework=framework, scope=scope)

    compute(Scope())  # warm up
    with CaptureQueriesContext(connection) as ctx:
        compute(Scope())
    statements = [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("WITH")]
    queries_per_framework = len(statements) / len(frameworks)
    reset_queries()

    started = time.perf_counter()
    compute(Scope())
    organisation_ms = (time.perf_counter() - started) * 1000

    per_system = []
    started = time.perf_counter()
    for system in systems:
        t = time.perf_counter()
        compute(Scope(system=system))
        per_system.append((time.perf_counter() - t) * 1000)
    total_s = time.perf_counter() - started

    names = ", ".join(
        f"{f.short_name} ({f.requirements.filter(assessable=True).count()})" for f in frameworks
    )
    print(f"frameworks (assessable requirements): {names}")
    print(f"SQL statements per framework and scope: {queries_per_framework:.0f} (summary + rows)")
    print(f"organisation, every framework: {organisation_ms:.1f} ms")
    print(
        f"{len(systems)} systems x every framework: {total_s:.2f} s in all; per system "
        f"p50 {statistics.median(per_system):.1f} ms, p95 {statistics.quantiles(per_system, n=20)[18]:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=500)
    parser.add_argument("--controls", type=int, default=60)
    parser.add_argument("--per-system", type=int, default=20)
    args = parser.parse_args()
    url, _ = database_url() if os.environ.get("DATABASE_URL") else _own_database()
    setup_django(url)
    seed(args.systems, args.controls, args.per_system)
    _analyse()
    measure(args.systems)
    return 0


def _analyse() -> None:
    """Fresh statistics after seeding: autovacuum may be off on a development server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _own_database():
    os.environ.pop("DATABASE_URL", None)
    import server

    server.DEFAULT_DB_NAME = "verity_bench_coverage"
    return server.database_url()


if __name__ == "__main__":
    sys.exit(main())
