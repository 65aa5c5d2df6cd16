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
3. Starts gunicorn (``2 x cores`` sync workers, production settings) on a free loopback port
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
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from loadgen import SEED_PREFIX, run_phase, seed_slug
from rawinsert import single_row_insert_rate
from server import (
    ROOT,
    database_url,
    django_env,
    free_port,
    start_gunicorn,
    stop_gunicorn,
    vacuum,
)

SEED_TEAMS = 5
SEED_MODELS = 6
WARMUP_SECONDS = 3.0
TARGET_LIST_OVER_DETAIL = 0.4
TARGET_CREATE_OVER_INSERT = 0.1


# --------------------------------------------------------------------------------------------
# Database set-up, seeding and cleanup (Django runs in short-lived subprocesses only, so the
# client processes forked later carry no Django state or open connections).
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
# Raw INSERT rate
# --------------------------------------------------------------------------------------------

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
        team_id = conn.execute("SELECT id FROM governance_team WHERE slug = 'bench-team-0'").fetchone()[0]
    return single_row_insert_rate(
        db_url,
        table="governance_aisystem",
        insert_sql=RAW_INSERT,
        params_for=lambda n, now: [f"{prefix}{n}", f"Raw {n}", "Raw insert rate.", team_id, now, now],
        cleanup_sql="DELETE FROM governance_aisystem WHERE slug LIKE %s",
        cleanup_params=[prefix + "%"],
        seconds=seconds,
        reason="api_throughput raw insert",
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _other_cpu(phase: dict) -> float:
    used = phase["client_cpu"] + phase["server_cpu"] + phase["db_cpu"]
    return max(0.0, phase["machine_busy"] * phase["cores"] - used)


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
