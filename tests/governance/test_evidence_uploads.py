"""Evidence uploads: files are checked by their bytes and their size, and stored hashed under
generated names."""

import datetime
import hashlib

import pytest

from governance.exceptions import TooLarge, UnacceptableContent
from governance.models import Evidence
from governance.services import evidence as evidence_service
from tests.governance.evidence_helpers import (
    FIELDS,
    GIF,
    HTML,
    JPEG,
    STORED_NAME,
    SVG,
    URL,
    WEBP,
    download,
    executable,
    make_odf,
    make_office,
    make_pdf,
    make_png,
    make_zip,
    post_file,
    raw_multipart,
    stored_files,
    upload,
    with_member,
    with_zeros,
)

pytestmark = pytest.mark.usefixtures("evidence_dir", "team_a")  # the payloads below name team-a


# --- Storing --------------------------------------------------------------------------------


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


# --- Accepted types -------------------------------------------------------------------------


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
        ("minutes.odt", make_odf("odt"), evidence_service.ODT),
        ("budget.ods", make_odf("ods"), evidence_service.ODS),
        ("slides.odp", make_odf("odp"), evidence_service.ODP),
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
        ("macro.odt", make_odf("odt", macros=True), "macros"),
        ("minutes.docx", make_odf("odt"), "OpenDocument text"),
        ("policy.docx", b"Just some notes.\n", "not a ZIP archive"),
        ("budget.ods", make_pdf()[:4] + b"\x00" * 64, "not a ZIP archive"),
        ("policy.docx", b"PK\x03\x04" + b"\x00" * 64, "cannot be read"),
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


# --- Archive bombs --------------------------------------------------------------------------
# Office documents are ZIP archives; one that unpacks to far more than it weighs is refused from
# its central directory, before anything is stored.


def assert_refused(response, evidence_dir, words):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "unsupported_content"
    assert words in body["errors"]["file"][0], body
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_a_document_that_unpacks_to_a_gibibyte(api_as, officer, evidence_dir):
    bomb = with_zeros(make_office("docx"), "word/media/image1.png", 1024)
    assert len(bomb) < 1_100_000  # 1 GiB inside about 1 MB

    response = post_file(api_as(officer), name="policy.docx", content=bomb)

    assert_refused(response, evidence_dir, "The document unpacks to 1024 MB; at most 500 MB is accepted")


@pytest.mark.parametrize(
    "name,document", [("sheet.xlsx", make_office("xlsx")), ("sheet.ods", make_odf("ods"))]
)
def test_it_refuses_a_part_packed_far_more_tightly_than_documents_pack(
    api_as, officer, evidence_dir, name, document
):
    bomb = with_zeros(document, "media/blob.bin", 20)  # 20 MiB in 20 KB: well inside the total

    response = post_file(api_as(officer), name=name, content=bomb)

    assert_refused(response, evidence_dir, "times its packed size; at most 100 times is accepted")


def test_the_archive_limits_are_settings(api_as, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_ARCHIVE_MAX_BYTES = 4096
    content = with_member(make_odf("odt"), "Pictures/photo.bin", bytes(range(256)) * 20)

    assert_refused(
        post_file(api_as(officer), name="minutes.odt", content=content), evidence_dir, "unpacks to"
    )

    settings.VERITY_EVIDENCE_ARCHIVE_MAX_BYTES = 1024 * 1024
    settings.VERITY_EVIDENCE_ARCHIVE_MAX_RATIO = 2
    assert post_file(api_as(officer), name="minutes.odt", content=content).status_code == 201  # small parts


def test_it_refuses_a_document_of_too_many_parts(api_as, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_ARCHIVE_MAX_MEMBERS = 20
    content = make_office("docx")
    for number in range(20):
        content = with_member(content, f"word/media/image{number}.png", b"x")

    response = post_file(api_as(officer), name="policy.docx", content=content)

    assert_refused(response, evidence_dir, "holds 23 parts; at most 20 are accepted")


def test_it_refuses_a_part_named_twice(api_as, officer, evidence_dir):
    with pytest.warns(UserWarning, match="Duplicate name"):
        content = with_member(make_office("docx"), "word/document.xml", b"<root/>")

    assert_refused(post_file(api_as(officer), name="policy.docx", content=content), evidence_dir, "twice")


def test_it_refuses_overlapping_parts(api_as, officer, evidence_dir):
    # Two directory entries that point at the same packed data: the trick of bombs that declare
    # one stream many times over without nesting archives.
    content = bytearray(with_member(make_office("docx"), "word/copy.xml", b"<root/>"))
    central = content.rindex(b"PK\x01\x02")
    content[central + 42 : central + 46] = bytes(4)  # its data "starts" where the first part's does

    response = post_file(api_as(officer), name="policy.docx", content=bytes(content))

    assert_refused(response, evidence_dir, "overlap")


WORKBOOK = make_office("xlsx")


def with_embedded(workbook: bytes) -> bytes:
    return with_member(make_office("docx"), "word/embeddings/Workbook1.xlsx", workbook)


def test_it_accepts_a_document_with_an_embedded_workbook(api_as, officer):
    response = post_file(api_as(officer), name="report.docx", content=with_embedded(WORKBOOK))

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == evidence_service.DOCX


def test_it_checks_an_embedded_workbook_like_the_document(api_as, officer, evidence_dir):
    bombed = with_embedded(with_zeros(WORKBOOK, "xl/media/blob.bin", 20))

    response = post_file(api_as(officer), name="report.docx", content=bombed)

    assert_refused(response, evidence_dir, "'xl/media/blob.bin' unpacks to")


def test_it_refuses_an_archive_inside_an_embedded_archive(api_as, officer, evidence_dir):
    nested = with_embedded(with_member(WORKBOOK, "xl/embeddings/inner.zip", make_zip()))

    response = post_file(api_as(officer), name="report.docx", content=nested)

    assert_refused(response, evidence_dir, "archive inside an embedded archive")
