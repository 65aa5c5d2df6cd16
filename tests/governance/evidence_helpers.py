"""Real files, catalog factories and request helpers for the evidence tests.

The ``evidence_dir`` fixture, which points evidence storage at a fresh directory, is in
``tests/governance/conftest.py``; the evidence test modules apply it to every test.
"""

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
