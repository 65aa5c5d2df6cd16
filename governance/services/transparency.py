"""Transparency assessments and their scores.

(Interface; see the docstrings.)

Score of an assessment = the weights of the indicators answered "satisfied" over the weights of
those that apply (every indicator not answered "not applicable"), as points and as a percentage,
with the same per domain and subdomain. Computed in the database, one statement for any number of
assessments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from governance.models import AIModel, AISystem, IndicatorSet, TransparencyAssessment, User


def start_assessment(
    *,
    actor: User,
    indicator_set: IndicatorSet,
    model: AIModel | None = None,
    system: AISystem | None = None,
    assessed_on: date | None = None,
) -> TransparencyAssessment:
    """A draft assessment with one unanswered row per indicator of the set. The subject must suit
    the set (a model for a foundation-model set, a system for a deployment set); engineers assess
    their teams' systems, officers anything."""
    raise NotImplementedError


def answer(
    *,
    actor: User,
    assessment: TransparencyAssessment,
    answers: Mapping[str, Mapping[str, str]],
) -> TransparencyAssessment:
    """Set answers of a draft by indicator key: ``{key: {"answer": ..., "disclosure": ...,
    "evidence_url": ..., "justification": ...}}``; recomputes the stored score."""
    raise NotImplementedError


def finalize(*, actor: User, assessment: TransparencyAssessment) -> TransparencyAssessment:
    """Make a draft final: every indicator answered and every "not applicable" justified (else a
    ValidationError naming the indicators). Officers only. A final assessment never changes."""
    raise NotImplementedError


def recompute_scores(*, assessment_ids: Iterable[int] | None = None) -> int:
    """Store points, possible points and score for the given assessments (all when None), in one
    statement; returns how many were updated."""
    raise NotImplementedError


def breakdown(assessment: TransparencyAssessment) -> dict:
    """Points, possible points and percentage in total, per domain and per subdomain, and per
    indicator the answer and its change from the subject's previous final assessment on the same
    set (``new``, ``gained``, ``lost``, ``same``)."""
    raise NotImplementedError


def system_score(system: AISystem) -> dict:
    """A deployed system's transparency: its latest final deployment-set assessment and the latest
    final foundation-model assessment of each model it uses, combined by the documented formula;
    returns both parts and the combination."""
    raise NotImplementedError


def history(*, system: AISystem | None = None, model: AIModel | None = None) -> list[dict]:
    """Final assessments of the subject over time with their scores, oldest first."""
    raise NotImplementedError
