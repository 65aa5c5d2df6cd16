"""Transparency assessments and their scores.

Score of an assessment = the weights of the indicators answered "satisfied" over the weights of
those that apply (every indicator not answered "not applicable"), as points and as a percentage
rounded to two decimals, with the same per domain and subdomain. An indicator not yet answered
counts as applicable and not satisfied: a draft's score is what it would be if it were finalized
now, so it can only rise as answers come in. When nothing applies the percentage is empty (NULL),
never 0 or 100.

Scores are computed in the database, one statement for any number of assessments, and stored on
the assessment so rankings and filters read a column. Writes are one transaction each, take keyword
arguments only and the acting user explicitly. Officers assess anything; engineers start and answer
drafts for their teams' systems; only officers finalize, and a final assessment never changes.

The system score (deployment assessment combined with the assessments of the models a system uses)
and the ranking live in ``services/transparency_systems`` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.choices import AssessmentStatus, IndicatorAnswer, TransparencySubject
from governance.exceptions import Conflict, NotAllowed
from governance.models import (
    AIModel,
    AISystem,
    AssessmentAnswer,
    Indicator,
    IndicatorSet,
    TransparencyAssessment,
    User,
)
from governance.services.access import is_officer, require_permission, require_team_scope
from governance.services.transparency_systems import (  # noqa: F401  (part of this module's interface)
    DEPLOYMENT_SHARE,
    HISTORY_COLUMNS,
    MODELS_SHARE,
    ROLE_WEIGHTS,
    history_point,
    ranking,
    system_score,
)

ANSWER_FIELDS = ("answer", "disclosure", "evidence_url", "justification")
"""What an answer to one indicator holds: the import, the admin's form and the API set these."""

# One statement for any number of assessments. Unanswered rows fall in neither FILTER of the
# points but in the possible points: applicable and not satisfied. ``IS DISTINCT FROM`` skips rows
# whose stored figures are already right, so a recompute of unchanged assessments writes nothing
# (no dead tuples, no change-history rows).
_RECOMPUTE_SQL = """
UPDATE governance_transparencyassessment AS a
   SET points = s.points,
       possible_points = s.possible,
       score = CASE WHEN s.possible > 0 THEN round(100 * s.points / s.possible, 2) END
  FROM (SELECT ans.assessment_id,
               coalesce(sum(i.weight) FILTER (WHERE ans.answer = 'satisfied'), 0) AS points,
               coalesce(sum(i.weight) FILTER (WHERE ans.answer <> 'not_applicable'), 0) AS possible
          FROM governance_assessmentanswer AS ans
          JOIN governance_indicator AS i ON i.id = ans.indicator_id
         {where}
         GROUP BY ans.assessment_id) AS s
 WHERE a.id = s.assessment_id
   AND (a.points, a.possible_points, a.score) IS DISTINCT FROM
       (s.points, s.possible, CASE WHEN s.possible > 0 THEN round(100 * s.points / s.possible, 2) END)
"""

# Total, per domain and per subdomain in one pass (GROUPING SETS); the same rule as the stored score.
_BREAKDOWN_SQL = """
SELECT i.domain, i.subdomain, GROUPING(i.domain, i.subdomain) AS level, min(i."order") AS first,
       coalesce(sum(i.weight) FILTER (WHERE ans.answer = 'satisfied'), 0) AS points,
       coalesce(sum(i.weight) FILTER (WHERE ans.answer <> 'not_applicable'), 0) AS possible
  FROM governance_assessmentanswer AS ans
  JOIN governance_indicator AS i ON i.id = ans.indicator_id
 WHERE ans.assessment_id = %s
 GROUP BY GROUPING SETS ((), (i.domain), (i.domain, i.subdomain))
 ORDER BY first, level DESC
"""


# --------------------------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------------------------


def _require_subject_scope(actor: User, *, model: AIModel | None, system: AISystem | None) -> None:
    """Engineers work on their teams' systems only; the shared model catalogue is the officers'."""
    if system is not None:
        require_team_scope(actor, system.owning_team, field="system")
    elif not is_officer(actor):
        raise NotAllowed("Only governance officers assess AI models.")


def _locked(assessment: TransparencyAssessment) -> TransparencyAssessment:
    return (
        TransparencyAssessment.objects.select_for_update(of=("self",))
        .select_related("indicator_set", "system__owning_team", "model")
        .get(pk=assessment.pk)
    )


def _refresh_scores(assessment: TransparencyAssessment) -> TransparencyAssessment:
    recompute_scores(assessment_ids=[assessment.pk])
    assessment.refresh_from_db(fields=["points", "possible_points", "score", "status", "updated_at"])
    return assessment


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


@transaction.atomic
def start_assessment(
    *,
    actor: User,
    indicator_set: IndicatorSet,
    model: AIModel | None = None,
    system: AISystem | None = None,
    assessed_on: date | None = None,
    notes: str = "",
) -> TransparencyAssessment:
    """A draft assessment with one unanswered row per indicator of the set. The subject must suit
    the set (a model for a foundation-model set, a system for a deployment set); engineers assess
    their teams' systems, officers anything."""
    require_permission(actor, "add_transparencyassessment")
    if (model is None) == (system is None):
        raise ValidationError({"system": "Assess exactly one subject: an AI model or an AI system."})
    if system is not None and indicator_set.subject_kind != TransparencySubject.SYSTEM:
        raise ValidationError({"indicator_set": f"{indicator_set} scores AI models, not AI systems."})
    if model is not None and indicator_set.subject_kind != TransparencySubject.MODEL:
        raise ValidationError({"indicator_set": f"{indicator_set} scores AI systems, not AI models."})
    _require_subject_scope(actor, model=model, system=system)
    assessment = TransparencyAssessment(
        indicator_set=indicator_set,
        model=model,
        system=system,
        assessor=actor,
        assessed_on=assessed_on or timezone.localdate(),
        notes=notes,
    )
    assessment.full_clean()
    assessment.save()
    AssessmentAnswer.objects.bulk_create(
        AssessmentAnswer(assessment=assessment, indicator_id=indicator_id)
        for indicator_id in Indicator.objects.filter(indicator_set=indicator_set)
        .order_by("order")
        .values_list("pk", flat=True)
    )
    return _refresh_scores(assessment)


def _answer_errors(key: str, values: Mapping[str, str]) -> list[str]:
    errors = [f"{key}: unknown field {name!r}." for name in values if name not in ANSWER_FIELDS]
    if "answer" in values and values["answer"] not in IndicatorAnswer.values:
        errors.append(f"{key}: {values['answer']!r} is not one of {', '.join(IndicatorAnswer.values)}.")
    if values.get("evidence_url"):
        try:
            URLValidator(schemes=["http", "https"])(values["evidence_url"])
        except ValidationError:
            errors.append(f"{key}: the evidence link is not a valid http(s) URL.")
    return errors


@transaction.atomic
def answer(
    *,
    actor: User,
    assessment: TransparencyAssessment,
    answers: Mapping[str, Mapping[str, str]],
) -> TransparencyAssessment:
    """Set answers of a draft by indicator key: ``{key: {"answer": ..., "disclosure": ...,
    "evidence_url": ..., "justification": ...}}``; recomputes the stored score.

    Fields left out of an indicator's mapping keep their value. Unknown keys, unknown fields and
    invalid values refuse the whole call (ValidationError on ``answers``); a final assessment
    answers Conflict.
    """
    require_permission(actor, "change_transparencyassessment")
    assessment = _locked(assessment)
    _require_subject_scope(actor, model=assessment.model, system=assessment.system)
    if assessment.status == AssessmentStatus.FINAL:
        raise Conflict("A final assessment cannot change; start a new one.", field="status")
    rows = {
        row.indicator.key: row
        for row in AssessmentAnswer.objects.filter(assessment=assessment, indicator__key__in=list(answers))
        .select_related("indicator")
        .select_for_update(of=("self",))
    }
    errors = [
        f"{key}: no such indicator in {assessment.indicator_set}." for key in answers if key not in rows
    ]
    for key, values in answers.items():
        errors += _answer_errors(key, values)
    if errors:
        raise ValidationError({"answers": errors})
    changed = set()
    for key, values in answers.items():
        for name in ANSWER_FIELDS:
            if name in values:
                setattr(rows[key], name, values[name] or "")
                changed.add(name)
    if changed:
        AssessmentAnswer.objects.bulk_update(list(rows.values()), sorted(changed))
    return _refresh_scores(assessment)


@transaction.atomic
def finalize(*, actor: User, assessment: TransparencyAssessment) -> TransparencyAssessment:
    """Make a draft final: every indicator answered and every "not applicable" justified (else a
    ValidationError naming the indicators). Officers only. A final assessment never changes."""
    if not is_officer(actor):
        raise NotAllowed("Only governance officers finalize transparency assessments.")
    assessment = _locked(assessment)
    if assessment.status == AssessmentStatus.FINAL:
        raise Conflict("This assessment is already final.", field="status")
    rows = list(
        AssessmentAnswer.objects.filter(assessment=assessment)
        .filter(
            Q(answer=IndicatorAnswer.UNANSWERED)
            | Q(answer=IndicatorAnswer.NOT_APPLICABLE, justification__regex=r"^\s*$")
        )
        .order_by("indicator__order")
        .values_list("indicator__key", "answer")
    )
    unanswered = [key for key, value in rows if value == IndicatorAnswer.UNANSWERED]
    unjustified = [key for key, value in rows if value == IndicatorAnswer.NOT_APPLICABLE]
    errors = []
    if unanswered:
        errors.append(f"Not answered: {', '.join(unanswered)}.")
    if unjustified:
        errors.append(f"'Not applicable' without a justification: {', '.join(unjustified)}.")
    if errors:
        raise ValidationError({"answers": errors})
    assessment.status = AssessmentStatus.FINAL
    assessment.save(update_fields=["status", "updated_at"])
    return _refresh_scores(assessment)


def recompute_scores(*, assessment_ids: Iterable[int] | None = None) -> int:
    """Store points, possible points and score for the given assessments (all when None), in one
    statement; returns how many changed (assessments whose stored figures were already right are
    not rewritten). Assessments without answer rows (e.g. published totals imported as such) are
    left alone."""
    params: list[Any] = []
    where = ""
    if assessment_ids is not None:
        ids = sorted({int(pk) for pk in assessment_ids})
        if not ids:
            return 0
        where, params = "WHERE ans.assessment_id = ANY(%s)", [ids]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RECOMPUTE_SQL.format(where=where), params)
        return cursor.rowcount


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def _figures(points, possible) -> dict:
    # Half up, as PostgreSQL's round() stores it (Python's round() would round half to even).
    score = (100 * points / possible).quantize(Decimal("0.01"), ROUND_HALF_UP) if possible else None
    return {"points": points, "possible_points": possible, "score": score}


def _previous_final(assessment: TransparencyAssessment) -> TransparencyAssessment | None:
    """The subject's final assessment on the same set that comes before this one."""
    subject = (
        {"system_id": assessment.system_id} if assessment.system_id else {"model_id": assessment.model_id}
    )
    return (
        TransparencyAssessment.objects.filter(
            indicator_set_id=assessment.indicator_set_id, status=AssessmentStatus.FINAL, **subject
        )
        .filter(
            Q(assessed_on__lt=assessment.assessed_on)
            | Q(assessed_on=assessment.assessed_on, pk__lt=assessment.pk)
        )
        .exclude(pk=assessment.pk)
        .order_by("-assessed_on", "-pk")
        .only("pk", "assessed_on")
        .first()
    )


def _change(now: str, before: str | None) -> str:
    satisfied = IndicatorAnswer.SATISFIED
    if before is None:
        return "new"
    if now == satisfied and before != satisfied:
        return "gained"
    if before == satisfied and now != satisfied:
        return "lost"
    return "same"


def breakdown(assessment: TransparencyAssessment) -> dict:
    """Points, possible points and percentage in total, per domain and per subdomain, and per
    indicator the answer and its change from the subject's previous final assessment on the same
    set (``new``, ``gained``, ``lost``, ``same``).

    "Previous" is the latest final assessment of the same subject on the same set dated before this
    one (same day: created before it). ``new``: no previous assessment, or it has no answer for the
    indicator; ``gained``: satisfied now and not before; ``lost``: satisfied before and not now;
    ``same``: anything else. Four queries whatever the size of the set.
    """
    with connection.cursor() as cursor:
        cursor.execute(_BREAKDOWN_SQL, [assessment.pk])
        groups = cursor.fetchall()
    total = _figures(0, 0)
    domains: list[dict] = []
    for domain, subdomain, level, _first, points, possible in groups:
        if level == 3:
            total = _figures(points, possible)
        elif level == 1:
            domains.append({"domain": domain, **_figures(points, possible), "subdomains": []})
        else:
            domains[-1]["subdomains"].append({"subdomain": subdomain, **_figures(points, possible)})
    previous = _previous_final(assessment)
    before = (
        dict(AssessmentAnswer.objects.filter(assessment=previous).values_list("indicator_id", "answer"))
        if previous
        else {}
    )
    indicators = [
        {
            "key": row["indicator__key"],
            "name": row["indicator__name"],
            "domain": row["indicator__domain"],
            "subdomain": row["indicator__subdomain"],
            "weight": row["indicator__weight"],
            "answer": row["answer"],
            "disclosure": row["disclosure"],
            "evidence_url": row["evidence_url"],
            "justification": row["justification"],
            "previous_answer": before.get(row["indicator_id"]),
            "change": _change(row["answer"], before.get(row["indicator_id"])),
        }
        for row in AssessmentAnswer.objects.filter(assessment=assessment)
        .order_by("indicator__order")
        .values(
            "indicator_id",
            "indicator__key",
            "indicator__name",
            "indicator__domain",
            "indicator__subdomain",
            "indicator__weight",
            "answer",
            "disclosure",
            "evidence_url",
            "justification",
        )
    ]
    return {
        "assessment_id": assessment.pk,
        "total": total,
        "domains": domains,
        "indicators": indicators,
        "previous_assessment": (
            {"id": previous.pk, "assessed_on": previous.assessed_on} if previous is not None else None
        ),
    }


def history(
    *, system: AISystem | None = None, model: AIModel | None = None, limit: int | None = None
) -> list[dict]:
    """Final assessments of the subject over time with their scores, oldest first; with ``limit``,
    only the latest ``limit`` of them (still oldest first)."""
    if (model is None) == (system is None):
        raise ValueError("history() takes exactly one of system= or model=.")
    subject = {"system": system} if system is not None else {"model": model}
    rows = (
        TransparencyAssessment.objects.filter(status=AssessmentStatus.FINAL, **subject)
        .order_by("assessed_on", "pk")
        .values(*HISTORY_COLUMNS)
    )
    if limit is not None:
        rows = list(rows.reverse()[:limit])[::-1]
    return [history_point(row) for row in rows]
