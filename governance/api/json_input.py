"""The rules every JSON document from a client passes before anything reads it.

A request body (``governance.api.parsers.JSONParser``), the ``run`` part of a multipart upload
and every line of a JSONL upload of per-sample results are read with ``loads`` here, so a value
the database or Python cannot take is a 400 naming where it is, never a 500 deeper down:

* nesting deeper than ``MAX_DEPTH`` (``json`` recurses once per level: a thousand levels of
  ``[`` raised ``RecursionError``). The depth is measured by a scan of the bytes before they are
  parsed, which keeps no stack;
* the NUL character ``\\u0000`` and unpaired surrogates (``\\ud800``) in any string, key or value:
  PostgreSQL's text refuses the first, UTF-8 cannot encode the second;
* integers beyond a signed 64-bit ``bigint`` (no column holds more; a narrower column's own
  range is its field's or service's to check) and numbers too large for a float (``1e400``
  became ``inf``, which no JSON column takes);
* ``NaN`` and ``Infinity``, which are not JSON.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a document may have; the API's own bodies use three."""

MAX_INTEGER = 2**63 - 1
"""Largest integer (in magnitude) a document may hold: PostgreSQL's ``bigint``."""

NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."
SURROGATE_MESSAGE = "Text may not contain an unpaired surrogate (\\ud800-\\udfff)."
INTEGER_MESSAGE = f"Integers must lie between -{MAX_INTEGER} and {MAX_INTEGER}."
FINITE_MESSAGE = "Numbers must be finite."

_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"')  # every byte but brackets and quotes
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.__getitem__
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class InvalidJSON(ValueError):
    """Text that is not JSON, or JSON nested too deeply: no place in the document to name."""


class RefusedValue(ValueError):
    """A value (or key) the rules refuse; ``path`` says where it is (``controls[1]``,
    ``parameters.seed``), empty for the document itself."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _refuse_constant(name: str):
    raise InvalidJSON(f"{name} is not a JSON value.")


class _OutOfBounds(Exception):
    """A number the rules refuse, met while parsing: the document is parsed again without the
    bounds and walked, to name where it is."""


def _bounded_int(digits: str) -> int:
    value = int(digits)
    if len(digits) > 18 and not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise _OutOfBounds
    return value


def _finite_float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise _OutOfBounds
    return value


_decode = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_refuse_constant
).decode
_decode_unbounded = json.JSONDecoder(parse_constant=_refuse_constant).decode

# A NUL or a surrogate reaches a parsed string only through these escapes (raw control characters
# are not JSON, and UTF-8 cannot carry surrogates).
_NUL_ESCAPE = re.compile(r"\\u0000").search
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]").search


def loads(text: str | bytes) -> object:
    """The document in ``text`` (bytes are read as UTF-8); ``InvalidJSON`` if it is not JSON or
    nests deeper than ``MAX_DEPTH``, ``RefusedValue`` for a value the rules above refuse."""
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJSON("The body is not UTF-8 text.") from None
    else:
        raw = text.encode("utf-8", "surrogatepass")
    check_depth(raw)
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = _decode(text)
    except InvalidJSON:
        raise
    except _OutOfBounds:
        check_values(_decode_unbounded(text))  # raises RefusedValue naming the number
        raise InvalidJSON(INTEGER_MESSAGE) from None  # not reached: the walk finds the number
    except ValueError as exc:  # not JSON, or an integer of more digits than Python reads
        raise InvalidJSON(str(exc)) from None
    if "\\u" in text and (_NUL_ESCAPE(text) or _SURROGATE_ESCAPE(text)):
        check_values(value)
    return value


def check_depth(raw: bytes) -> None:
    """``InvalidJSON`` if the arrays and objects in the UTF-8 bytes ``raw`` nest deeper than
    ``MAX_DEPTH``. Brackets inside strings are not counted; unbalanced ones are the parser's to
    report. Every step runs in C: counting, dropping escaped backslashes and quotes, deleting all
    but brackets and quotes, splitting at the quotes, and the running sum of the brackets left
    (no byte of a multi-byte UTF-8 character is a bracket, quote or backslash)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(None, _STRUCTURE).split(b'"')[::2])
    if brackets.count(b"[") + brackets.count(b"{") <= MAX_DEPTH:
        return
    if max(accumulate(map(_STEP, brackets))) > MAX_DEPTH:
        raise InvalidJSON(f"Nested more than {MAX_DEPTH} levels deep.")


def check_values(document: object) -> None:
    """``RefusedValue`` naming a string, key or number of ``document`` the rules refuse, if any.
    Walks with a list, not recursion."""
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            _check_text(path, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -MAX_INTEGER <= value <= MAX_INTEGER:
                raise RefusedValue(path, INTEGER_MESSAGE)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RefusedValue(path, FINITE_MESSAGE)
        elif isinstance(value, dict):
            for key, item in value.items():
                member = f"{path}.{key}" if path else key
                _check_text(_printable(member), key)
                pending.append((member, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def _check_text(path: str, text: str) -> None:
    found = _BAD_TEXT.search(text)
    if found is not None:
        raise RefusedValue(_printable(path), NUL_MESSAGE if found.group() == "\x00" else SURROGATE_MESSAGE)


def _printable(path: str) -> str:
    """A path as it can be shown in an answer: NULs and surrogates in keys as escapes."""
    return _BAD_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", path)
