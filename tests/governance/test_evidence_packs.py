"""Evidence packs: a ZIP that verifies offline, with spreadsheet-safe CSV and safe member names."""

import csv
import datetime
import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from governance.models import Evidence
from governance.packs import PackScope, member_path, register_section, registered_sections, safe_name
from governance.packs.builder import write_pack
from governance.packs.writer import csv_chunks
from tests.factories import AISystemFactory, ControlFactory, ControlImplementationFactory, RiskFactory
from tests.governance.soa_helpers import HYPERLINK

pytestmark = pytest.mark.usefixtures("evidence_dir")

NASTY_NAME = "../../etc/passwd\x01a/b\\c:d\x07\r\n"
TODAY = datetime.date.today()


def _file_evidence(name: str, data: bytes, **fields) -> Evidence:
    stored = storages["evidence"].save("2026/01/" + hashlib.md5(data).hexdigest(), ContentFile(data))
    return Evidence.objects.create(
        title=fields.pop("title", "Evidence"),
        kind="file",
        file=stored,
        original_name=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        collected_on=TODAY - datetime.timedelta(days=3),
        **fields,
    )


@pytest.fixture
def register(iso, auditor):
    system = AISystemFactory(name=HYPERLINK)
    control = ControlFactory(title=HYPERLINK, description="@SUM(A1)", requirements=list(iso.req.values()))
    ControlImplementationFactory(control=control, system=system, justification="+1")
    RiskFactory(system=system, title="-2+3")
    _file_evidence(NASTY_NAME, b"%PDF-1.4 nasty\n")
    _file_evidence("report.pdf", b"%PDF-1.4 fine\n", title=HYPERLINK)
    return system


def _pack(tmp_path, user, frameworks=(), **scope) -> tuple[dict, object]:
    target = tmp_path / "pack.zip"
    with open(target, "wb") as handle:
        manifest = write_pack(
            PackScope(
                frameworks=tuple(frameworks),
                user=user,
                start=TODAY - datetime.timedelta(days=30),
                end=TODAY,
                **scope,
            ),
            handle,
        )
    extracted = tmp_path / "pack"
    with zipfile.ZipFile(target) as archive:
        archive.extractall(extracted)
    return manifest, extracted


def _verify(folder):
    return subprocess.run(
        [sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.django_db
def test_it_verifies_an_untouched_pack(tmp_path, register, iso, auditor):
    manifest, folder = _pack(tmp_path, auditor, frameworks=[iso.framework])
    result = _verify(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "OK"
    paths = {entry["path"] for entry in manifest["files"]}
    assert {"README.txt", "verify.py", "report.html", "systems.csv", "controls.csv", "risks.csv"} <= paths
    assert {"control_implementations.csv", "reviews.csv", "transparency_assessments.csv"} <= paths
    assert "evidence.csv" in paths
    assert any(p.startswith("soa/") and p.endswith(".csv") for p in paths)
    assert any(p.startswith("coverage/") and p.endswith(".json") for p in paths)
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["parameters"]["requested_by"] == "auditor"
    assert on_disk["generator"]["name"] == "verity"
    assert "audit_chain" in on_disk


@pytest.mark.django_db
@pytest.mark.parametrize("victim", ["controls.csv", "README.txt", "report.html", "soa", "evidence"])
def test_it_names_a_file_with_one_changed_byte(tmp_path, register, iso, auditor, victim):
    manifest, folder = _pack(tmp_path, auditor, frameworks=[iso.framework])
    if victim in ("evidence", "soa"):
        victim = next(e["path"] for e in manifest["files"] if e["path"].startswith(f"{victim}/"))
    path = folder / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = _verify(folder)
    assert result.returncode == 1
    assert victim in result.stdout
    assert "OK" not in result.stdout.split()


@pytest.mark.django_db
def test_it_names_missing_and_unlisted_files(tmp_path, register, iso, auditor):
    _manifest, folder = _pack(tmp_path, auditor, frameworks=[iso.framework])
    (folder / "risks.csv").unlink()
    (folder / "extra.txt").write_text("smuggled")
    result = _verify(folder)
    assert result.returncode == 1
    assert "risks.csv: listed in manifest.json but missing" in result.stdout
    assert "extra.txt: present but not listed" in result.stdout


@pytest.mark.django_db
def test_it_neutralises_the_hyperlink_control_in_every_csv(tmp_path, register, iso, auditor):
    _manifest, folder = _pack(tmp_path, auditor, frameworks=[iso.framework])
    csv_files = sorted(folder.rglob("*.csv"))
    assert len(csv_files) >= 8
    seen_in = []
    for path in csv_files:
        for row in csv.reader(io.StringIO(path.read_text())):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0")), (path.name, cell)
                if cell.lstrip("'").startswith(HYPERLINK):
                    assert cell == "'" + HYPERLINK, (path.name, cell)
                    seen_in.append(path.relative_to(folder).as_posix())
    assert {"controls.csv", "systems.csv", "control_implementations.csv", "evidence.csv"} <= set(seen_in)


def test_it_neutralises_every_leading_trigger():
    rows = [["h"], *([f"{c}cmd"] for c in ("=", "+", "-", "@", "\t", "\r", "\0")), [-5]]
    parsed = list(csv.reader(io.StringIO(b"".join(csv_chunks(rows)).decode())))
    assert [row[0] for row in parsed[1:8]] == [f"'{c}cmd" for c in ("=", "+", "-", "@", "\t", "\r", "\0")]
    assert parsed[8] == ["-5"]


@pytest.mark.django_db
def test_it_builds_safe_member_names_for_nasty_file_names(tmp_path, register, iso, auditor):
    manifest, folder = _pack(tmp_path, auditor, frameworks=[iso.framework])
    evidence_paths = [e["path"] for e in manifest["files"] if e["path"].startswith("evidence/")]
    assert len(evidence_paths) == 2
    for path in evidence_paths:
        folder_name, name = path.split("/")
        assert folder_name == "evidence"
        assert ".." not in name and "\\" not in name and ":" not in name
        assert all(ch.isprintable() and not ch.isspace() for ch in name)
    nasty = Evidence.objects.get(original_name=NASTY_NAME)
    assert f"evidence/{nasty.pk}-etc-passwd-a-b-c-d" in evidence_paths
    assert (folder / f"evidence/{nasty.pk}-etc-passwd-a-b-c-d").read_bytes() == b"%PDF-1.4 nasty\n"
    assert not (tmp_path / "etc").exists()


def test_it_sanitises_names_and_limits_their_length():
    assert safe_name("../..") == "file"
    assert safe_name("a" * 500) == "a" * 100
    assert member_path("evidence", 7, "../../x") == "evidence/7-x"
    assert "/" not in safe_name("a/b/../c")


@pytest.mark.django_db
def test_it_scopes_an_engineers_pack_to_their_teams(tmp_path, register, iso, engineer, team_a):
    own = AISystemFactory(owning_team=team_a)
    manifest, folder = _pack(tmp_path, engineer, frameworks=[iso.framework])
    slugs = [row[1] for row in csv.reader(io.StringIO((folder / "systems.csv").read_text()))][1:]
    assert slugs == [own.slug]
    assert register.slug not in (folder / "risks.csv").read_text()
    assert _verify(folder).returncode == 0


@pytest.mark.django_db
def test_it_writes_sections_registered_by_other_apps(tmp_path, auditor):
    def extra(scope):
        yield "extra/rows.csv", iter([["id", "title"], [1, HYPERLINK]])

    register_section("test-extra", extra)
    try:
        manifest, folder = _pack(tmp_path, auditor)
    finally:
        from governance import packs

        packs._SECTIONS.pop("test-extra")
    assert "test-extra" not in registered_sections()
    rows = list(csv.reader(io.StringIO((folder / "extra/rows.csv").read_text())))
    assert rows == [["id", "title"], ["1", f"'{HYPERLINK}"]]
    assert _verify(folder).returncode == 0
