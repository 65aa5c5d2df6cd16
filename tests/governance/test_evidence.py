"""Evidence: files are checked by their bytes, stored hashed under generated names and served only
as downloads within the caller's scope; links are evidence too."""

import datetime
import hashlib
import io
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import factory
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import choices
from governance.exceptions import NotAllowed, TooLarge, UnacceptableContent
from governance.models import Control, ControlImplementation, Evidence, Framework, Requirement
from governance.services import evidence as evidence_service
from tests.factories import AISystemFactory

pytestmark = pytest.mark.usefixtures("team_a")  # the payloads below name team-a

URL = "/api/v1/evidence/"
STORED_NAME = re.compile(r"^\d{4}/\d{2}/[0-9a-f]{32}$")


# --- Real files -----------------------------------------------------------------------------


def make_pdf(text: str = "Quarterly bias evaluation: passed") -> bytes:
    """A small, well-formed one-page PDF."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_png() -> bytes:
    """A 1x1 red pixel."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
WEBP = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8L" + struct.pack("<I", 10) + b"\x2f" + b"\x00" * 9


_OOXML = {
    "docx": (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    "pptx": (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
    "docm": ("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),
}


def make_office(kind: str) -> bytes:
    part, content_type = _OOXML[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="' + part + '" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument"/></Relationships>',
        )
        archive.writestr(part, '<?xml version="1.0" encoding="UTF-8"?><root/>')
        if kind == "docm":
            archive.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0macro")
    return buffer.getvalue()


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("results.csv", "metric,value\naccuracy,0.93\n")
    return buffer.getvalue()


def executable() -> bytes:
    path = shutil.which("true")
    if path is None:
        pytest.skip("no /usr/bin/true to use as a real executable")
    return Path(path).read_bytes()


HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>\n'


# --- Catalog rows the evidence links to -----------------------------------------------------


class FrameworkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Framework

    code = factory.Sequence(lambda n: f"framework-{n}")
    version = "1.0"
    name = factory.Sequence(lambda n: f"Framework {n}")
    short_name = factory.Sequence(lambda n: f"FW{n}")
    publisher = "Standards body"
    licence = "Public domain"
    loaded_from = "tests"


class RequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Requirement

    framework = factory.SubFactory(FrameworkFactory)
    ref_id = factory.Sequence(lambda n: f"R-{n}")
    kind = choices.RequirementKind.CLAUSE
    title = factory.Sequence(lambda n: f"Requirement {n}")
    order = factory.Sequence(lambda n: n)


class ControlFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Control

    code = factory.Sequence(lambda n: f"ctl-{n}")
    title = factory.Sequence(lambda n: f"Control {n}")
    control_type = choices.ControlType.PROCESS
    frequency = choices.ControlFrequency.QUARTERLY


class ControlImplementationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ControlImplementation

    control = factory.SubFactory(ControlFactory)
    system = factory.SubFactory(AISystemFactory)


# --- Fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def evidence_dir(settings, tmp_path, monkeypatch):
    """Evidence files go to a fresh directory; the storages handler is rebuilt for it."""
    location = tmp_path / "evidence"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": None},
        },
    }
    storages._storages = {}
    # The model field resolved its storage when the model was defined: point it here too.
    monkeypatch.setattr(Evidence._meta.get_field("file"), "storage", storages["evidence"])
    return location


def stored_files(location: Path) -> list[Path]:
    return sorted(path for path in location.rglob("*") if path.is_file()) if location.exists() else []


def upload(name: str, content: bytes, content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def file_payload(name="report.pdf", content=None, **fields):
    return {
        "title": "Bias evaluation Q1",
        "collected_on": "2025-03-31",
        "team": "team-a",
        "file": upload(name, make_pdf() if content is None else content),
        **fields,
    }


def post_file(client, name="report.pdf", content=None, **fields):
    return client.post(URL, file_payload(name, content, **fields), format="multipart")


def raw_multipart(fields: dict, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body written by hand, so the file name goes out exactly as given."""
    boundary = "verity-test-boundary-5f1c"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def download(client, evidence_id, **headers):
    """The response and its body; reading a streamed body to the end also closes the file."""
    response = client.get(f"{URL}{evidence_id}/download/", **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


FIELDS = {"title": "Bias evaluation Q1", "collected_on": "2025-03-31", "team": "team-a"}


# --- Storing and downloading ----------------------------------------------------------------


def test_it_stores_the_sha256_of_the_uploaded_bytes_and_serves_the_same_bytes(api_as, engineer, evidence_dir):
    content = make_pdf()
    client = api_as(engineer)

    response = post_file(client, content=content)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["content_type"] == "application/pdf"
    assert body["original_name"] == "report.pdf"
    assert body["kind"] == "file"
    assert body["uploaded_by"] == "engineer"
    assert body["download_url"].endswith(f"{URL}{body['id']}/download/")
    response, downloaded = download(client, body["id"])
    assert response.status_code == 200
    assert downloaded == content
    assert hashlib.sha256(downloaded).hexdigest() == body["sha256"]
    evidence = Evidence.objects.get(pk=body["id"])
    assert (evidence_dir / evidence.file.name).read_bytes() == content


def test_it_stores_the_file_under_a_generated_name_not_the_clients(api_as, officer, evidence_dir):
    response = post_file(api_as(officer), name="Q1 results (final).pdf")

    evidence = Evidence.objects.get(pk=response.json()["id"])
    assert STORED_NAME.match(evidence.file.name), evidence.file.name
    assert "results" not in evidence.file.name
    assert evidence.original_name == "Q1 results (final).pdf"
    assert [path.relative_to(evidence_dir).as_posix() for path in stored_files(evidence_dir)] == [
        evidence.file.name
    ]


def test_it_keeps_a_path_in_the_file_name_out_of_the_storage(api_as, officer, evidence_dir, tmp_path):
    body, content_type = raw_multipart(FIELDS, "../../etc/passwd.pdf", make_pdf())

    response = api_as(officer).post(URL, body, content_type=content_type)

    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get()
    assert STORED_NAME.match(evidence.file.name)
    assert evidence.original_name == "passwd.pdf"
    assert not (tmp_path / "etc").exists()
    assert len(stored_files(evidence_dir)) == 1
    assert stored_files(evidence_dir)[0].parent.parent.parent == evidence_dir


@pytest.mark.parametrize(
    "given,cleaned",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
        ("..", ""),
        (".hidden.pdf", "hidden.pdf"),
        ('re"port\x00\r\n.pdf', "re_port___.pdf"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ],
)
def test_it_cleans_client_file_names(given, cleaned):
    assert evidence_service.clean_file_name(given) == cleaned


def test_it_downloads_as_an_attachment_browsers_will_not_render(api_as, engineer):
    client = api_as(engineer)
    created = post_file(client, name="report.pdf").json()

    response, _ = download(client, created["id"])

    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Cache-Control"] == "private, no-store"
    assert response["ETag"] == f'"{created["sha256"]}"'
    assert response["Repr-Digest"].startswith("sha-256=:")
    assert int(response["Content-Length"]) == created["size"]


def test_it_downloads_whatever_the_client_accepts(api_as, engineer):
    client = api_as(engineer)
    created = post_file(client).json()

    response, body = download(client, created["id"], HTTP_ACCEPT="application/pdf")
    missing, _ = download(client, 999999, HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert body.startswith(b"%PDF-")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "name,content,content_type",
    [
        ("pixel.png", make_png(), "image/png"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("pixel.gif", GIF, "image/gif"),
        ("pixel.webp", WEBP, "image/webp"),
        ("policy.docx", make_office("docx"), evidence_service.DOCX),
        ("register.xlsx", make_office("xlsx"), evidence_service.XLSX),
        ("briefing.pptx", make_office("pptx"), evidence_service.PPTX),
        ("metrics.csv", b"metric,value\naccuracy,0.93\n", "text/csv"),
        ("run.json", b'{"accuracy": 0.93}\n', "application/json"),
        ("notes.md", "# Review\n\nAll checks passed \u2714\n".encode(), "text/markdown"),
        ("log.txt", b"2025-03-31 evaluation finished\n", "text/plain"),
    ],
)
def test_it_accepts_allowed_types_by_their_bytes(api_as, officer, name, content, content_type):
    client = api_as(officer)

    response = post_file(client, name=name, content=content)

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == content_type
    downloaded, body = download(client, response.json()["id"])
    assert downloaded["Content-Type"].startswith(content_type)
    assert body == content


def test_it_names_a_file_without_extension_after_its_type(api_as, officer):
    response = post_file(api_as(officer), name="scan", content=make_png())

    assert response.status_code == 201
    assert response.json()["original_name"] == "scan.png"


# --- Size limits ----------------------------------------------------------------------------


def test_it_answers_413_to_a_60_mb_upload(api_as, officer, evidence_dir):
    content = b"%PDF-1.7\n" + b"\x00" * (60 * 1024 * 1024)
    body, content_type = raw_multipart(FIELDS, "huge.pdf", content)

    response = api_as(officer).post(URL, body, content_type=content_type)

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert str(50 * 1024 * 1024) in response.json()["detail"]
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_a_large_body_by_its_length_before_reading_it(api_as, officer, evidence_dir):
    # The body itself is small and valid: only the early check on Content-Length can refuse it.
    body, content_type = raw_multipart(FIELDS, "report.pdf", make_pdf())

    response = api_as(officer).post(
        URL, body, content_type=content_type, CONTENT_LENGTH=str(60 * 1024 * 1024)
    )

    assert response.status_code == 413
    assert "request body" in response.json()["detail"]
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_a_file_over_the_limit_while_reading_it(api_as, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_MAX_BYTES = 10_000
    content = make_pdf() + b"%" + b"padding " * 2_500  # > 10 000 bytes, inside the body allowance

    response = post_file(api_as(officer), content=content)

    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "request_too_large"
    assert body["detail"].startswith("The file is larger than the limit of 10000 bytes")
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_early_when_the_limit_is_lowered(api_as, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_MAX_BYTES = 10_000

    response = post_file(api_as(officer), content=make_pdf() + b"\n%" + b"x" * 200_000)

    assert response.status_code == 413
    assert "request body" in response.json()["detail"]
    assert stored_files(evidence_dir) == []


def test_it_counts_the_bytes_it_reads_not_the_size_the_client_declared(officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_MAX_BYTES = 1_000
    lying = upload("report.pdf", make_pdf() + b"%" + b"x" * 5_000)
    lying.size = 10

    with pytest.raises(TooLarge):
        evidence_service.add_file_evidence(
            actor=officer, upload=lying, title="Too big", collected_on=datetime.date(2025, 1, 1)
        )

    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_accepts_a_file_of_exactly_the_limit(api_as, officer, settings):
    content = make_pdf()
    settings.VERITY_EVIDENCE_MAX_BYTES = len(content)

    assert post_file(api_as(officer), content=content).status_code == 201


# --- Refused content ------------------------------------------------------------------------


def test_it_answers_422_to_html_named_pdf(api_as, officer, evidence_dir):
    response = post_file(api_as(officer), name="report.pdf", content=HTML)

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["status"] == 422
    assert "HTML" in body["errors"]["file"][0]
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "executable"),
        ("true", None, "executable"),
        ("true.pdf", None, "executable"),
        ("diagram.svg", SVG, "SVG"),
        ("diagram.txt", b'<?xml version="1.0"?>\n' + SVG, "XML"),
        ("page.html", HTML, "HTML"),
        ("page.txt", b"  \n<html><p>hi</p></html>", "HTML"),
        ("comment.md", b"<!-- hidden --><script>alert(1)</script>", "HTML"),
        ("notes.pdf", b"Just some notes.\n", "plain text"),
        ("notes.html", b"Just some notes.\n", "plain text"),
        ("pixel.pdf", make_png(), "PNG image"),
        ("policy.pdf", make_office("docx"), "Word document"),
        ("archive.zip", make_zip(), "ZIP archives"),
        ("macro.docm", make_office("docm"), "macros"),
        ("macro.docx", make_office("docm"), "macros"),
        ("utf16.txt", "hello".encode("utf-16"), "not of an accepted type"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not of an accepted type"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_it_answers_422_to_refused_content(api_as, officer, evidence_dir, name, content, words):
    content = executable() if content is None else content

    response = post_file(api_as(officer), name=name, content=content)

    assert response.status_code == 422, response.content
    messages = response.json()["errors"]["file"]
    assert words in messages[0], messages
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_content_in_the_service_without_writing(officer, evidence_dir):
    with pytest.raises(UnacceptableContent) as refused:
        evidence_service.add_file_evidence(
            actor=officer,
            upload=upload("report.pdf", HTML),
            title="Not a report",
            collected_on=datetime.date(2025, 1, 1),
        )

    assert refused.value.field == "file"
    assert stored_files(evidence_dir) == []


# --- Scope ----------------------------------------------------------------------------------


@pytest.fixture
def team_b_evidence(other_engineer, api_as):
    response = post_file(api_as(other_engineer), team="team-b", name="team-b.pdf")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_hides_another_teams_evidence(api_as, engineer, team_b_evidence):
    client = api_as(engineer)
    url = f"{URL}{team_b_evidence['id']}/"

    assert client.get(url).status_code == 404
    response, body = download(client, team_b_evidence["id"])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert b"%PDF" not in body
    assert client.patch(url, {"title": "Mine now"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(URL).json()["results"] == []
    assert Evidence.objects.get(pk=team_b_evidence["id"]).title == "Bias evaluation Q1"


def test_it_shows_every_team_and_organisation_wide_evidence_to_officers_and_auditors(
    api_as, officer, auditor, engineer, team_b_evidence
):
    org_wide = post_file(api_as(officer), team="", name="policy.pdf")
    assert org_wide.status_code == 201, org_wide.content
    assert org_wide.json()["team"] is None

    for persona in (officer, auditor):
        listed = {row["id"] for row in api_as(persona).get(URL).json()["results"]}
        assert listed == {team_b_evidence["id"], org_wide.json()["id"]}
        assert download(api_as(persona), team_b_evidence["id"])[0].status_code == 200

    engineer_client = api_as(engineer)
    assert [row["id"] for row in engineer_client.get(URL).json()["results"]] == [org_wide.json()["id"]]
    assert download(engineer_client, org_wide.json()["id"])[0].status_code == 200
    changed = engineer_client.patch(f"{URL}{org_wide.json()['id']}/", {"title": "x"}, format="json")
    assert changed.status_code == 403


def test_it_answers_403_when_an_auditor_adds_evidence(api_as, auditor, evidence_dir):
    client = api_as(auditor)

    assert post_file(client).status_code == 403
    link = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://dashboards.example.com/bias"}, format="json"
    )
    assert link.status_code == 403
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


@pytest.mark.parametrize("team", ["team-b", ""])
def test_it_keeps_engineers_to_their_own_teams(api_as, engineer, team_b, evidence_dir, team):
    response = post_file(api_as(engineer), team=team)

    assert response.status_code == 400, response.content
    assert "team" in response.json()["errors"]
    assert stored_files(evidence_dir) == []


def test_it_links_implementations_and_requirements_within_scope(
    api_as, engineer, system_a, team_b, evidence_dir
):
    own = ControlImplementationFactory(system=system_a)
    org_wide = ControlImplementationFactory(system=None)
    foreign = ControlImplementationFactory(system=AISystemFactory(owning_team=team_b))
    requirement = RequirementFactory()
    client = api_as(engineer)

    refused = post_file(client, implementations=[own.pk, foreign.pk])
    accepted = post_file(
        client, implementations=[own.pk, org_wide.pk], requirements=[requirement.pk], name="linked.pdf"
    )

    assert refused.status_code == 400
    assert "implementations" in refused.json()["errors"]
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["implementations"] == sorted([own.pk, org_wide.pk])
    assert accepted.json()["requirements"] == [requirement.pk]
    assert len(stored_files(evidence_dir)) == 1


def test_it_refuses_invisible_implementations_in_the_service_too(engineer, team_b, evidence_dir):
    foreign = ControlImplementationFactory(system=AISystemFactory(owning_team=team_b))

    with pytest.raises(ValidationError) as refused:
        evidence_service.add_file_evidence(
            actor=engineer,
            upload=upload("report.pdf", make_pdf()),
            title="Bias evaluation",
            collected_on=datetime.date(2025, 1, 1),
            team=engineer.teams.get(),
            implementations=[foreign],
        )

    assert "implementations" in refused.value.message_dict
    assert stored_files(evidence_dir) == []


def test_it_opens_files_only_within_scope(engineer, other_engineer, officer):
    evidence = evidence_service.add_file_evidence(
        actor=other_engineer,
        upload=upload("report.pdf", make_pdf()),
        title="Team B report",
        collected_on=datetime.date(2025, 1, 1),
        team=other_engineer.teams.get(),
    )

    with pytest.raises(NotAllowed):
        evidence_service.open_evidence_file(actor=engineer, evidence=evidence)
    with evidence_service.open_evidence_file(actor=officer, evidence=evidence) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == evidence.sha256


# --- Links, updates and deletes -------------------------------------------------------------


def test_it_adds_link_evidence_with_json(api_as, engineer):
    client = api_as(engineer)

    response = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://dashboards.example.com/bias"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "link"
    assert body["url"] == "https://dashboards.example.com/bias"
    assert body["download_url"] is None
    assert body["sha256"] == ""
    assert download(client, body["id"])[0].status_code == 404


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"kind": "link"}, "url"),
        ({"kind": "link", "url": "ftp://files.example.com/report"}, "url"),
        ({"kind": "file"}, "file"),
        (
            {"url": "https://example.com", "valid_from": "2025-02-01", "valid_until": "2025-01-01"},
            "valid_until",
        ),
    ],
)
def test_it_rejects_incomplete_evidence_with_field_messages(api_as, officer, payload, field):
    response = api_as(officer).post(URL, {**FIELDS, **payload}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Evidence.objects.exists()


def test_it_updates_details_but_never_the_stored_file(api_as, engineer, evidence_dir):
    client = api_as(engineer)
    created = post_file(client).json()
    url = f"{URL}{created['id']}/"

    renamed = client.patch(
        url, {"title": "Bias evaluation Q1 (signed)", "valid_until": "2026-03-31"}, format="json"
    )
    replaced = client.patch(url, {"file": upload("other.pdf", make_pdf("other"))}, format="multipart")
    moved = client.patch(url, {"team": "team-b"}, format="json")

    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["title"] == "Bias evaluation Q1 (signed)"
    assert renamed.json()["sha256"] == created["sha256"]
    assert replaced.status_code == 400
    assert "file" in replaced.json()["errors"]
    assert moved.status_code == 400
    assert "team" in moved.json()["errors"]
    assert len(stored_files(evidence_dir)) == 1


def test_it_removes_the_file_once_the_deletion_commits(
    api_as, engineer, evidence_dir, django_capture_on_commit_callbacks
):
    client = api_as(engineer)
    created = post_file(client).json()
    assert len(stored_files(evidence_dir)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{URL}{created['id']}/")

    assert response.status_code == 204
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


# --- Lists ----------------------------------------------------------------------------------


def test_it_filters_evidence(api_as, officer, system_a, team_b):
    client = api_as(officer)
    implementation = ControlImplementationFactory(system=system_a)
    requirement = RequirementFactory()
    today = datetime.date.today()
    expired = post_file(client, title="Old pen test", valid_until=str(today - datetime.timedelta(days=1)))
    current = post_file(
        client,
        team="team-b",
        valid_until=str(today + datetime.timedelta(days=30)),
        implementations=[implementation.pk],
        requirements=[requirement.pk],
    )
    link = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://wiki.example.com/fairness"}, format="json"
    )
    ids = {"expired": expired.json()["id"], "current": current.json()["id"], "link": link.json()["id"]}

    def listed(query):
        return {row["id"] for row in client.get(f"{URL}?{query}").json()["results"]}

    assert listed("team=team-b") == {ids["current"]}
    assert listed("kind=link") == {ids["link"]}
    assert listed("expired=true") == {ids["expired"]}
    assert listed("expired=false") == {ids["current"], ids["link"]}
    assert listed(f"implementation={implementation.pk}") == {ids["current"]}
    assert listed(f"requirement={requirement.pk}") == {ids["current"]}
    assert listed("q=pen+test") == {ids["expired"]}
    assert listed("q=fairness") == {ids["link"]}
    assert client.get(f"{URL}{ids['expired']}/").json()["expired"] is True


def test_it_lists_evidence_in_constant_queries(api_as, officer, system_a):
    client = api_as(officer)
    implementations = ControlImplementationFactory.create_batch(2, system=system_a)
    requirements = RequirementFactory.create_batch(2)

    def seed(n):
        for _ in range(n):
            evidence = evidence_service.add_file_evidence(
                actor=officer,
                upload=upload("report.pdf", make_pdf()),
                title="Report",
                collected_on=datetime.date(2025, 1, 1),
                team=system_a.owning_team,
                owner=officer,
                implementations=implementations,
                requirements=requirements,
            )
            assert evidence.pk

    def count():
        client.get(URL)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{URL}?page_size=50")
        assert response.status_code == 200
        return len(queries.captured_queries), len(response.json()["results"])

    seed(3)
    small = count()
    seed(12)
    large = count()

    assert (small[1], large[1]) == (3, 15)
    assert small[0] == large[0], (small, large)


def test_it_documents_evidence_in_the_openapi_schema(client, officer):
    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()

    assert {"/api/v1/evidence/", "/api/v1/evidence/{id}/", "/api/v1/evidence/{id}/download/"} <= set(
        schema["paths"]
    )
    assert "multipart/form-data" in schema["paths"]["/api/v1/evidence/"]["post"]["requestBody"]["content"]


# --- Admin ----------------------------------------------------------------------------------

ADMIN_ADD = "/admin/governance/evidence/add/"


def admin_form(**fields):
    return {
        "kind": "file",
        "title": "Model card review",
        "description": "",
        "team": "",
        "owner": "",
        "collected_on": "2025-03-31",
        "valid_from": "",
        "valid_until": "",
        "url": "",
        "_save": "Save",
        **fields,
    }


def test_it_adds_a_file_in_the_admin_through_the_same_checks(client, officer, team_a, evidence_dir):
    client.force_login(officer)
    content = make_pdf()

    refused = client.post(ADMIN_ADD, admin_form(upload=upload("report.pdf", HTML)))
    added = client.post(ADMIN_ADD, admin_form(team=team_a.pk, upload=upload("review.pdf", content)))

    assert refused.status_code == 200
    assert "HTML" in refused.content.decode()
    assert added.status_code == 302, added.content.decode()[:3000]
    evidence = Evidence.objects.get()
    assert evidence.sha256 == hashlib.sha256(content).hexdigest()
    assert evidence.content_type == "application/pdf"
    assert evidence.uploaded_by == officer
    assert STORED_NAME.match(evidence.file.name)
    assert len(stored_files(evidence_dir)) == 1

    page = client.get(f"/admin/governance/evidence/{evidence.pk}/change/").content.decode()
    download_url = f"{URL}{evidence.pk}/download/"
    assert download_url in page
    assert evidence.sha256 in page
    response = client.get(download_url)
    assert b"".join(response.streaming_content) == content


def test_it_refuses_an_oversized_file_on_the_admin_form(client, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_MAX_BYTES = 1_000
    client.force_login(officer)

    response = client.post(ADMIN_ADD, admin_form(upload=upload("big.pdf", make_pdf() + b"%" + b"x" * 2_000)))

    assert response.status_code == 200
    assert "larger than the limit" in response.content.decode()
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_keeps_engineers_to_their_teams_in_the_admin(
    client, engineer, other_engineer, team_a, team_b, evidence_dir
):
    evidence_service.add_file_evidence(
        actor=other_engineer,
        upload=upload("b.pdf", make_pdf()),
        title="Team B only",
        collected_on=datetime.date(2025, 1, 1),
        team=team_b,
    )
    client.force_login(engineer)

    listing = client.get("/admin/governance/evidence/").content.decode()
    foreign = client.post(ADMIN_ADD, admin_form(team=team_b.pk, upload=upload("a.pdf", make_pdf())))
    org_wide = client.post(ADMIN_ADD, admin_form(upload=upload("a.pdf", make_pdf())))
    own = client.post(ADMIN_ADD, admin_form(team=team_a.pk, upload=upload("a.pdf", make_pdf())))

    assert "Team B only" not in listing
    assert foreign.status_code == 200 and org_wide.status_code == 200
    assert own.status_code == 302
    assert Evidence.objects.filter(team=team_a).count() == 1
    assert len(stored_files(evidence_dir)) == 2


def test_it_shows_evidence_pages_in_the_admin_to_every_role(client, officer, auditor, engineer, team_a):
    link = evidence_service.add_link_evidence(
        actor=officer,
        url="https://wiki.example.com/fairness",
        title="Fairness wiki page",
        collected_on=datetime.date(2025, 1, 1),
        valid_until=datetime.date(2025, 6, 30),
    )
    stored = evidence_service.add_file_evidence(
        actor=officer,
        upload=upload("report.pdf", make_pdf()),
        title="Signed report",
        collected_on=datetime.date(2025, 1, 1),
        team=team_a,
    )
    base = "/admin/governance/evidence/"

    for persona in (officer, auditor, engineer):
        client.force_login(persona)
        for query in (
            "",
            "?expired=yes",
            "?expired=no",
            "?kind=link",
            f"?team__id__exact={team_a.pk}",
            "?q=report",
        ):
            assert client.get(f"{base}{query}").status_code == 200, (persona, query)
        for evidence in (link, stored):
            assert client.get(f"{base}{evidence.pk}/change/").status_code == 200, (persona, evidence)
            assert client.get(f"{base}{evidence.pk}/history/").status_code == 200, (persona, evidence)

    client.force_login(auditor)
    page = client.get(f"{base}{stored.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert f"{URL}{stored.pk}/download/" in page
    assert client.get(f"{base}?expired=yes").content.decode().count("Fairness wiki page") == 1
    client.force_login(engineer)
    assert 'name="_save"' not in client.get(f"{base}{link.pk}/change/").content.decode()


def test_it_edits_details_in_the_admin_through_the_service(client, engineer, team_a, team_b, evidence_dir):
    evidence = evidence_service.add_file_evidence(
        actor=engineer,
        upload=upload("report.pdf", make_pdf()),
        title="Draft report",
        collected_on=datetime.date(2025, 1, 1),
        team=team_a,
    )
    client.force_login(engineer)
    url = f"/admin/governance/evidence/{evidence.pk}/change/"
    form = {
        "title": "Signed report",
        "description": "",
        "team": team_a.pk,
        "owner": "",
        "collected_on": "2025-01-01",
        "valid_from": "",
        "valid_until": "2025-12-31",
        "_save": "Save",
    }

    moved = client.post(url, {**form, "team": team_b.pk})
    saved = client.post(url, form)

    assert moved.status_code == 200
    assert saved.status_code == 302, saved.content.decode()[:2000]
    evidence.refresh_from_db()
    assert (evidence.title, evidence.team, evidence.valid_until) == (
        "Signed report",
        team_a,
        datetime.date(2025, 12, 31),
    )
    assert len(stored_files(evidence_dir)) == 1
