"""Writes to evidence: files that show a control works, and links to where such proof lives.

A file is read once in chunks before anything is stored: that pass enforces
``VERITY_EVIDENCE_MAX_BYTES`` on the bytes actually received (not on the size the client
declared), computes the SHA-256 and size, and decides the content type from the bytes
themselves against an allow-list. Only a file that passes is written to the ``evidence``
storage, under a generated name (``<yyyy>/<mm>/<uuid4 hex>``); the client's file name is kept,
cleaned, in ``original_name`` for the download and never touches the storage path.

Every write is one transaction, takes keyword arguments only and the acting user explicitly. A
file written by a transaction that then fails is removed again, and a deleted evidence's file
is removed once the deletion has committed, so the storage holds exactly the files that rows
refer to.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from governance.choices import EvidenceKind, Role
from governance.exceptions import NotAllowed, TooLarge, UnacceptableContent
from governance.models import ControlImplementation, Evidence, Requirement, Team, User
from governance.services import office_documents
from governance.services.access import is_officer, require_permission

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
_HEAD_SIZE = 4096
_MAX_NAME_LENGTH = 200

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
DOCX, XLSX, PPTX = office_documents.DOCX, office_documents.XLSX, office_documents.PPTX
ODT, ODS, ODP = office_documents.ODT, office_documents.ODS, office_documents.ODP

# Detected type -> (what to call it in messages, file name extensions that agree with it).
BINARY_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    PDF: ("a PDF document", (".pdf",)),
    PNG: ("a PNG image", (".png",)),
    JPEG: ("a JPEG image", (".jpg", ".jpeg")),
    GIF: ("a GIF image", (".gif",)),
    WEBP: ("a WebP image", (".webp",)),
    **office_documents.TYPES,
}
# UTF-8 text is told apart only by its extension; a text file without one is plain text.
TEXT_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
}
ACCEPTED = (
    "PDF, PNG, JPEG, GIF, WebP, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), "
    "OpenDocument (.odt, .ods, .odp) and UTF-8 text (.txt, .csv, .json, .md)"
)

# Text that a browser would sniff as markup (after the WHATWG sniffing rules), plus XML and SVG.
_MARKUP_START = re.compile(
    r"<(?:!doctype|!--|\?xml|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p|svg|math)"
    r"(?:[\s/>]|$)",
    re.IGNORECASE,
)
# Recognised only to explain a refusal more precisely.
_EXECUTABLE_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\x00asm",
)
DETAIL_FIELDS = ("title", "description", "team", "owner", "collected_on", "valid_from", "valid_until")
"""What describes any evidence, a file or a link: given when it is added, changed later."""

EDITABLE_FIELDS = ("url", *DETAIL_FIELDS)
"""What a change to evidence may set (with its links to implementations and requirements): its
details and a link's address; a stored file, its name, type, size and digest never change."""


@dataclass(frozen=True)
class InspectedFile:
    """What the bytes of an upload turned out to be."""

    content_type: str
    size: int
    sha256: str
    original_name: str


def evidence_storage() -> Storage:
    """The storage evidence files live in (looked up on every call, so settings changes apply)."""
    return storages["evidence"]


def max_file_bytes() -> int:
    return settings.VERITY_EVIDENCE_MAX_BYTES


def clean_file_name(name: str | None) -> str:
    """The last component of a client's file name, without control characters or leading dots.

    The result is only ever shown and offered as the download's name; it never becomes part of
    a storage path.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if unicodedata.category(char)[0] == "C" or char in '<>:"|?*' else char for char in name
    )
    name = name.strip().lstrip(".").strip()
    if len(name) > _MAX_NAME_LENGTH:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 16 else ""
        name = name[: _MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix
    return name


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"The file is larger than the limit of {limit} bytes ({limit / 1024 / 1024:g} MB).",
        limit=limit,
        field="file",
    )


def _refuse(message: str) -> UnacceptableContent:
    return UnacceptableContent(message, field="file")


def inspect_upload(upload: UploadedFile) -> InspectedFile:
    """Read the upload once and decide whether it may be stored; nothing is written.

    Raises ``TooLarge`` as soon as more bytes than ``VERITY_EVIDENCE_MAX_BYTES`` have been read
    (whatever size the client declared) and ``UnacceptableContent`` for an empty file, a type
    outside the allow-list, a type that contradicts the file name's extension, or an Office
    document whose archive fails ``office_documents``' checks (archive bombs).
    """
    limit = max_file_bytes()
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    digest = hashlib.sha256()
    size = 0
    head = b""
    decoder = codecs.getincrementaldecoder("utf-8")()
    is_text = True
    for chunk in upload.chunks(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        digest.update(chunk)
        if len(head) < _HEAD_SIZE:
            head += chunk[: _HEAD_SIZE - len(head)]
        if is_text:
            is_text = _still_text(decoder, chunk)
    if is_text:
        is_text = _still_text(decoder, b"", final=True)
    if size == 0:
        raise _refuse("The file is empty.")

    name = clean_file_name(upload.name)
    suffix = PurePosixPath(name).suffix.lower()
    content_type = _detect_binary(head, upload)
    if content_type is not None:
        description, suffixes = BINARY_TYPES[content_type]
        if not suffix:
            name = f"{name or 'evidence'}{suffixes[0]}"
        elif suffix not in suffixes:
            raise _refuse(
                f"The file's content is {description}, but its name ends in {suffix}. "
                f"Name it {' or '.join(suffixes)}, or upload the file the name promises."
            )
    elif suffix in office_documents.SUFFIXES:
        raise _refuse(f"A {suffix} file is a ZIP-based document, but this file is not a ZIP archive.")
    elif is_text:
        _refuse_markup(head)
        if not suffix:
            name, suffix = f"{name or 'evidence'}.txt", ".txt"
        if suffix not in TEXT_TYPES:
            raise _refuse(
                f"The file's content is plain text, but its name ends in {suffix}. "
                f"Text is accepted as {', '.join(sorted(TEXT_TYPES))}."
            )
        content_type = TEXT_TYPES[suffix]
    else:
        raise _refuse(_describe_refused_binary(head))
    return InspectedFile(content_type=content_type, size=size, sha256=digest.hexdigest(), original_name=name)


def _still_text(decoder, chunk: bytes, *, final: bool = False) -> bool:
    if b"\x00" in chunk:
        return False
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _detect_binary(head: bytes, upload: UploadedFile) -> str | None:
    """The allowed binary type the leading bytes announce, or ``None``."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(office_documents.ZIP_MAGIC):
        return office_documents.detect(upload, accepted=ACCEPTED)
    return None


def _refuse_markup(head: bytes) -> None:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n\f")
    match = _MARKUP_START.match(text)
    if match is None:
        return
    start = text[: match.end()].lower()
    if "svg" in start:
        kind = "SVG"
    elif start.startswith("<?xml"):
        kind = "XML"
    else:
        kind = "HTML"
    raise _refuse(
        f"The file's content is {kind}, which is not accepted as evidence (browsers would run it). "
        f"Export it as PDF instead; accepted are {ACCEPTED}."
    )


def _describe_refused_binary(head: bytes) -> str:
    if head.startswith(_EXECUTABLE_MAGIC):
        return f"Programs and executable files are not accepted as evidence; accepted are {ACCEPTED}."
    return f"The file's content is not of an accepted type; accepted are {ACCEPTED}."


def may_change_evidence(actor: User, evidence: Evidence) -> bool:
    """Officers change any evidence; engineers their own teams' (not organisation-wide)."""
    if is_officer(actor):
        return True
    return bool(
        actor is not None
        and actor.has_role(Role.ENGINEER)
        and evidence.team_id is not None
        and evidence.team_id in actor.team_ids()
    )


def check_evidence_scope(*, actor: User, team: Team | None, field: str = "team") -> None:
    """Refuse evidence for a team the actor may not act for, or organisation-wide from a non-officer."""
    if is_officer(actor):
        return
    if team is None:
        raise ValidationError(
            {field: "Choose one of your teams: only officers add organisation-wide evidence."}
        )
    if not (actor.has_role(Role.ENGINEER) and team.pk in actor.team_ids()):
        raise ValidationError({field: "You can only manage evidence of your own teams."})


def _visible_ids(actor: User, objects: Iterable, model, *, field: str, label: str) -> list[int]:
    """The primary keys of ``objects``, all of which must exist and be visible to the actor."""
    ids = list(dict.fromkeys(getattr(obj, "pk", obj) for obj in objects))
    if not ids:
        return []
    found = set(model.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise ValidationError({field: f"Unknown {label}: {', '.join(missing)}."})
    return ids


def _check_url(url: str) -> None:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValidationError({"url": "Links must be http:// or https:// addresses."})


def _generated_name(today: date) -> str:
    return f"{today:%Y}/{today:%m}/{uuid.uuid4().hex}"


def _remove_file(name: str) -> None:
    try:
        evidence_storage().delete(name)
    except OSError:
        logger.exception("Could not remove the evidence file %s", name)


def _link_references(evidence: Evidence, implementation_ids: list[int], requirement_ids: list[int]) -> None:
    evidence.implementations.set(implementation_ids)
    evidence.requirements.set(requirement_ids)


def _new_evidence(*, actor: User, kind: str, team, implementations, requirements, **fields):
    """The checks every new evidence passes (permission, team scope, linked rows the actor can
    see), and the unsaved row with the ids of what it will be linked to."""
    require_permission(actor, "add_evidence")
    check_evidence_scope(actor=actor, team=team)
    implementation_ids = _visible_ids(
        actor, implementations, ControlImplementation, field="implementations", label="control implementation"
    )
    requirement_ids = _visible_ids(
        actor, requirements, Requirement, field="requirements", label="requirement"
    )
    evidence = Evidence(kind=kind, team=team, uploaded_by=actor, **fields)
    return evidence, implementation_ids, requirement_ids


@transaction.atomic
def add_file_evidence(
    *,
    actor: User,
    upload: UploadedFile,
    title: str,
    collected_on: date,
    team: Team | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    description: str = "",
    owner: User | None = None,
    implementations: Iterable[ControlImplementation] = (),
    requirements: Iterable[Requirement] = (),
) -> Evidence:
    """Check, hash and store an uploaded file as evidence of the given team (or organisation-wide).

    Nothing is written unless every check passes: permission, team scope, linked rows visible to
    the actor, the model's own rules, then the file's size and type. If saving the row fails
    after the file was stored, the file is removed again.
    """
    evidence, implementation_ids, requirement_ids = _new_evidence(
        actor=actor,
        kind=EvidenceKind.FILE,
        team=team,
        implementations=implementations,
        requirements=requirements,
        title=title,
        description=description,
        owner=owner,
        collected_on=collected_on,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    evidence.full_clean(exclude=["file", "original_name", "sha256", "size", "content_type"])
    inspected = inspect_upload(upload)

    stored_name = evidence_storage().save(_generated_name(timezone.localdate()), upload)
    try:
        stored_size = evidence_storage().size(stored_name)
        if stored_size != inspected.size:
            raise OSError(f"Stored {stored_size} bytes of a {inspected.size}-byte upload.")
        evidence.file.name = stored_name
        evidence.original_name = inspected.original_name
        evidence.content_type = inspected.content_type
        evidence.size = inspected.size
        evidence.sha256 = inspected.sha256
        evidence.save()
        _link_references(evidence, implementation_ids, requirement_ids)
        # Foreign keys are checked at commit; check them now, while the file can still go.
        connection.check_constraints()
    except BaseException:
        _remove_file(stored_name)
        raise
    return evidence


@transaction.atomic
def add_link_evidence(
    *,
    actor: User,
    url: str,
    title: str,
    collected_on: date,
    team: Team | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    description: str = "",
    owner: User | None = None,
    implementations: Iterable[ControlImplementation] = (),
    requirements: Iterable[Requirement] = (),
) -> Evidence:
    """Record a link (a dashboard, a ticket, a document in another system) as evidence."""
    evidence, implementation_ids, requirement_ids = _new_evidence(
        actor=actor,
        kind=EvidenceKind.LINK,
        team=team,
        implementations=implementations,
        requirements=requirements,
        url=url,
        title=title,
        description=description,
        owner=owner,
        collected_on=collected_on,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    _check_url(url or "")
    evidence.full_clean()
    evidence.save()
    _link_references(evidence, implementation_ids, requirement_ids)
    return evidence


def _require_change_scope(actor: User, evidence: Evidence) -> None:
    if not may_change_evidence(actor, evidence):
        raise NotAllowed(
            "Only officers change organisation-wide evidence."
            if evidence.team_id is None
            else "You can only manage evidence of your own teams."
        )


@transaction.atomic
def update_evidence(
    *,
    actor: User,
    evidence: Evidence,
    changes: Mapping[str, object],
    implementations: Iterable[ControlImplementation] | None = None,
    requirements: Iterable[Requirement] | None = None,
) -> Evidence:
    """Change the description, team, validity or links of evidence; a stored file never changes.

    ``implementations`` and ``requirements``, when given, are the complete new sets.
    """
    require_permission(actor, "change_evidence")
    unknown = set(changes).difference(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Evidence fields that cannot change: {', '.join(sorted(unknown))}")
    current = Evidence.objects.select_for_update().get(pk=evidence.pk)
    _require_change_scope(actor, current)
    for field, value in changes.items():
        setattr(current, field, value)
    if "team" in changes:
        check_evidence_scope(actor=actor, team=current.team)
    if current.kind == EvidenceKind.FILE and current.url:
        raise ValidationError({"url": "File evidence has no URL; add the link as evidence of its own."})
    if current.kind == EvidenceKind.LINK and "url" in changes:
        _check_url(current.url or "")
    implementation_ids = (
        None
        if implementations is None
        else _visible_ids(
            actor,
            implementations,
            ControlImplementation,
            field="implementations",
            label="control implementation",
        )
    )
    requirement_ids = (
        None
        if requirements is None
        else _visible_ids(actor, requirements, Requirement, field="requirements", label="requirement")
    )
    current.full_clean()
    current.save()
    if implementation_ids is not None:
        current.implementations.set(implementation_ids)
    if requirement_ids is not None:
        current.requirements.set(requirement_ids)
    return current


@transaction.atomic
def delete_evidence(*, actor: User, evidence: Evidence) -> None:
    """Delete evidence; its stored file is removed once the deletion has committed."""
    require_permission(actor, "delete_evidence")
    current = Evidence.objects.select_for_update().get(pk=evidence.pk)
    _require_change_scope(actor, current)
    name = current.file.name
    current.delete()
    if name:
        transaction.on_commit(lambda: _remove_file(name))


def open_evidence_file(*, actor: User, evidence: Evidence) -> IO[bytes]:
    """Open the stored file of evidence the actor may see, for reading; the caller closes it.

    Raises ``NotAllowed`` outside the actor's scope and ``FileNotFoundError`` for link
    evidence or a file missing from the storage.
    """
    require_permission(actor, "view_evidence")
    if not Evidence.objects.visible_to(actor).filter(pk=evidence.pk).exists():
        raise NotAllowed("This evidence is outside your scope.")
    if evidence.kind != EvidenceKind.FILE or not evidence.file.name:
        raise FileNotFoundError("This evidence is a link and has no file.")
    return evidence_storage().open(evidence.file.name, "rb")
