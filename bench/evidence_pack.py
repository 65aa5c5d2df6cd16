"""Building an evidence pack over a large register: time and the builder's peak memory, against a
plain COPY of the same tables.

    .venv/bin/python bench/evidence_pack.py [--systems 500] [--incidents 100000] [--runs 3]

Targets (from the issue): the pack in at most 3 x the time of ``COPY ... TO STDOUT`` of the same
rows, with the server's peak memory under 300 MB.

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench`` on 127.0.0.1:5432 (created
   if missing), migrates it and loads the framework catalogs.
2. Seeds, once, ``--systems`` AI systems (``bench-pack-NNNN``) and ``--incidents`` incidents spread
   over them: ``INSERT ... SELECT generate_series`` from one template row, each copy with its own
   reference, title, a 200-character description that does not compress away, a severity and an
   occurrence time spread over a year, and one timeline entry each. The change-history trigger
   records every row, as for incidents reported through the API, and the audit chain is sealed,
   so the pack's ``audit_log.jsonl`` holds some 200,000 events.
3. ``--runs`` times, in a fresh process each that first loads the PDF renderer as a Celery worker
   process does when it starts, records and builds an ISO/IEC 42001 pack of the whole register as
   an auditor with ``build_pack`` (writing to evidence storage, then deleting the file) and prints
   the build time and the process's peak RSS (``VmHWM``, Django and all), with the RSS before;
   then streams the ZIP through the API's download endpoint and prints the peak again.
4. Times ``COPY (SELECT * FROM <table>) TO STDOUT`` read to the end for every table whose rows
   the pack holds in bulk (incidents, their timelines, AI systems, change events and chain links),
   the floor for getting the same rows out of PostgreSQL, and prints the ratio of the median
   build to it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from server import database_url  # noqa: E402  (bench/ is on the path when run as a script)

PREFIX = "bench-pack-"
TIME_TARGET = 3.0
MEMORY_TARGET_MB = 300
COPIED_TABLES = (
    "incidents_incident",
    "incidents_timelineentry",
    "governance_aisystem",
    "governance_changeevent",
    "governance_auditchainlink",
)


def _setup(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["VERITY_ENV"] = "development"  # in-process services, no server: as measured so far
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _prepare() -> None:
    from django.core.management import call_command

    from governance.models import Framework

    call_command("migrate", verbosity=0)
    if not Framework.objects.filter(code="iso-iec-42001").exists():
        call_command("load_catalogs", verbosity=0)


def _seed(systems: int, incidents: int) -> None:
    from django.db import connection

    from governance.choices import Role
    from governance.models import AISystem, User
    from tests.factories import AISystemFactory, TeamFactory, UserFactory

    if not User.objects.filter(username="bench-pack-auditor").exists():
        UserFactory(username="bench-pack-auditor", role=Role.AUDITOR)
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
        _copy_incidents(ids, existing, missing)
    with connection.cursor() as cursor:
        # One "reported" entry per incident, as the intake API writes.
        cursor.execute(
            """
            INSERT INTO incidents_timelineentry (incident_id, kind, at, author_label, body, data)
            SELECT i.id, 'reported', i.detected_at, 'bench', 'Reported by ' || i.external_id, '{}'
              FROM incidents_incident i
             WHERE i.external_id LIKE %s
               AND NOT EXISTS (SELECT 1 FROM incidents_timelineentry t WHERE t.incident_id = i.id)
            """,
            [PREFIX + "%"],
        )


def _copy_incidents(ids: list[int], existing: int, missing: int) -> None:
    """``missing`` copies of one template incident; the change-history trigger records each one,
    as it would for incidents reported through the API."""
    from django.db import connection

    from governance.models import AISystem
    from tests.factories import IncidentFactory

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
            "description": "repeat(md5(g::text) || ' ' || md5((g * 7)::text) || ' ', 3)",
            "severity": "(ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + (g %% 4)]",
            "occurred_at": "now() - make_interval(mins => (g * 5) %% 525600)",
            "detected_at": "now() - make_interval(mins => (g * 5) %% 525600) + interval '1 hour'",
        }
        select = ", ".join(replaced.get(c, c) for c in columns)
        cursor.execute(
            f"INSERT INTO incidents_incident ({', '.join(columns)}) SELECT {select}"
            " FROM incidents_incident, generate_series(1, %(missing)s) AS g WHERE id = %(template)s",
            {"start": existing, "ids": ids, "n": len(ids), "missing": missing, "template": template.pk},
        )


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM); unlike ``ru_maxrss`` it is not inherited from the
    parent that started the process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_once() -> dict:
    """One build as the worker runs it; prints a JSON line (run in a child process)."""
    from governance.models import Framework, User
    from governance.services.pack_builds import build_pack

    auditor = User.objects.get(username="bench-pack-auditor")
    iso = Framework.objects.filter(code="iso-iec-42001").order_by("-version").first()
    from governance.packs import report

    started = time.perf_counter()
    report.warm_up()  # as every worker process does when it starts (governance.tasks.packs)
    warm_up = time.perf_counter() - started
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    pack = build_pack(actor=auditor, frameworks=[iso])
    seconds = time.perf_counter() - started
    rss_peak = _peak_rss_mb()
    if pack.status != pack.Status.READY:
        raise SystemExit(f"pack failed: {pack.error}")
    with pack.file.open("rb") as handle:
        import zipfile

        manifest = json.loads(zipfile.ZipFile(handle).read("manifest.json"))
    incidents_csv = next(e for e in manifest["files"] if e["path"] == "incidents/incidents.csv")
    downloaded = _download(auditor, pack)
    result = {
        "seconds": seconds,
        "warm_up": warm_up,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "zip_mb": pack.size / 1e6,
        "files": len(manifest["files"]),
        "incidents_csv_mb": incidents_csv["size"] / 1e6,
        "downloaded_mb": downloaded / 1e6,
        "rss_after_download_mb": _peak_rss_mb(),
    }
    pack.file.delete(save=False)
    return result


def _download(auditor, pack) -> int:
    """Stream the pack through the API's download endpoint, as the web server would; bytes read."""
    from django.test import Client

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(auditor)
    response = client.get(f"/api/v1/evidence-packs/{pack.pk}/download/")
    if response.status_code != 200:
        raise SystemExit(f"download failed: {response.status_code}")
    return sum(len(chunk) for chunk in response.streaming_content)


def _copy_seconds() -> tuple[float, int]:
    from django.db import connection

    started, copied = time.perf_counter(), 0
    with connection.cursor() as cursor:
        for table in COPIED_TABLES:
            with cursor.cursor.copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
                for chunk in copy:
                    copied += len(chunk)
    return time.perf_counter() - started, copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    db_url, _own = database_url()
    _setup(db_url)
    if args.child:
        print(json.dumps(build_once()))
        return
    from django.db import connection, transaction

    _prepare()
    started = time.perf_counter()
    with transaction.atomic():
        _seed(args.systems, args.incidents)
    from governance.services import audit_chain

    audit_chain.seal_all()
    with connection.cursor() as cursor:
        for table in COPIED_TABLES:  # as autovacuum would have by now
            cursor.execute(f"ANALYZE {table}")
    print(f"seed and seal: {time.perf_counter() - started:.1f} s; chain head {audit_chain.head()[0]}")

    builds = []
    for _ in range(args.runs):
        child = subprocess.run(
            [sys.executable, __file__, "--child"],
            env={**os.environ, "DATABASE_URL": db_url},
            capture_output=True,
            text=True,
            check=True,
        )
        run = json.loads(child.stdout.strip().splitlines()[-1])
        builds.append(run)
        print(
            f"pack: {run['seconds']:.2f} s, {run['files']} files, {run['zip_mb']:.1f} MB ZIP"
            f" (incidents.csv {run['incidents_csv_mb']:.1f} MB); builder RSS {run['rss_before_mb']:.0f} MB"
            f" before, {run['rss_peak_mb']:.0f} MB peak (worker warm-up {run['warm_up']:.1f} s); streamed"
            f" download {run['downloaded_mb']:.1f} MB, peak RSS then {run['rss_after_download_mb']:.0f} MB"
        )
    copies = [_copy_seconds() for _ in range(args.runs)]
    copy_seconds = statistics.median(seconds for seconds, _ in copies)
    tables = " + ".join(COPIED_TABLES)
    print(f"COPY {tables} TO STDOUT: {copy_seconds:.2f} s median, {copies[0][1] / 1e6:.1f} MB")
    build_seconds = statistics.median(run["seconds"] for run in builds)
    peak = max(max(run["rss_peak_mb"], run["rss_after_download_mb"]) for run in builds)
    ratio = build_seconds / copy_seconds
    print(
        f"pack / COPY: {ratio:.1f}x median ({'PASS' if ratio <= TIME_TARGET else 'FAIL'} <= {TIME_TARGET}x)"
    )
    verdict = "PASS" if peak < MEMORY_TARGET_MB else "FAIL"
    print(f"builder peak RSS: {peak:.0f} MB ({verdict} < {MEMORY_TARGET_MB} MB)")


if __name__ == "__main__":
    main()
