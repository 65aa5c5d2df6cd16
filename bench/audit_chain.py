"""Verifying the audit chain at scale, against PostgreSQL on this machine.

    .venv/bin/python bench/audit_chain.py [--events 500000] [--runs 3] [--workers N]

Target (from the issue): chain verification at 50,000 events per second or more.

What it does:

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench_audit`` on 127.0.0.1:5432;
   creates it if missing and runs ``manage.py migrate``.
2. Empties the change history and the chain (``TRUNCATE``: the append-only triggers refuse row
   edits, not a bench's reset), then seeds ``--events`` change events with one
   ``INSERT ... SELECT generate_series`` (no tracked table is written, so no recording trigger
   runs): UPDATEs of systems with a ten-column row before and after and a two-column diff, the
   shape of a typical inventory edit. It vacuums and analyses the table.
3. Times ``seal_all()`` (hashing every event and appending the links, batches of 100,000), then
   ``--runs`` times ``verify()`` over the whole chain (with ``--workers`` processes; default one
   per CPU, as ``manage.py verify_audit_log`` does), and prints events per second, best and
   median, with PASS/FAIL against the target. It exits non-zero only if the bench itself breaks
   (or the chain does not verify).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/verity_bench_audit"
TARGET = 50_000

SEED_SQL = """
INSERT INTO governance_changeevent (
    occurred_at, table_name, object_pk, root_table, root_pk, operation, before, after, changes,
    actor_id, actor, source, correlation_id, reason, db_user, transaction_id
)
SELECT now() - make_interval(secs => (%(n)s - i) * 0.01), 'governance_aisystem', (i %% 5000)::text,
       'governance_aisystem', (i %% 5000)::text, 'UPDATE', row.before, row.after,
       jsonb_build_object('risk_tier', jsonb_build_array('limited', 'high'),
                          'purpose', jsonb_build_array(row.before ->> 'purpose', row.after ->> 'purpose')),
       1 + i %% 40, 'officer-' || (i %% 40), 'admin', md5(i::text), 'quarterly review',
       'postgres', txid_current()
  FROM generate_series(1, %(n)s) AS i,
       LATERAL (
           SELECT jsonb_build_object(
                      'id', i %% 5000, 'slug', 'system-' || (i %% 5000), 'name', 'System ' || (i %% 5000),
                      'purpose', 'Ranks support tickets, edition ' || i, 'risk_tier', 'limited',
                      'lifecycle_stage', 'deployed', 'owning_team_id', i %% 50,
                      'tags', '["nlp", "ops"]'::jsonb,
                      'human_oversight', 'in_the_loop', 'updated_at', now()::text) AS before,
                  jsonb_build_object(
                      'id', i %% 5000, 'slug', 'system-' || (i %% 5000), 'name', 'System ' || (i %% 5000),
                      'purpose', 'Ranks support tickets, edition ' || (i + 1), 'risk_tier', 'high',
                      'lifecycle_stage', 'deployed', 'owning_team_id', i %% 50,
                      'tags', '["nlp", "ops"]'::jsonb,
                      'human_oversight', 'in_the_loop', 'updated_at', now()::text) AS after
       ) AS row
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="verify() processes (default: CPUs)")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    import psycopg

    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "VERITY_ENV": "development", "DATABASE_URL": url, "VERITY_AUDIT_ANCHOR_FILE": ""}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from governance.services import audit_chain

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE governance_changeevent, governance_auditchainlink, governance_auditanchor")
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(SEED_SQL, {"n": args.events})
        seeded = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE governance_changeevent")
    print(f"seeded {args.events:,} events in {seeded:.1f} s")

    started = time.perf_counter()
    sealed = audit_chain.seal_all()
    sealing = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE governance_auditchainlink")
    print(f"sealed {sealed:,} events in {sealing:.1f} s ({sealed / sealing:,.0f} events/s)")

    workers = args.workers or os.cpu_count() or 1
    print(f"verifying with {workers} process(es) on {os.cpu_count()} CPU(s)")
    rates = []
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        result = audit_chain.verify(workers=workers)
        elapsed = time.perf_counter() - started
        if not result.ok or result.checked != sealed:
            print(f"chain does not verify: {result}", file=sys.stderr)
            return 2
        rates.append(result.checked / elapsed)
        print(f"run {run}: verified {result.checked:,} events in {elapsed:.2f} s ({rates[-1]:,.0f} events/s)")
    best, median = max(rates), statistics.median(rates)
    verdict = "PASS" if median >= TARGET else "FAIL"
    print(f"verification: best {best:,.0f} events/s, median {median:,.0f} events/s")
    print(f"target {TARGET:,} events/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
