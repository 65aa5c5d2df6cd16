"""Schemathesis over the whole OpenAPI schema, against a real gunicorn on the demo data.

    .venv/bin/python bench/schemathesis_run.py                  # 100 examples per operation
    .venv/bin/python bench/schemathesis_run.py --examples 10

The database is the bench's own (``verity_bench``, or ``DATABASE_URL``): it is flushed, migrated
and loaded with the demo organisation (``seed_demo``), then the run goes once with the officer
``olivia``'s token and once with the engineer ``erin``'s, every operation, a fixed seed. It prints
the figures per persona (operations, cases, failures by check) and each failure, and exits 1 if
there was any. ``tests/test_schemathesis.py`` is the same run, bounded, in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import BIN, ROOT

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "negative_data_rejection",
)
SEED = 20261207
# The long run adds the coverage phase (boundary values of every parameter: thousands of cases).
LONG_PHASES = "examples,coverage,fuzzing"
SHORT_PHASES = "examples,fuzzing"
PERSONAS = {"officer": "olivia", "engineer": "erin"}


@dataclass
class Figures:
    """What one run did: operations and cases tested, and the failures by check."""

    persona: str
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    failures: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    exit_code: int = 0

    def line(self) -> str:
        by_check = ", ".join(f"{check} {n}" for check, n in sorted(self.failures.items())) or "none"
        return (
            f"{self.persona}: {self.operations} operations, {self.cases} cases in {self.seconds:.0f} s;"
            f" failures: {by_check}"
        )


def run(
    base_url: str,
    token: str,
    *,
    persona: str,
    examples: int,
    report_dir: Path,
    seed: int = SEED,
    phases: str = LONG_PHASES,
) -> Figures:
    """One ``st run`` over every operation of the served schema with ``token``; its figures."""
    report_dir.mkdir(parents=True, exist_ok=True)
    events = report_dir / f"{persona}.ndjson"
    command = [
        str(BIN / "st"),
        "run",
        f"{base_url}/api/schema/?format=json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--phases",
        phases,
        "--workers",
        "2",
        "--no-shrink",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events),
        "--output-truncate",
        "true",
    ]
    started = time.monotonic()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1", "COLUMNS": "160"}
    result = subprocess.run(command, cwd=report_dir, env=env, capture_output=True, text=True)
    figures = Figures(persona=persona, seconds=time.monotonic() - started, exit_code=result.returncode)
    _read_events(events, figures)
    (report_dir / f"{persona}.log").write_text(result.stdout + result.stderr)
    if result.returncode not in (0, 1) or not figures.operations:
        figures.messages.append(
            f"st run exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}"
        )
    return figures


def _read_events(path: Path, figures: Figures) -> None:
    """Count operations, cases and failures from the NDJSON event stream."""
    if not path.exists():
        return
    operations = set()
    seen = set()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for kind, body in event.items():
            if kind != "ScenarioFinished":
                continue
            label = body.get("label") or (body.get("recorder") or {}).get("label")
            recorder = body.get("recorder") or {}
            if label:
                operations.add(label)
            figures.cases += len(recorder.get("cases", {}))
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    name = check.get("name", "?")
                    # One per operation, check and kind, as schemathesis counts unique failures.
                    key = (label, name, failure.get("title"))
                    if key in seen:
                        continue
                    seen.add(key)
                    figures.failures[name] += 1
                    figures.messages.append(
                        _describe(label, name, failure, recorder.get("cases", {}).get(case_id))
                    )
    figures.operations = len(operations)


def _describe(label, name, failure, case) -> str:
    text = (
        f"{label} [{name}] {failure.get('code', '')} {failure.get('title', '')}: {failure.get('message', '')}"
    )
    sent = ((case or {}).get("value") or {}) if isinstance(case, dict) else {}
    request = {key: sent.get(key) for key in ("path_parameters", "query", "body") if sent.get(key)}
    if request:
        text += f"\n    sent: {json.dumps(request, default=str)[:600]}"
    return text


def prepare(db_url: str) -> dict[str, str]:
    """Migrate and load the demo organisation; API tokens of each persona, by persona."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DATABASE_URL"] = db_url
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", verbosity=0, interactive=False)
    call_command("seed_demo", verbosity=0)
    return issue_tokens()


def issue_tokens() -> dict[str, str]:
    from governance.choices import TokenScope
    from governance.models import User
    from governance.services import tokens

    return {
        persona: tokens.issue_token(
            actor=None, user=User.objects.get(username=username), name="schemathesis", scope=TokenScope.WRITE
        ).secret
        for persona, username in PERSONAS.items()
    }


def main() -> int:
    from bench.server import database_url, django_env, free_port, start_gunicorn, stop_gunicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=100, help="test cases per operation (default 100)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--personas", default=",".join(PERSONAS), help="comma-separated: officer,engineer")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "var" / "schemathesis")
    args = parser.parse_args()

    db_url, _ = database_url()
    secret = "schemathesis-bench-secret-key-" + "x" * 40
    os.environ.update(django_env(db_url, secret))  # this process seeds under the server's settings
    secrets = prepare(db_url)
    env = django_env(db_url, secret)
    port = free_port()
    args.report_dir.mkdir(parents=True, exist_ok=True)
    server = start_gunicorn(env, port, workers=4, log_path=args.report_dir / "gunicorn.log")
    try:
        results = [
            run(
                f"http://127.0.0.1:{port}",
                secrets[persona],
                persona=persona,
                examples=args.examples,
                report_dir=args.report_dir,
                seed=args.seed,
            )
            for persona in args.personas.split(",")
        ]
    finally:
        stop_gunicorn(server)
    print(
        f"schemathesis {args.examples} examples per operation, seed {args.seed}, checks: {', '.join(CHECKS)}"
    )
    for figures in results:
        print(figures.line())
    for figures in results:
        for message in figures.messages:
            print(f"- {figures.persona}: {message}")
    return 1 if any(f.failures or f.messages for f in results) else 0


if __name__ == "__main__":
    sys.exit(main())
