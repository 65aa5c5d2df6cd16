"""Per-sample results of an evaluation run, streamed into ``EvaluationSample`` with ``COPY``.

Rows are checked and written one at a time as they arrive, so an upload of :data:`MAX_SAMPLES`
samples is never held in memory; the counts of the run are summed on the way. A malformed row
raises :class:`InvalidSample` naming its 1-based line; the caller's transaction then rolls back
every row already copied.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import connection

from governance.exceptions import TooLarge
from incidents import choices

MAX_SAMPLES = 100_000
"""Per-sample results one run may carry."""

_COPY_SAMPLES = (
    "COPY incidents_evaluationsample (run_id, line, sample_id, grade, claims, hallucinated_claims, score)"
    " FROM STDIN"
)


class InvalidSample(ValidationError):
    """A per-sample result that is not valid; ``line`` is its 1-based position in the upload."""

    def __init__(self, line: int, message: str):
        super().__init__({"samples": f"Line {line}: {message}"})
        self.line = line


MAX_COUNT = 2**31 - 1
"""Largest count a column holds: the counts are ``PositiveIntegerField``, PostgreSQL's ``integer``."""


def is_count(value: object) -> bool:
    """A whole number a count column can hold (a larger one was a 500 from the database)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


# --- Per-sample results -------------------------------------------------------------------------


_GRADES = frozenset(choices.SampleGrade.values)  # ``.values`` builds a new list on every access


def _sample_row(line: int, row: object) -> tuple[str, str, int | None, int | None, float | None]:
    """``(sample_id, grade, claims, hallucinated_claims, score)`` of one per-sample result.
    Keys other than these are ignored: evaluation tools write prompts, answers and more."""

    def invalid(message: str) -> InvalidSample:
        return InvalidSample(line, message)

    if not isinstance(row, Mapping):
        raise invalid("each sample must be an object.")
    sample_id = row.get("sample_id")
    if isinstance(sample_id, int) and not isinstance(sample_id, bool):
        sample_id = str(sample_id)
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise invalid("sample_id is missing.")
    if len(sample_id) > 200:
        raise invalid("sample_id is longer than 200 characters.")
    grade = row.get("grade")
    if grade not in _GRADES:
        raise invalid(f"grade must be one of {', '.join(choices.SampleGrade.values)}.")
    claims, hallucinated_claims = row.get("claims"), row.get("hallucinated_claims")
    if claims is not None and not is_count(claims):
        raise invalid(f"claims must be a whole number from 0 to {MAX_COUNT}.")
    if hallucinated_claims is not None:
        if claims is None:
            raise invalid("hallucinated_claims needs claims.")
        if not is_count(hallucinated_claims) or hallucinated_claims > claims:
            raise invalid("hallucinated_claims must be a whole number between 0 and claims.")
    score = row.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
    ):
        raise invalid("score must be a finite number.")
    return sample_id, grade, claims, hallucinated_claims, None if score is None else float(score)


def stream_samples(*, run_id: int, rows: Iterable[object]) -> dict[str, int | None]:
    """COPY the rows into ``EvaluationSample`` as they come, returning the counts they add up to.

    The rows reference a run that is inserted afterwards, with the counts: the foreign key is
    checked at commit (Django makes PostgreSQL foreign keys deferrable, initially deferred).
    """
    grades: Counter[str] = Counter()
    claims = hallucinated_claims = 0
    with_claims = 0
    lines = 0
    with connection.cursor() as cursor, cursor.copy(_COPY_SAMPLES) as copy:
        for line, row in enumerate(rows, start=1):
            if line > MAX_SAMPLES:
                raise TooLarge(
                    f"A run carries at most {MAX_SAMPLES} per-sample results.",
                    limit=MAX_SAMPLES,
                    field="samples",
                )
            sample_id, grade, row_claims, row_hallucinated, score = _sample_row(line, row)
            copy.write_row((run_id, line, sample_id, grade, row_claims, row_hallucinated, score))
            grades[grade] += 1
            lines = line
            if row_claims is not None:
                with_claims += 1
                claims += row_claims
                hallucinated_claims += row_hallucinated or 0
    if lines == 0:
        raise ValidationError({"samples": "No per-sample results were given."})
    if claims > MAX_COUNT:
        raise ValidationError({"samples": f"The samples' claims add up to more than {MAX_COUNT}."})
    if 0 < with_claims < lines:
        # A partial sum of claims would be a rate over an unknown subset of the samples.
        raise ValidationError({"samples": "Give claims for every sample or for none."})
    abstained = grades[choices.SampleGrade.NOT_ATTEMPTED]
    return {
        "samples": lines,
        "attempted": lines - abstained,
        "abstained": abstained,
        "correct": grades[choices.SampleGrade.CORRECT],
        "hallucinated": grades[choices.SampleGrade.INCORRECT],
        "claims": claims if with_claims else None,
        "hallucinated_claims": hallucinated_claims if with_claims else None,
    }
