"""Evidence packs: a ZIP that verifies offline, with spreadsheet-safe CSV and safe member names."""

import csv
import datetime
import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from governance.models import Evidence
from governance.packs import member_path, register_section, registered_sections, safe_name
from governance.packs.writer import csv_chunks
from tests.factories import AISystemFactory, ControlFactory, ControlImplementationFactory, RiskFactory
from tests.governance.pack_helpers import build_and_extract, run_verify
from tests.governance.soa_helpers import HYPERLINK
from tests.governance.test_audit_chain import _seal_until

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


@pytest.mark.django_db
def test_it_verifies_an_untouched_pack(tmp_path, register, iso, auditor):
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    result = run_verify(folder)
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
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    if victim in ("evidence", "soa"):
        victim = next(e["path"] for e in manifest["files"] if e["path"].startswith(f"{victim}/"))
    path = folder / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = run_verify(folder)
    assert result.returncode == 1
    assert victim in result.stdout
    assert "OK" not in result.stdout.split()


@pytest.mark.django_db
def test_it_names_missing_and_unlisted_files(tmp_path, register, iso, auditor):
    _manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    (folder / "risks.csv").unlink()
    (folder / "extra.txt").write_text("smuggled")
    result = run_verify(folder)
    assert result.returncode == 1
    assert "risks.csv: listed in manifest.json but missing" in result.stdout
    assert "extra.txt: present but not listed" in result.stdout


@pytest.mark.django_db
def test_it_neutralises_the_hyperlink_control_in_every_csv(tmp_path, register, iso, auditor):
    _manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
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
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
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
    manifest, folder = build_and_extract(tmp_path, engineer, frameworks=[iso.framework])
    slugs = [row[1] for row in csv.reader(io.StringIO((folder / "systems.csv").read_text()))][1:]
    assert slugs == [own.slug]
    assert register.slug not in (folder / "risks.csv").read_text()
    assert run_verify(folder).returncode == 0


@pytest.mark.django_db
def test_it_writes_sections_registered_by_other_apps(tmp_path, auditor):
    def extra(scope):
        yield "extra/rows.csv", iter([["id", "title"], [1, HYPERLINK]])

    register_section("test-extra", extra)
    try:
        manifest, folder = build_and_extract(tmp_path, auditor)
    finally:
        from governance import packs

        packs._SECTIONS.pop("test-extra")
    assert "test-extra" not in registered_sections()
    rows = list(csv.reader(io.StringIO((folder / "extra/rows.csv").read_text())))
    assert rows == [["id", "title"], ["1", f"'{HYPERLINK}"]]
    assert run_verify(folder).returncode == 0


# --- Service and API ------------------------------------------------------------------------

URL = "/api/v1/evidence-packs/"


@pytest.fixture
def run_tasks_now(monkeypatch):
    from governance.tasks import packs as pack_tasks

    def build_now(args, **_options):
        pack_tasks.build_evidence_pack(*args)

    monkeypatch.setattr(pack_tasks.build_evidence_pack, "apply_async", build_now)


@pytest.mark.django_db
def test_it_builds_a_pack_into_storage(tmp_path, register, iso, auditor):
    from governance.models import EvidencePack
    from governance.services.pack_builds import build_pack

    pack = build_pack(actor=auditor, frameworks=[iso.framework], start=TODAY, end=TODAY)
    assert pack.status == EvidencePack.Status.READY, pack.error
    data = pack.file.open("rb").read()
    assert pack.size == len(data) and pack.sha256 == hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "pack")
    assert run_verify(tmp_path / "pack").stdout.strip() == "OK"


@pytest.mark.django_db
def test_it_requests_polls_and_downloads_a_pack_through_the_api(
    tmp_path, register, iso, auditor, api_as, run_tasks_now, django_capture_on_commit_callbacks
):
    from governance.models import ChangeEvent, PackDownload

    client = api_as(auditor)
    payload = {
        "frameworks": ["iso-iec-42001"],
        "systems": [register.slug],
        "start": str(TODAY),
        "end": str(TODAY),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, payload, format="json")
    assert response.status_code == 202, response.content
    pack_id = response.json()["id"]
    assert response["Location"] == f"http://testserver{URL}{pack_id}/"
    status = client.get(response["Location"]).json()
    assert status["status"] == "ready", status
    # What was asked, in the names a request takes (not the ids the pack stores)
    assert status["parameters"] == {
        "frameworks": [f"iso-iec-42001:{iso.framework.version}"],
        "team": None,
        "systems": [register.slug],
        "start": str(TODAY),
        "end": str(TODAY),
    }
    assert status["download_url"] == f"http://testserver{URL}{pack_id}/download/"
    assert client.get(URL).json()["results"][0]["parameters"] == status["parameters"]
    download = client.get(status["download_url"])
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == status["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "pack")
    assert run_verify(tmp_path / "pack").stdout.strip() == "OK"
    recorded = PackDownload.objects.get()
    assert recorded.user == auditor
    assert ChangeEvent.objects.filter(
        table_name="governance_packdownload", object_pk=str(recorded.pk)
    ).exists()


@pytest.mark.django_db
def test_it_lists_packs_with_their_scope_in_a_constant_number_of_queries(register, iso, auditor, api_as):
    from governance.models import EvidencePack
    from governance.services.pack_builds import _parameters
    from tests.queries import steady_state_queries

    def make(count):
        for _ in range(count):
            systems = [AISystemFactory(owning_team=register.owning_team)]
            parameters = _parameters([iso.framework], register.owning_team, systems, None, None)
            EvidencePack.objects.create(requested_by=auditor, parameters=parameters)

    client = api_as(auditor)
    make(1)
    few, _ = steady_state_queries(client, URL)
    make(10)
    many, body = steady_state_queries(client, URL)
    assert len(body["results"]) == 11 and few == many
    assert body["results"][0]["parameters"]["team"] == register.owning_team.slug


@pytest.mark.django_db
def test_it_keeps_packs_to_their_readers(register, iso, auditor, engineer, other_engineer, api_as):
    from governance.services.pack_builds import build_pack

    pack = build_pack(actor=engineer, frameworks=[iso.framework])
    assert api_as(other_engineer).get(f"{URL}{pack.pk}/").status_code == 404
    assert api_as(other_engineer).get(f"{URL}{pack.pk}/download/").status_code == 404
    assert api_as(auditor).get(f"{URL}{pack.pk}/").status_code == 200
    response = api_as(engineer).post(
        URL, {"frameworks": ["iso-iec-42001"], "systems": [register.slug]}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_it_builds_a_pack_from_the_framework_and_system_admin_lists(
    client, register, iso, auditor, run_tasks_now, django_capture_on_commit_callbacks
):
    from governance.models import EvidencePack

    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)
    for url, action, pk in [
        ("/admin/governance/framework/", "build_pack_for_frameworks", iso.framework.pk),
        ("/admin/governance/aisystem/", "build_pack_for_systems", register.pk),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            form = {"action": action, "_selected_action": [pk]}
            response = client.post(url, form, follow=True)
        assert response.status_code == 200
        assert "is being built" in response.content.decode()
    packs = list(EvidencePack.objects.order_by("id"))
    assert [p.status for p in packs] == ["ready", "ready"]
    assert packs[1].parameters["systems"] == [register.pk]
    assert client.get(f"/admin/governance/evidencepack/{packs[0].pk}/change/").status_code == 200


# --- The audit chain segment ----------------------------------------------------------------


@pytest.fixture
def sealed_chain(transactional_db):
    from governance.models import ChangeEvent
    from tests.factories import TeamFactory

    for n in range(3):
        TeamFactory(slug=f"chain-{n}", name=f"=cmd{n}")
    _seal_until(list(ChangeEvent.objects.values_list("id", flat=True)))


def test_it_verifies_the_audit_chain_segment_and_names_an_edited_line(tmp_path, sealed_chain, auditor):
    manifest, folder = build_and_extract(tmp_path, auditor)
    segment = manifest["audit_chain"]["segment"]
    assert segment["lines"] >= 3
    assert run_verify(folder).stdout.strip() == "OK"

    lines = (folder / "audit_log.jsonl").read_text().splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["event"]["reason"] = "covering my tracks"
    lines[1] = json.dumps(edited, sort_keys=True) + "\n"
    (folder / "audit_log.jsonl").write_text("".join(lines))
    result = run_verify(folder)
    assert result.returncode == 1
    assert "audit_log.jsonl: SHA-256" in result.stdout or "audit_log.jsonl: size" in result.stdout
    assert (
        f"audit_log.jsonl line 2 (seq {edited['seq']}): the event does not match its event_hash"
        in result.stdout
    )


def test_it_names_a_removed_audit_log_line(tmp_path, sealed_chain, auditor):
    _manifest, folder = build_and_extract(tmp_path, auditor)
    lines = (folder / "audit_log.jsonl").read_text().splitlines(keepends=True)
    (folder / "audit_log.jsonl").write_text("".join(lines[:1] + lines[2:]))
    result = run_verify(folder)
    assert result.returncode == 1
    assert "audit_log.jsonl line 2" in result.stdout and "a link is missing" in result.stdout


def _seal_everything() -> None:
    from governance.models import ChangeEvent

    _seal_until(list(ChangeEvent.objects.values_list("id", flat=True)))


def test_an_engineers_audit_log_withholds_events_outside_their_scope(
    tmp_path, transactional_db, engineer, team_a
):
    own = AISystemFactory(owning_team=team_a, name="Own team's assistant")
    AISystemFactory(name="Another team's secret project")
    _seal_everything()

    manifest, folder = build_and_extract(tmp_path, engineer)
    text = (folder / "audit_log.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    shown = [line["event"] for line in lines if line["event"] is not None]
    withheld = [line for line in lines if line["withheld"]]
    assert any(e["root_table"] == "governance_aisystem" and e["root_pk"] == str(own.pk) for e in shown)
    assert all(e["root_table"] == "governance_aisystem" for e in shown)
    assert "secret project" not in text
    assert withheld and all(line["event"] is None for line in withheld)
    assert manifest["audit_chain"]["segment"]["withheld"] == len(withheld)
    assert run_verify(folder).stdout.strip() == "OK"

    # A withheld link is still bound into the chain: forging its event hash is named.
    number = lines.index(withheld[0]) + 1
    forged = text.splitlines(keepends=True)
    forged[number - 1] = json.dumps({**withheld[0], "event_hash": "0" * 64}) + "\n"
    (folder / "audit_log.jsonl").write_text("".join(forged))
    result = run_verify(folder)
    assert result.returncode == 1
    assert f"audit_log.jsonl line {number} (seq {withheld[0]['seq']}): chain_hash does not follow" in (
        result.stdout
    )


def test_an_auditors_audit_log_holds_every_event_body(tmp_path, sealed_chain, auditor):
    manifest, folder = build_and_extract(tmp_path, auditor)
    lines = [json.loads(line) for line in (folder / "audit_log.jsonl").read_text().splitlines()]
    assert lines and all(line["event"] is not None and not line["withheld"] for line in lines)
    assert manifest["audit_chain"]["segment"]["withheld"] == 0
    assert {line["event"]["occurred_at"][-1] for line in lines} == {"Z"}


def test_a_pack_is_read_in_one_read_only_repeatable_read_snapshot(tmp_path, transactional_db, auditor):
    from django.db import connection

    seen = {}

    def probe(scope):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"
            )
            seen["isolation"], seen["read_only"] = cursor.fetchone()
        yield "probe.txt", iter([b"probed\n"])

    register_section("test-probe", probe)
    try:
        build_and_extract(tmp_path, auditor)
    finally:
        from governance import packs

        packs._SECTIONS.pop("test-probe")
    assert seen == {"isolation": "repeatable read", "read_only": "on"}
