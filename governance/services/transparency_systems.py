"""A deployed system's transparency score and the ranking of systems by it.

Formula (also in docs/transparency-scores.md):

* **Deployment part** D: the score of the system's latest final assessment (newest ``assessed_on``,
  then newest created) on the *current* deployment set, i.e. the indicator set for AI systems with
  the highest version. Assessments on older editions of the deployment set do not count: their
  indicators differ, so their percentages are not comparable with the current ones.
* **Models part** M: for each model linked to the system, the score of its latest final assessment
  on any foundation-model set (any FMTI edition, newest ``assessed_on``); M is the weighted mean of
  the linked models that have one, the primary model weighing 2 and every other role (fallback,
  guard, embedding) 1. The primary model writes what users read, so it counts most; the others
  still shape the output (a fallback answers when the primary fails, a guard decides what is shown,
  embeddings decide what is retrieved), so an opaque guard or fallback lowers the part instead of
  vanishing, and a system whose primary model was never assessed still gets a models part.
* **System score** = 0.7 × D + 0.3 × M when both exist (rounded to two decimals), D alone or M alone
  when only one exists (``basis`` says which), none when neither does. The deployment assessment
  weighs more because it judges what the organisation itself discloses about the system it runs;
  the models part is inherited from the model developers.

Assessments whose score is empty (nothing applied) count as missing.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Round

from governance.choices import AssessmentStatus, LifecycleStage, ModelRole, TransparencySubject
from governance.models import AISystem, IndicatorSet, SystemModel, TransparencyAssessment, User

DEPLOYMENT_SHARE = Decimal("0.7")
MODELS_SHARE = Decimal("0.3")
ROLE_WEIGHTS = {ModelRole.PRIMARY: 2}  # every other role weighs 1
OTHER_ROLE_WEIGHT = 1
FORMULA = (
    "0.7 x deployment + 0.3 x models when both exist, else whichever exists; models = mean of the "
    "linked models' latest final scores, primary weighing 2 and other roles 1"
)

# What a system score rests on (``basis``).
COMBINED = "deployment_and_models"
DEPLOYMENT_ONLY = "deployment_only"
MODELS_ONLY = "models_only"
NONE = "none"
_SCORE = DecimalField(max_digits=5, decimal_places=2)
_CENT = Decimal("0.01")  # rounded half up, as PostgreSQL's round() does


def _version_key(indicator_set: IndicatorSet) -> tuple:
    """Versions compare part by part, numbers as numbers ("2026.10" after "2026.9")."""
    parts = re.findall(r"\d+|[a-z]+", indicator_set.version.lower())
    return (tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in parts), indicator_set.created_at)


def current_deployment_set() -> IndicatorSet | None:
    """The indicator set for AI systems with the highest version (one query)."""
    sets = IndicatorSet.objects.filter(subject_kind=TransparencySubject.SYSTEM)
    return max(sets, key=_version_key, default=None)


def _set_summary(assessment: TransparencyAssessment) -> dict:
    s = assessment.indicator_set
    return {"id": s.pk, "key": s.key, "name": s.name, "version": s.version}


def _final_scored():
    return TransparencyAssessment.objects.filter(status=AssessmentStatus.FINAL, score__isnull=False)


def combine(deployment: Decimal | None, models: Decimal | None) -> tuple[Decimal | None, str]:
    """The system score and its basis from the two parts (either may be missing)."""
    if deployment is not None and models is not None:
        return (DEPLOYMENT_SHARE * deployment + MODELS_SHARE * models).quantize(
            _CENT, ROUND_HALF_UP
        ), COMBINED
    if deployment is not None:
        return deployment, DEPLOYMENT_ONLY
    if models is not None:
        return models, MODELS_ONLY
    return None, NONE


def system_score(system: AISystem) -> dict:
    """A deployed system's transparency: its latest final deployment-set assessment and the latest
    final foundation-model assessment of each model it uses, combined by the documented formula
    (module docstring); returns both parts and the combination. Four queries."""
    current = current_deployment_set()
    deployment = None
    if current is not None:
        latest = (
            _final_scored()
            .filter(system=system, indicator_set=current)
            .select_related("indicator_set")
            .order_by("-assessed_on", "-pk")
            .first()
        )
        if latest is not None:
            deployment = {
                "score": latest.score,
                "assessment_id": latest.pk,
                "assessed_on": latest.assessed_on,
                "indicator_set": _set_summary(latest),
            }
    links = list(SystemModel.objects.filter(system=system).select_related("model").order_by("pk"))
    latest_by_model = {
        a.model_id: a
        for a in _final_scored()
        .filter(
            model_id__in=[link.model_id for link in links],
            indicator_set__subject_kind=TransparencySubject.MODEL,
        )
        .select_related("indicator_set")
        .order_by("model_id", "-assessed_on", "-pk")
        .distinct("model_id")
    }
    items, weighted, weights = [], Decimal(0), 0
    for link in links:
        found = latest_by_model.get(link.model_id)
        weight = ROLE_WEIGHTS.get(link.role, OTHER_ROLE_WEIGHT)
        items.append(
            {
                "model_id": link.model_id,
                "model": str(link.model),
                "role": link.role,
                "weight": weight,
                "score": found.score if found else None,
                "assessment_id": found.pk if found else None,
                "assessed_on": found.assessed_on if found else None,
                "indicator_set": _set_summary(found) if found else None,
            }
        )
        if found is not None:
            weighted += weight * found.score
            weights += weight
    models_score = (weighted / weights).quantize(_CENT, ROUND_HALF_UP) if weights else None
    score, basis = combine(deployment["score"] if deployment else None, models_score)
    return {
        "system_id": system.pk,
        "score": score,
        "basis": basis,
        "formula": FORMULA,
        "deployment": deployment,
        "models": {"score": models_score, "models": items},
    }


def with_system_scores(queryset: QuerySet[AISystem]) -> QuerySet[AISystem]:
    """Annotate ``transparency_deployment``, ``transparency_models``, ``transparency_score`` and
    ``transparency_basis`` with the formula of ``system_score``, all in the one SQL query (the
    current deployment set is looked up first)."""
    current = current_deployment_set()
    if current is not None:
        deployment = Subquery(
            _final_scored()
            .filter(system=OuterRef("pk"), indicator_set=current)
            .order_by("-assessed_on", "-pk")
            .values("score")[:1],
            output_field=_SCORE,
        )
    else:
        deployment = Value(None, output_field=_SCORE)
    model_score = Subquery(
        _final_scored()
        .filter(model=OuterRef("model_id"), indicator_set__subject_kind=TransparencySubject.MODEL)
        .order_by("-assessed_on", "-pk")
        .values("score")[:1],
        output_field=_SCORE,
    )
    weight = Case(
        *(When(role=role, then=Value(w)) for role, w in ROLE_WEIGHTS.items()),
        default=Value(OTHER_ROLE_WEIGHT),
    )
    per_system = (
        SystemModel.objects.filter(system=OuterRef("pk"))
        .annotate(model_score=model_score, weight=weight)
        .values("system")
        .annotate(
            weighted=Sum(F("weight") * F("model_score"), output_field=_SCORE)
            / Sum(Case(When(model_score__isnull=False, then=F("weight"))), output_field=_SCORE)
        )
        .values("weighted")
    )
    models = Round(Subquery(per_system, output_field=_SCORE), 2)
    both = Q(transparency_deployment__isnull=False, transparency_models__isnull=False)
    return queryset.annotate(transparency_deployment=deployment, transparency_models=models).annotate(
        transparency_score=Case(
            When(
                both,
                then=Round(
                    Value(DEPLOYMENT_SHARE) * F("transparency_deployment")
                    + Value(MODELS_SHARE) * F("transparency_models"),
                    2,
                ),
            ),
            When(transparency_deployment__isnull=False, then=F("transparency_deployment")),
            default=F("transparency_models"),
            output_field=_SCORE,
        ),
        transparency_basis=Case(
            When(both, then=Value(COMBINED)),
            When(transparency_deployment__isnull=False, then=Value(DEPLOYMENT_ONLY)),
            When(transparency_models__isnull=False, then=Value(MODELS_ONLY)),
            default=Value(NONE),
        ),
    )


def retired_q() -> Q:
    """Retired systems: the retired lifecycle stage, or a retirement date however the stage reads."""
    return Q(lifecycle_stage=LifecycleStage.RETIRED) | Q(retired_on__isnull=False)


def ranking(
    *,
    user: User,
    min_score: Decimal | float | None = None,
    max_score: Decimal | float | None = None,
    include_retired: bool = False,
) -> QuerySet[AISystem]:
    """The systems the user sees that have a system score, best first (ties by name), annotated as
    ``with_system_scores`` does; ``min_score``/``max_score`` bound the score, both inclusive.
    Retired systems (``retired_q``) are left out unless ``include_retired``: a ranking compares
    what runs today. One SQL query to evaluate (after the lookup of the current deployment set)."""
    systems = AISystem.objects.visible_to(user)
    if not include_retired:
        systems = systems.exclude(retired_q())
    queryset = with_system_scores(systems).filter(transparency_score__isnull=False)
    if min_score is not None:
        queryset = queryset.filter(transparency_score__gte=Decimal(str(min_score)))
    if max_score is not None:
        queryset = queryset.filter(transparency_score__lte=Decimal(str(max_score)))
    return queryset.order_by(F("transparency_score").desc(), "name", "pk")


HISTORY_COLUMNS = (
    "pk",
    "assessed_on",
    "source",
    "points",
    "possible_points",
    "score",
    "indicator_set_id",
    "indicator_set__key",
    "indicator_set__name",
    "indicator_set__version",
)


def history_rows(
    *, system: AISystem, since: date | None = None, until: date | None = None
) -> QuerySet[TransparencyAssessment]:
    """The system's final assessments assessed within ``since``..``until`` (both inclusive, either
    open), oldest first, as ``values()`` rows of ``HISTORY_COLUMNS``: the query behind a bounded
    page of the score history (``history_point`` turns a row into the shape ``history`` gives).
    Works for retired systems as for live ones."""
    rows = TransparencyAssessment.objects.filter(status=AssessmentStatus.FINAL, system=system)
    if since is not None:
        rows = rows.filter(assessed_on__gte=since)
    if until is not None:
        rows = rows.filter(assessed_on__lte=until)
    return rows.order_by("assessed_on", "pk").values(*HISTORY_COLUMNS)


def history_point(row: dict) -> dict:
    """One row of ``HISTORY_COLUMNS`` as a point of a score history."""
    return {
        "id": row["pk"],
        "assessed_on": row["assessed_on"],
        "source": row["source"],
        "points": row["points"],
        "possible_points": row["possible_points"],
        "score": row["score"],
        "indicator_set": {
            "id": row["indicator_set_id"],
            "key": row["indicator_set__key"],
            "name": row["indicator_set__name"],
            "version": row["indicator_set__version"],
        },
    }
