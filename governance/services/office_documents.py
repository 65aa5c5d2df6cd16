"""Office documents among evidence uploads: which one a ZIP-based upload is, and whether its
archive is safe to keep and hand on.

Word, Excel and PowerPoint files (Office Open XML) and OpenDocument text, spreadsheets and
presentations are ZIP archives. Evidence travels on in packs and is opened by auditors' tools, so
an archive that unpacks to far more than it weighs (an archive bomb: 1 GiB inside 1 MB) is
refused here, where the upload's type is decided. The check reads the archive's central
directory, which declares every member's packed and unpacked size and where it starts, and only
a few small parts:

- the declared unpacked total is at most ``VERITY_EVIDENCE_ARCHIVE_MAX_BYTES``;
- no member above ``RATIO_FLOOR_BYTES`` unpacks to more than ``VERITY_EVIDENCE_ARCHIVE_MAX_RATIO``
  times its packed size (XML packs about 10:1; bombs pack 1000:1 and more);
- at most ``VERITY_EVIDENCE_ARCHIVE_MAX_MEMBERS`` members, each named once;
- members do not overlap (overlapping members let a small file declare one huge stream many
  times) and lie before the central directory;
- an archive inside the document (an embedded workbook) passes the same checks, and may hold no
  archive itself.

Every refusal is ``UnacceptableContent`` on the ``file`` field (422).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from typing import IO

from django.conf import settings

from governance.exceptions import UnacceptableContent

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"

# Detected type -> (what to call it in messages, file name extensions that agree with it).
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    DOCX: ("a Word document", (".docx",)),
    XLSX: ("an Excel workbook", (".xlsx",)),
    PPTX: ("a PowerPoint presentation", (".pptx",)),
    ODT: ("an OpenDocument text", (".odt",)),
    ODS: ("an OpenDocument spreadsheet", (".ods",)),
    ODP: ("an OpenDocument presentation", (".odp",)),
}
SUFFIXES = frozenset(suffix for _, suffixes in TYPES.values() for suffix in suffixes)
ZIP_MAGIC = b"PK\x03\x04"

RATIO_FLOOR_BYTES = 1024 * 1024
"""Members up to this size may pack as tightly as they like (a blank sheet's XML packs 200:1)."""

# Office Open XML: the main part's content type, and the folder the main part lives in.
_OOXML_MAIN_PARTS = {
    DOCX: ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word/"),
    XLSX: ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xl/"),
    PPTX: ("application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", "ppt/"),
}
_CONTENT_TYPES_PART = "[Content_Types].xml"
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024
# OpenDocument: the uncompressed ``mimetype`` member names the type; macros live in these folders.
_ODF_MIMETYPE_PART = "mimetype"
_ODF_MACRO_FOLDERS = ("basic/", "scripts/")
# The fixed part of a local file header, before the member's name.
_LOCAL_HEADER_BYTES = 30
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    RuntimeError,  # encrypted members
    NotImplementedError,  # compression methods zipfile cannot read
    ValueError,
)


def _refuse(message: str) -> UnacceptableContent:
    return UnacceptableContent(message, field="file")


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.4g} MB"


def detect(upload: IO[bytes], *, accepted: str) -> str:
    """The content type of a ZIP-based upload that is an accepted Office document whose archive
    passes the checks above; refuses anything else (``accepted`` lists what is, for the message).

    The upload is left at its start.
    """
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            check_archive(archive, nested=True)
            content_type = _ooxml_type(archive) or _odf_type(archive)
    except _READ_ERRORS as exc:
        raise _refuse("The file looks like a ZIP-based document but cannot be read as one.") from exc
    finally:
        upload.seek(0)
    if content_type is None:
        raise _refuse(f"ZIP archives are not accepted as evidence; accepted are {accepted}.")
    return content_type


def check_archive(archive: zipfile.ZipFile, *, nested: bool) -> None:
    """Refuse an archive that unpacks to too much, too tightly, into too many or overlapping
    members; with ``nested``, archives inside it are checked too (and may hold none)."""
    infos = archive.infolist()
    limit = settings.VERITY_EVIDENCE_ARCHIVE_MAX_MEMBERS
    if len(infos) > limit:
        raise _refuse(f"The document holds {len(infos)} parts; at most {limit} are accepted.")
    if len({info.filename for info in infos}) != len(infos):
        raise _refuse("The document's archive names a part twice, which is not accepted.")
    total = sum(info.file_size for info in infos)
    limit = settings.VERITY_EVIDENCE_ARCHIVE_MAX_BYTES
    if total > limit:
        raise _refuse(
            f"The document unpacks to {_mb(total)}; at most {_mb(limit)} is accepted "
            "(VERITY_EVIDENCE_ARCHIVE_MAX_BYTES)."
        )
    ratio = settings.VERITY_EVIDENCE_ARCHIVE_MAX_RATIO
    for info in infos:
        packed = max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > ratio * packed:
            raise _refuse(
                f"The document's part {info.filename!r} unpacks to {info.file_size // packed} times its "
                f"packed size; at most {ratio} times is accepted (an archive bomb looks like this)."
            )
    _refuse_overlaps(infos, archive.start_dir)
    for info in _archives_inside(archive, infos):
        if not nested:
            raise _refuse("The document holds an archive inside an embedded archive, which is not accepted.")
        _check_embedded(archive, info)


def _refuse_overlaps(infos: Iterable[zipfile.ZipInfo], directory_start: int) -> None:
    # Each member's header, name and packed data end before the next member (or the directory)
    # starts. The name's length in characters is a lower bound of its length in bytes.
    ordered = sorted(infos, key=lambda info: info.header_offset)
    starts = [info.header_offset for info in ordered[1:]] + [directory_start]
    for info, next_start in zip(ordered, starts, strict=True):
        end = info.header_offset + _LOCAL_HEADER_BYTES + len(info.orig_filename) + info.compress_size
        if info.header_offset < 0 or end > next_start:
            raise _refuse("Parts of the document's archive overlap, which is not accepted.")


def _archives_inside(archive: zipfile.ZipFile, infos: Iterable[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    found = []
    for info in infos:
        if info.is_dir() or info.file_size < len(ZIP_MAGIC):
            continue
        with archive.open(info) as member:
            if member.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
                found.append(info)
    return found


def _check_embedded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    # Read whole (its size is bounded by the checks above and by the upload limit) and checked
    # like the document itself.
    limit = settings.VERITY_EVIDENCE_MAX_BYTES
    if info.file_size > limit:
        raise _refuse(
            f"The document embeds an archive ({info.filename!r}) of {_mb(info.file_size)}; "
            f"embedded archives may be at most {_mb(limit)}."
        )
    with zipfile.ZipFile(io.BytesIO(archive.read(info))) as embedded:
        check_archive(embedded, nested=False)


def _ooxml_type(archive: zipfile.ZipFile) -> str | None:
    """DOCX, XLSX or PPTX from ``[Content_Types].xml`` and the main part's folder; macro-enabled
    documents are refused."""
    try:
        part = archive.getinfo(_CONTENT_TYPES_PART)
    except KeyError:
        return None
    if part.file_size > _MAX_CONTENT_TYPES_BYTES:
        return None
    content_types = archive.read(part).decode("utf-8", errors="replace")
    names = archive.namelist()
    if "macroenabled" in content_types.lower() or any(
        name.lower().endswith("vbaproject.bin") for name in names
    ):
        raise _refuse("Documents with macros are not accepted; save it as .docx, .xlsx or .pptx.")
    for content_type, (main_part, folder) in _OOXML_MAIN_PARTS.items():
        if main_part in content_types and any(name.startswith(folder) for name in names):
            return content_type
    return None


def _odf_type(archive: zipfile.ZipFile) -> str | None:
    """ODT, ODS or ODP from the ``mimetype`` member; documents with macros are refused."""
    try:
        part = archive.getinfo(_ODF_MIMETYPE_PART)
    except KeyError:
        return None
    if part.file_size > 100:
        return None
    mimetype = archive.read(part).decode("ascii", errors="replace").strip()
    if mimetype not in (ODT, ODS, ODP) or "content.xml" not in archive.namelist():
        return None
    if any(name.lower().startswith(_ODF_MACRO_FOLDERS) for name in archive.namelist()):
        raise _refuse("Documents with macros are not accepted; save it as .odt, .ods or .odp without them.")
    return mimetype
