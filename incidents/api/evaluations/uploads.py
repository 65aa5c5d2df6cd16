"""Reading a run's per-sample results from a ``multipart/form-data`` upload, streamed.

The body carries two parts: ``run``, the run's fields as a JSON object, and ``sample_results``, a
JSONL file with one sample per line. Django's upload handler writes the file part to disk as it
arrives; ``upload_samples`` reads it back in chunks and yields one parsed line at a time, so no more
than a chunk of it is ever in memory. The samples' fields are the service's to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework import exceptions, status

from governance.api import json_input
from governance.api.base import unknown_field_errors, unknown_keys

MAX_LINE_BYTES = 64 * 1024
"""Longest line a JSONL upload may have; a sample's own fields need a few hundred bytes."""

_RUN_PART_MAX_BYTES = 1024 * 1024
UPLOAD_PARTS = ("run", "sample_results")
_UTF8_BOM = b"\xef\xbb\xbf"


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request is too large."


class InvalidSampleLine(Exception):
    """A line of an upload that is not a JSON object: ``line`` counts from 1."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def parse_sample_line(raw: bytes, line: int) -> object:
    """The JSON value on one line of a JSONL upload, read with the rules of every JSON body
    (``json_input``); ``InvalidSampleLine`` naming the line when it is not JSON or holds a value
    those rules refuse. The sample's fields are the service's to check (it names the line too)."""
    try:
        return json_input.loads(raw)
    except json_input.RefusedValue as exc:
        raise InvalidSampleLine(line, f"Line {line}: {exc.path or 'the line'}: {exc.message}") from None
    except json_input.InvalidJSON as exc:
        raise InvalidSampleLine(line, f"Line {line}: not valid JSON ({exc}).") from None


def _lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """The lines of a byte stream given in chunks, without their ``\\n``; a final line without
    one too. A line longer than ``max_line_bytes`` raises ``InvalidSampleLine``."""
    pending = b""
    number = 0
    for chunk in chunks:
        lines = (pending + chunk if pending else chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if len(line) > max_line_bytes:
                raise InvalidSampleLine(number, f"Line {number}: longer than {max_line_bytes} bytes.")
            yield line
        if len(pending) > max_line_bytes:
            raise InvalidSampleLine(number + 1, f"Line {number + 1}: longer than {max_line_bytes} bytes.")
    if pending:
        yield pending


def upload_samples(chunks: Iterable[bytes]) -> Iterator[object]:
    """The samples of a JSONL upload, one JSON object per line, parsed as they are read.

    Line numbers count from 1 and equal the sample's position, which the service names when it
    refuses one: an empty line is allowed only at the end of the file. Raises
    ``InvalidSampleLine`` for a line that is not JSON; the service checks the rest, and stops
    after ``MAX_SAMPLES``.
    """
    blank = None
    for number, raw in enumerate(_lines(chunks, MAX_LINE_BYTES), start=1):
        if number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        if not raw.strip():
            blank = blank or number
            continue
        if blank is not None:
            raise InvalidSampleLine(blank, f"Line {blank}: empty; put one sample on every line.")
        yield parse_sample_line(raw, number)


def refuse_oversized_upload(request) -> None:
    """Multipart bodies pass the JSON limit middleware: refuse by Content-Length, unread."""
    if not request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.VERITY_MAX_SAMPLES_UPLOAD_BYTES
    if length > limit:
        raise TooLarge(
            f"The request body is {length} bytes; an upload of per-sample results may be at most "
            f"{limit} bytes (VERITY_MAX_SAMPLES_UPLOAD_BYTES)."
        )


def multipart_parts(request) -> tuple[dict, UploadedFile]:
    """The run's fields (the ``run`` part, a JSON object) and the ``sample_results`` file."""
    unknown = unknown_keys(request.data, UPLOAD_PARTS)
    if unknown:
        raise exceptions.ValidationError(unknown_field_errors(unknown, UPLOAD_PARTS))
    raw = request.data.get("run")
    if isinstance(raw, UploadedFile):
        if raw.size is not None and raw.size > _RUN_PART_MAX_BYTES:
            raise exceptions.ValidationError({"run": [f"At most {_RUN_PART_MAX_BYTES} bytes."]})
        raw = raw.read()
    if raw is None:
        raise exceptions.ValidationError({"run": ["Send the run's fields as a JSON object in a part 'run'."]})
    try:
        run_fields = json_input.loads(raw)
    except json_input.RefusedValue as exc:
        raise exceptions.ValidationError({f"run.{exc.path}" if exc.path else "run": [exc.message]}) from None
    except json_input.InvalidJSON as exc:
        raise exceptions.ValidationError({"run": [f"Not valid JSON ({exc})."]}) from None
    if not isinstance(run_fields, dict):
        raise exceptions.ValidationError({"run": ["Expected a JSON object with the run's fields."]})
    if "sample_results" in run_fields:
        raise exceptions.ValidationError(
            {"sample_results": ["Send the per-sample results in the file part, not in run."]}
        )
    upload = request.data.get("sample_results")
    if not isinstance(upload, UploadedFile):
        raise exceptions.ValidationError(
            {"sample_results": ["Attach the per-sample results as a JSONL file part named sample_results."]}
        )
    return run_fields, upload
