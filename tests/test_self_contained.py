"""A clone of the repository is all Verity needs: the public data it imports ships inside the
packages, nothing reads a folder beside the repository, and a test run leaves no embedded
PostgreSQL behind."""

import os
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
DATA_FOLDERS = {"incidents": "data/aiid", "governance": "data/fmti"}
SKIPPED_DIRS = {".git", ".venv", "var", "__pycache__", ".pytest_cache", ".ruff_cache", "staticfiles"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".sh", ".json", ".html", ".yml", ".yaml"}


def _repository_files():
    for path in ROOT.rglob("*"):
        if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            yield path


def test_it_ships_the_vendored_data_with_the_packages():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]
    for package, folder in DATA_FOLDERS.items():
        files = {path for path in (ROOT / package / folder).rglob("*") if path.is_file()}
        assert {path.name for path in files} >= {"README.md"}, package
        shipped = {path for pattern in package_data[package] for path in (ROOT / package).glob(pattern)}
        assert files <= shipped, sorted(str(path) for path in files - shipped)
    assert (ROOT / "incidents" / "data" / "aiid" / "license.txt").is_file()
    assert (ROOT / "governance" / "data" / "fmti" / "LICENSE-CC-BY-4.0.txt").is_file()


def test_it_reads_nothing_from_a_folder_beside_the_repository():
    # Spelled in pieces so that this file does not find itself.
    needles = ("../" + "shared", '"shared" / ' + '"reference"', "shared/" + "reference")
    found = []
    for path in _repository_files():
        if path.suffix not in TEXT_SUFFIXES and path.name not in {"Makefile", "run"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}: {needle}" for needle in needles if needle in text]
    assert found == []


def test_it_leaves_no_embedded_postgresql_running_after_a_test_run():
    """A pytest run without DATABASE_URL starts the embedded server (settings do, as the run begins)
    and must stop it when it ends (tests/conftest.py, config/embedded.py). The run here only
    collects, which starts the server as any run does, at a fraction of the cost of creating a
    test database in a fresh cluster."""
    var_dir = Path(settings.VAR_DIR) / f"embedded-check-{uuid.uuid4().hex[:8]}"
    pgdata = var_dir / "pgdata"
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(VERITY_VAR_DIR=str(var_dir), VERITY_ENV="development")
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
            + ["--collect-only", "tests/governance/test_coverage.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert "tests collected" in run.stdout
        log = (pgdata / "log").read_text(encoding="utf-8", errors="replace")
        assert "database system is ready to accept connections" in log, "the run started its own server"
        assert log.rstrip().endswith("database system is shut down"), log[-500:]
        assert not (pgdata / "postmaster.pid").exists(), "the embedded server is still running"
        processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert str(pgdata) not in processes
    finally:
        if (pgdata / "postmaster.pid").exists():
            from config.embedded import stop

            stop(var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)
