"""Building an evidence pack over a large register: time and peak memory, against a plain COPY.

    .venv/bin/python bench/evidence_pack.py [--systems 500] [--incidents 100000]

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench`` on 127.0.0.1:5432 (created
   if missing), and migrates it.
2. Seeds, once, ``--systems`` AI systems (``bench-pack-NNNN``) and ``--incidents`` incidents spread
   over them (copies of one template row through ``INSERT ... SELECT generate_series``, with the
   change-history trigger off for the copy). Later runs reuse them.
3. Builds a pack of the whole register as an auditor into a temporary file and prints its time, the
   peak of Python allocations during the build (tracemalloc), the process's maximum RSS and the
   ZIP's size.
4. Times ``COPY (SELECT * FROM incidents_incident) TO STDOUT`` read to the end, the floor for
   getting the same rows out of PostgreSQL.

A constant-memory writer shows a peak that does not grow with ``--incidents``; compare two runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from server import database_url  # noqa: E402  (bench/ is on the path when run as a script)

PREFIX = "bench-pack-"


def _setup(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(systems: int, incidents: int):
    from django.db import connection

    from governance.choices import Role
    from governance.models import AISystem, User
    from tests.factories import AISystemFactory, IncidentFactory, TeamFactory, UserFactory

    auditor = User.objects.filter(username="bench-pack-auditor").first()
    if auditor is None:
        auditor = UserFactory(username="bench-pack-auditor", role=Role.AUDITOR)
    have = AISystem.objects.filter(slug__startswith=PREFIX).count()
    if have < systems:
        team = TeamFactory(slug=f"{PREFIX}team-{have}", name=f"Pack bench team {have}")
        for n in range(have, systems):
            AISystemFactory(slug=f"{PREFIX}{n:04d}", name=f"Pack bench system {n}", owning_team=team)
    ids = list(AISystem.objects.filter(slug__startswith=PREFIX).values_list("id", flat=True)[:systems])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM incidents_incident WHERE external_id LIKE %s", [PREFIX + "%"])
        existing = cursor.fetchone()[0]
    missing = incidents - existing
    if missing > 0:
        system = AISystem.objects.get(pk=ids[0])
        template = IncidentFactory(
            system=system, external_id=f"{PREFIX}t{existing}", reference=f"PACK-T{existing}"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'incidents_incident' AND column_name <> 'id' ORDER BY ordinal_position"
            )
            columns = [row[0] for row in cursor.fetchall()]
            replaced = {
                "reference": "'PACK-' || %(start)s + g",
                "external_id": f"'{PREFIX}' || %(start)s + g",
                "system_id": "(%(ids)s::bigint[])[1 + (g %% %(n)s)]",
                "title": "'Bench incident ' || %(start)s + g",
            }
            select = ", ".join(replaced.get(c, c) for c in columns)
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                f"INSERT INTO incidents_incident ({', '.join(columns)}) SELECT {select}"
                " FROM incidents_incident, generate_series(1, %(missing)s) AS g WHERE id = %(template)s",
                {"start": existing, "ids": ids, "n": len(ids), "missing": missing, "template": template.pk},
            )
    return auditor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=100_000)
    args = parser.parse_args()
    db_url, _own = database_url()
    _setup(db_url)
    from django.db import connection, transaction

    from governance.packs import PackScope
    from governance.packs.builder import write_pack

    started = time.perf_counter()
    with transaction.atomic():
        auditor = _seed(args.systems, args.incidents)
    print(f"seed: {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryFile() as handle:
        tracemalloc.start()
        started = time.perf_counter()
        manifest = write_pack(PackScope(user=auditor), handle)
        build_seconds = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = handle.tell()
    rows = next(e for e in manifest["files"] if e["path"] == "incidents/incidents.csv")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pack: {build_seconds:.1f} s, {len(manifest['files'])} files, {size / 1e6:.2f} MB ZIP")
    print(f"  incidents.csv {rows['size'] / 1e6:.1f} MB; peak Python allocations {peak / 1e6:.1f} MB")
    print(f"  max RSS of this process {rss:.0f} MB")

    started = time.perf_counter()
    copied = 0
    with connection.cursor() as cursor:
        with cursor.connection.cursor().copy("COPY (SELECT * FROM incidents_incident) TO STDOUT") as copy:
            for chunk in copy:
                copied += len(chunk)
    copy_seconds = time.perf_counter() - started
    print(f"COPY incidents TO STDOUT: {copy_seconds:.1f} s, {copied / 1e6:.1f} MB")
    print(f"pack / COPY: {build_seconds / copy_seconds:.1f}x")


if __name__ == "__main__":
    main()
