"""Real files, catalog factories and request helpers for the evidence tests.

The ``evidence_dir`` fixture, which points evidence storage at a fresh directory, is in
``tests/governance/conftest.py``; the evidence test modules apply it to every test.
"""

import functools
import io
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import factory
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance import choices
from governance.models import Control, ControlImplementation, Framework, Requirement
from tests.factories import AISystemFactory

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


_ODF = {
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}


def make_odf(kind: str, *, macros: bool = False) -> bytes:
    """An OpenDocument file as LibreOffice writes it: ``mimetype`` first and stored, then the parts."""
    mimetype = _ODF[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="1.3">'
            "<office:body/></office:document-content>",
        )
        archive.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
            f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        if macros:
            archive.writestr("Basic/Standard/Module1.xml", "<script:module/>")
    return buffer.getvalue()


def with_member(document: bytes, name: str, content: bytes, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """The document with one more member (how the archive bombs below are built)."""
    buffer = io.BytesIO(document)
    with zipfile.ZipFile(buffer, "a", compression) as archive:
        archive.writestr(name, content, compresslevel=9)
    return buffer.getvalue()


@functools.cache
def deflated_zeros(mib: int) -> tuple[bytes, int]:
    """``mib`` MiB of zeros as a raw deflate stream, and its CRC-32, without deflating them all.

    One MiB of zeros deflates to about 1 KiB whose back-references only ever reach zeros, so the
    same bytes, flushed to a byte boundary, may be repeated: 1 GiB packs into 1 MB in an instant.
    """
    zeros = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return piece * mib + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), crc


def with_zeros(document: bytes, name: str, mib: int) -> bytes:
    """The document with one more member of ``mib`` MiB of zeros, deflated: an archive bomb.

    The member is written stored, then its headers are set to what a deflated one declares.
    """
    stream, crc = deflated_zeros(mib)
    buffer = io.BytesIO(document)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 3, 31, 0, 0, 0)), stream)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        local = archive.getinfo(name).header_offset
    central = data.rindex(b"PK\x01\x02")  # the last directory entry is the member just added
    struct.pack_into("<H", data, local + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<II", data, local + 14 + 4, len(stream), mib * 1024 * 1024)
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<H", data, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, mib * 1024 * 1024)
    return bytes(data)


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


# --- Helpers --------------------------------------------------------------------------------


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
