"""Evaluation ingest: a 100,000-sample JSONL upload through the API, against gunicorn and PostgreSQL
on this machine, compared with a plain ``COPY`` of the same rows.

    .venv/bin/python bench/evaluations.py [--samples 100000] [--repeat 3]

Target (from the issue): a 100,000-sample JSONL upload is accepted with the server's peak memory
growing by less than 150 MB; its ingest time is reported next to a psycopg ``COPY`` of the same rows
into the same table.

What it does, in one run:

1. Picks the database: ``DATABASE_URL`` if set, else ``verity_bench_evaluations`` on 127.0.0.1:5432
   (created if missing), and runs ``manage.py migrate``.
2. Through the ORM (a subprocess), the team ``eval-bench-team``, its system ``eval-bench-system``,
   the engineer ``eval-bench-engineer`` and a write-scope API token for them.
3. Writes ``--samples`` per-sample results to a JSONL file in a temporary directory: sample ids,
   grades (60 % correct, 25 % incorrect, 10 % not attempted, 5 % unverifiable), claim counts, a
   judge's score and the prompt's SHA-256 (a field the API ignores, as harnesses write such fields).
4. Starts gunicorn with one sync worker (production settings), so the worker that takes the
   upload is known, and warms it up with a 100-sample upload.
5. ``--repeat`` times: resets the worker's peak RSS (``/proc/<pid>/clear_refs``), posts the file as
   ``multipart/form-data`` (the ``run`` part and the ``sample_results`` file, streamed from disk by
   the client, with a fresh ``Idempotency-Key``), and reads the worker's ``VmHWM`` afterwards; a
   thread also samples ``VmRSS`` every 5 ms, in case the kernel cannot reset the peak. The growth is
   the peak minus the RSS before the upload.
6. ``--repeat`` times: ``COPY`` of the same rows (parsed beforehand, so only the database's work is
   timed) into ``incidents_evaluationsample`` for the first uploaded run, as lines after its own, and
   ``COMMIT``; then deletes them.
7. Prints the figures and PASS/FAIL; stops gunicorn; deletes the runs it uploaded (their samples go
   with them) and its idempotency records, and revokes its token.

It exits 0 whether or not the target passes; it exits non-zero only if the bench itself breaks.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from server import DEFAULT_SERVER, ROOT, children, django_env, free_port, start_gunicorn, stop_gunicorn

DB_NAME = "verity_bench_evaluations"
SYSTEM = "eval-bench-system"
TARGET_GROWTH_MB = 150
GRADES = ["correct"] * 12 + ["incorrect"] * 5 + ["not_attempted"] * 2 + ["unverifiable"]
CHUNK = 256 * 1024
MB = 1024 * 1024
COPY_SQL = (
    "COPY incidents_evaluationsample (run_id, line, sample_id, grade, claims, hallucinated_claims, score)"
    " FROM STDIN"
)


def database_url() -> tuple[str, bool]:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url, False
    import psycopg

    with psycopg.connect(f"{DEFAULT_SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{DEFAULT_SERVER}/{DB_NAME}", True


# --------------------------------------------------------------------------------------------
# Django steps (subprocesses: the bench's directory holds a script named incidents.py)
# --------------------------------------------------------------------------------------------


def _django_setup() -> None:
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    import django

    django.setup()


def setup_step() -> None:
    """(subprocess) The team, its system, the engineer and a fresh write token."""
    _django_setup()
    from django.contrib.auth.models import Group

    from governance import choices
    from governance.change_context import change_context
    from governance.models import AISystem, Team, TeamMembership, User
    from governance.services.tokens import issue_token

    with change_context(source="bench", reason="evaluations bench seed"):
        team, _ = Team.objects.get_or_create(slug="eval-bench-team", defaults={"name": "Evaluation bench"})
        AISystem.objects.get_or_create(
            slug=SYSTEM,
            defaults={
                "name": "Evaluation bench system",
                "purpose": "Seeded by bench/evaluations.py to measure evaluation ingest.",
                "owning_team": team,
                "lifecycle_stage": choices.LifecycleStage.DEPLOYED,
                "operator_role": choices.OperatorRole.DEPLOYER,
                "risk_tier": choices.RiskTier.values[0],
                "autonomy_level": choices.AutonomyLevel.ASSISTIVE,
                "human_oversight": choices.HumanOversight.IN_THE_LOOP,
                "tags": ["bench"],
            },
        )
        user, _ = User.objects.get_or_create(
            username="eval-bench-engineer", defaults={"email": "eval-bench-engineer@example.invalid"}
        )
        user.groups.add(Group.objects.get(name=choices.Role.ENGINEER))
        TeamMembership.objects.get_or_create(user=user, team=team)
        issued = issue_token(actor=None, user=user, name="bench evaluations", scope=choices.TokenScope.WRITE)
    print("BENCH_JSON " + json.dumps({"token": issued.secret, "token_id": issued.token.pk}))


def cleanup_step(token_id: str) -> None:
    """(subprocess) Delete the runs of the bench's system and its idempotency records; revoke the token."""
    _django_setup()
    from governance.change_context import change_context
    from governance.models import ApiToken, IdempotencyRecord
    from governance.services.tokens import revoke_token
    from incidents.models import EvaluationRun

    with change_context(source="bench", reason="evaluations bench cleanup"):
        removed, _ = EvaluationRun.objects.filter(system__slug=SYSTEM).delete()
        IdempotencyRecord.objects.filter(client=f"token:{token_id}").delete()
        token = ApiToken.objects.select_related("user").filter(pk=int(token_id)).first()
        if token is not None:
            revoke_token(actor=token.user, token=token)
    print("BENCH_JSON " + json.dumps({"removed": removed}))


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


# --------------------------------------------------------------------------------------------
# The upload
# --------------------------------------------------------------------------------------------


def sample(n: int) -> dict:
    grade = GRADES[(n * 7919) % len(GRADES)]
    claims = 1 + n % 5
    return {
        "sample_id": f"simpleqa-{n:06d}",
        "grade": grade,
        "claims": claims,
        "hallucinated_claims": (n % claims) if grade == "incorrect" else 0,
        "score": round(((n * 2654435761) % 1000) / 1000, 3),
        "prompt_sha256": hashlib.sha256(str(n).encode()).hexdigest(),
    }


def write_samples(path: Path, count: int) -> int:
    with open(path, "w") as out:
        for n in range(1, count + 1):
            out.write(json.dumps(sample(n), separators=(",", ":")) + "\n")
    return path.stat().st_size


def copy_rows(path: Path) -> list[tuple]:
    rows = []
    with open(path, "rb") as lines:
        for line, raw in enumerate(lines, start=1):
            item = json.loads(raw)
            rows.append(
                (
                    line,
                    item["sample_id"],
                    item["grade"],
                    item["claims"],
                    item["hallucinated_claims"],
                    item["score"],
                )
            )
    return rows


def run_fields(label: str) -> dict:
    return {
        "system": SYSTEM,
        "model_provider": "Example AI",
        "model_name": "example-chat",
        "model_version": f"bench-{label}",
        "benchmark": "SimpleQA",
        "benchmark_version": "1.0",
        "task_kind": "short_qa",
        "judge_kind": "llm_judge",
        "judge_name": "grader",
        "parameters": {"temperature": 0},
        "rate_basis": "attempted",
    }


def post_upload(port: int, token: str, path: Path, fields: dict, key: str) -> tuple[int, dict, float]:
    """POST the run as multipart, the file streamed from disk in chunks; status, body and seconds."""
    boundary = "verity-bench-" + secrets.token_hex(8)
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="run"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{json.dumps(fields)}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="sample_results"; filename="results.jsonl"\r\n'
        "Content-Type: application/x-ndjson\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.putrequest("POST", "/api/v1/evaluation-runs/")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Idempotency-Key", key)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {"raw": body[:500].decode(errors="replace")}
    return response.status, answer, seconds


# --------------------------------------------------------------------------------------------
# Memory of the worker
# --------------------------------------------------------------------------------------------


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: ``echo 5 > /proc/<pid>/clear_refs``)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return status_kb(pid, "VmHWM") <= status_kb(pid, "VmRSS") + 64


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            except (OSError, RuntimeError):
                return
            time.sleep(0.005)


def measured_upload(port: int, token: str, worker: int, path: Path, label: str) -> dict:
    before_kb = status_kb(worker, "VmRSS")
    hwm_before_kb = status_kb(worker, "VmHWM")
    was_reset = reset_peak(worker)
    sampler = RssSampler(worker)
    sampler.start()
    status, answer, seconds = post_upload(port, token, path, run_fields(label), key=f"bench-{label}")
    sampler.done.set()
    sampler.join()
    peak_kb = status_kb(worker, "VmHWM")
    if not was_reset:  # an earlier, higher peak would hide this one: count only what the sampler saw
        peak_kb = sampler.peak_kb if peak_kb <= hwm_before_kb else peak_kb
    return {
        "status": status,
        "answer": answer,
        "seconds": seconds,
        "rss_before_mb": before_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "growth_mb": max(0, peak_kb - before_kb) / 1024,
        "sampled_growth_mb": max(0, sampler.peak_kb - before_kb) / 1024,
        "hwm_reset": was_reset,
    }


# --------------------------------------------------------------------------------------------
# COPY of the same rows
# --------------------------------------------------------------------------------------------


def measure_copy(db_url: str, run_id: int, rows: list[tuple], offset: int) -> float:
    import psycopg

    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
            for line, *rest in rows:
                copy.write_row((run_id, offset + line, *rest))
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute(
            "DELETE FROM incidents_evaluationsample WHERE run_id = %s AND line > %s", [run_id, offset]
        )
        conn.commit()
    return seconds


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--samples", type=int, default=100_000, help="samples in the upload (default 100,000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="uploads and COPYs to time (default 3)")
    parser.add_argument("--_setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_cleanup", nargs=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args._setup:
        setup_step()
        return 0
    if args._cleanup:
        cleanup_step(*args._cleanup)
        return 0

    db_url, own_db = database_url()
    env = django_env(db_url, secrets.token_urlsafe(48))
    db_name = urlsplit(db_url).path.lstrip("/")
    print(f"bench: database {db_name} ({'own' if own_db else 'DATABASE_URL'})", flush=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    setup = run_django_step("setup", env)
    workdir = Path(tempfile.mkdtemp(prefix="verity-bench-evaluations-"))
    try:
        return run(args, env, db_url, setup, workdir)
    finally:
        cleaned = run_django_step("cleanup", env, str(setup["token_id"]))
        print(f"bench: removed {cleaned.get('removed', 0)} rows the run wrote (runs and their samples)")
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, env: dict[str, str], db_url: str, setup: dict, workdir: Path) -> int:
    big, small = workdir / "results.jsonl", workdir / "warm-up.jsonl"
    size = write_samples(big, args.samples)
    write_samples(small, 100)
    print(f"bench: wrote {args.samples:,} samples, {size / MB:.1f} MB of JSONL", flush=True)
    rows = copy_rows(big)

    port = free_port()
    gunicorn = start_gunicorn(env, port, 1, workdir / "gunicorn.log")
    uploads: list[dict] = []
    try:
        workers = children(gunicorn.pid)
        if len(workers) != 1:
            raise SystemExit(f"bench: expected one gunicorn worker, found {workers}")
        worker = workers[0]
        status, answer, _ = post_upload(
            port, setup["token"], small, run_fields("warm-up"), key="bench-warm-up"
        )
        if status != 201:
            raise SystemExit(f"bench: the warm-up upload answered {status}: {answer}")
        for n in range(args.repeat):
            label = f"{datetime.now(UTC):%H%M%S}-{n}"
            print(f"bench: upload {n + 1} of {args.repeat}", flush=True)
            result = measured_upload(port, setup["token"], worker, big, label)
            if result["status"] != 201 or result["answer"].get("samples") != args.samples:
                raise SystemExit(f"bench: the upload answered {result['status']}: {result['answer']}")
            uploads.append(result)
    finally:
        stop_gunicorn(gunicorn)

    first_run = uploads[0]["answer"]["id"]
    copies = []
    for n in range(args.repeat):
        print(f"bench: COPY {n + 1} of {args.repeat}", flush=True)
        copies.append(measure_copy(db_url, first_run, rows, offset=args.samples))
    report(args, size, uploads, copies)
    return 0


def report(args, size: int, uploads: list[dict], copies: list[float]) -> None:
    upload_s = sorted(u["seconds"] for u in uploads)
    copy_s = sorted(copies)
    median_upload, median_copy = upload_s[len(upload_s) // 2], copy_s[len(copy_s) // 2]
    worst_growth = max(u["growth_mb"] for u in uploads)
    answer = uploads[0]["answer"]
    print()
    print(f"Verity evaluation ingest  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"  machine: {os.cpu_count()} cores; gunicorn 1 sync worker; PostgreSQL on 127.0.0.1")
    print(f"  upload: {args.samples:,} samples, {size / MB:.1f} MB JSONL, multipart, Idempotency-Key")
    print(
        f"  run: samples {answer['samples']}, attempted {answer['attempted']}, hallucinated "
        f"{answer['hallucinated']}, rate {answer['hallucination_rate']:.4f}"
    )
    print()
    print("  upload   wall s   samples/s   worker RSS before MB   peak MB   growth MB   (sampled)")
    for n, u in enumerate(uploads, start=1):
        print(
            f"  {n:>6}   {u['seconds']:6.2f}   {args.samples / u['seconds']:9,.0f}   "
            f"{u['rss_before_mb']:20.1f}   {u['peak_mb']:7.1f}   {u['growth_mb']:9.1f}   "
            f"({u['sampled_growth_mb']:.1f}){'' if u['hwm_reset'] else '  VmHWM not reset'}"
        )
    print()
    print("  COPY     wall s   rows/s")
    for n, seconds in enumerate(copies, start=1):
        print(f"  {n:>6}   {seconds:6.2f}   {args.samples / seconds:9,.0f}")
    print()
    print(
        f"  median: upload {median_upload:.2f} s, COPY {median_copy:.2f} s; "
        f"the upload takes {median_upload / median_copy:.1f} x the COPY"
    )
    verdict = "PASS" if worst_growth < TARGET_GROWTH_MB else "FAIL"
    print(f"  worker's peak memory growth: {worst_growth:.1f} MB (target < {TARGET_GROWTH_MB} MB): {verdict}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
