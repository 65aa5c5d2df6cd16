"""Transparency assessments: scores, breakdowns, finalizing, scope, system scores and the ranking."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.choices import AssessmentStatus, ModelRole
from governance.exceptions import Conflict, NotAllowed
from governance.models import TransparencyAssessment
from governance.services import transparency
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    IndicatorFactory,
    IndicatorSetFactory,
    SystemModelFactory,
)

S, NS, NA = "satisfied", "not_satisfied", "not_applicable"
DAY = datetime.date(2026, 3, 1)

# key, domain, subdomain, weight
LAYOUT = [
    ("data-sources", "Upstream", "Data", 2),
    ("data-licences", "Upstream", "Data", 1),
    ("compute", "Upstream", "Compute", 1),
    ("capabilities", "Model", "Capabilities", 3),
    ("risks", "Model", "Risks", 1),
]


def _set(subject_kind="system", version="1.0", layout=LAYOUT):
    indicator_set = IndicatorSetFactory(subject_kind=subject_kind, version=version)
    for order, (key, domain, subdomain, weight) in enumerate(layout, start=1):
        IndicatorFactory(
            indicator_set=indicator_set,
            key=key,
            domain=domain,
            subdomain=subdomain,
            weight=weight,
            order=order,
        )
    return indicator_set


def _assess(actor, indicator_set, answers, *, final=True, on=DAY, officer=None, **subject):
    assessment = transparency.start_assessment(
        actor=actor, indicator_set=indicator_set, assessed_on=on, **subject
    )
    payload = {
        key: {"answer": value, "justification": "Not offered." if value == NA else ""}
        for key, value in answers.items()
    }
    assessment = transparency.answer(actor=actor, assessment=assessment, answers=payload)
    if final:
        assessment = transparency.finalize(actor=officer or actor, assessment=assessment)
    return assessment


@pytest.fixture
def deployment_set(db):
    return _set()


ALL = {"data-sources": S, "data-licences": NS, "compute": NA, "capabilities": S, "risks": NS}


# --- Scores ---------------------------------------------------------------------------------


def test_it_scores_weighted_satisfied_over_applicable(officer, system_a, deployment_set):
    assessment = _assess(officer, deployment_set, ALL, system=system_a)

    # satisfied 2 + 3 = 5 of applicable 2 + 1 + 3 + 1 = 7 (compute is not applicable)
    assert (assessment.points, assessment.possible_points) == (Decimal("5.00"), Decimal("7.00"))
    assert assessment.score == Decimal("71.43")


def test_it_counts_unanswered_as_applicable_and_not_satisfied(officer, system_a, deployment_set):
    assessment = transparency.start_assessment(actor=officer, indicator_set=deployment_set, system=system_a)
    assert (assessment.points, assessment.possible_points, assessment.score) == (0, 8, 0)

    assessment = transparency.answer(
        actor=officer, assessment=assessment, answers={"capabilities": {"answer": S}}
    )
    assert assessment.score == Decimal("37.50")


def test_it_leaves_the_score_empty_when_nothing_applies(officer, system_a, deployment_set):
    assessment = _assess(officer, deployment_set, dict.fromkeys(ALL, NA), system=system_a)

    assert (assessment.points, assessment.possible_points, assessment.score) == (0, 0, None)


def test_it_rounds_half_up_in_the_stored_score_and_the_breakdown(officer, system_a):
    indicator_set = _set(layout=[("one", "A", "B", 1), ("many", "A", "B", 31)])
    assessment = _assess(officer, indicator_set, {"one": S, "many": NS}, system=system_a)

    assert assessment.score == Decimal("3.13")  # 100 x 1 / 32 = 3.125
    assert transparency.breakdown(assessment)["total"]["score"] == Decimal("3.13")


def test_it_breaks_down_by_domain_and_subdomain_summing_to_the_total(officer, system_a, deployment_set):
    assessment = _assess(officer, deployment_set, ALL, system=system_a)

    result = transparency.breakdown(assessment)

    assert result["total"] == {"points": 5, "possible_points": 7, "score": Decimal("71.43")}
    assert [d["domain"] for d in result["domains"]] == ["Upstream", "Model"]
    upstream, model = result["domains"]
    assert [s["subdomain"] for s in upstream["subdomains"]] == ["Data", "Compute"]
    assert (upstream["points"], upstream["possible_points"], upstream["score"]) == (2, 3, Decimal("66.67"))
    assert upstream["subdomains"][1] == {
        "subdomain": "Compute",
        "points": 0,
        "possible_points": 0,
        "score": None,
    }
    for key in ("points", "possible_points"):
        assert sum(d[key] for d in result["domains"]) == result["total"][key]
        for domain in result["domains"]:
            assert sum(s[key] for s in domain["subdomains"]) == domain[key]


def test_it_shows_the_change_from_the_previous_final_assessment(officer, system_a, deployment_set):
    first = _assess(officer, deployment_set, ALL, system=system_a, on=DAY)
    later = {**ALL, "data-sources": NS, "data-licences": S, "risks": NA}
    second = _assess(officer, deployment_set, later, system=system_a, on=DAY + datetime.timedelta(days=30))

    changes = {row["key"]: row["change"] for row in transparency.breakdown(second)["indicators"]}
    assert transparency.breakdown(second)["previous_assessment"]["id"] == first.pk
    assert changes == {
        "data-sources": "lost",
        "data-licences": "gained",
        "compute": "same",
        "capabilities": "same",
        "risks": "same",
    }
    assert {row["change"] for row in transparency.breakdown(first)["indicators"]} == {"new"}


def test_it_compares_with_final_assessments_only(officer, system_a, deployment_set):
    _assess(officer, deployment_set, dict.fromkeys(ALL, S), system=system_a, final=False)
    current = _assess(officer, deployment_set, ALL, system=system_a, on=DAY + datetime.timedelta(days=1))

    assert transparency.breakdown(current)["previous_assessment"] is None


def test_it_recomputes_many_assessments_in_one_statement(officer, deployment_set):
    systems = AISystemFactory.create_batch(3)
    ids = [_assess(officer, deployment_set, ALL, system=s).pk for s in systems]
    TransparencyAssessment.objects.filter(pk__in=ids).update(points=None, possible_points=None, score=None)

    with CaptureQueriesContext(connection) as ctx:
        changed = transparency.recompute_scores(assessment_ids=ids)
    # The change-history stamp travels in the same round trip as the UPDATE (change_context).
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    updates = [sql for sql in statements if "UPDATE governance_transparencyassessment" in sql]

    assert changed == 3 and len(statements) == len(updates) == 1
    assert set(TransparencyAssessment.objects.filter(pk__in=ids).values_list("score", flat=True)) == {
        Decimal("71.43")
    }
    assert transparency.recompute_scores() == 0  # nothing left to change


# --- Finalizing -----------------------------------------------------------------------------


def test_it_refuses_to_finalize_with_unanswered_or_unjustified_indicators(officer, system_a, deployment_set):
    assessment = transparency.start_assessment(actor=officer, indicator_set=deployment_set, system=system_a)
    transparency.answer(
        actor=officer,
        assessment=assessment,
        answers={"data-sources": {"answer": S}, "compute": {"answer": NA}, "risks": {"answer": NA}},
    )

    with pytest.raises(ValidationError) as caught:
        transparency.finalize(actor=officer, assessment=assessment)

    unanswered, unjustified = caught.value.message_dict["answers"]
    assert unanswered == "Not answered: data-licences, capabilities."
    assert unjustified == "'Not applicable' without a justification: compute, risks."
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.DRAFT


def test_it_keeps_final_assessments_unchanged(officer, system_a, deployment_set):
    assessment = _assess(officer, deployment_set, ALL, system=system_a)

    with pytest.raises(Conflict):
        transparency.answer(actor=officer, assessment=assessment, answers={"risks": {"answer": S}})
    with pytest.raises(Conflict):
        transparency.finalize(actor=officer, assessment=assessment)
    assert transparency.breakdown(assessment)["total"]["score"] == Decimal("71.43")


def test_it_refuses_unknown_indicators_and_answers(officer, system_a, deployment_set):
    assessment = transparency.start_assessment(actor=officer, indicator_set=deployment_set, system=system_a)

    with pytest.raises(ValidationError) as caught:
        transparency.answer(
            actor=officer,
            assessment=assessment,
            answers={"nope": {"answer": S}, "risks": {"answer": "maybe", "evidence_url": "not a url"}},
        )

    assert len(caught.value.message_dict["answers"]) == 3


def test_it_matches_the_subject_to_the_set(officer, system_a, deployment_set):
    with pytest.raises(ValidationError):
        transparency.start_assessment(actor=officer, indicator_set=deployment_set, model=AIModelFactory())
    with pytest.raises(ValidationError):
        transparency.start_assessment(actor=officer, indicator_set=_set("model"), system=system_a)


# --- Scope ----------------------------------------------------------------------------------


def test_it_lets_engineers_draft_for_their_teams_systems_only(
    officer, engineer, other_engineer, auditor, system_a, deployment_set
):
    assessment = _assess(engineer, deployment_set, ALL, system=system_a, final=False)
    assert assessment.score == Decimal("71.43")

    with pytest.raises(ValidationError):
        transparency.start_assessment(actor=other_engineer, indicator_set=deployment_set, system=system_a)
    with pytest.raises(ValidationError):
        transparency.answer(actor=other_engineer, assessment=assessment, answers={"risks": {"answer": S}})
    with pytest.raises(NotAllowed):
        transparency.start_assessment(actor=auditor, indicator_set=deployment_set, system=system_a)
    with pytest.raises(NotAllowed):
        transparency.start_assessment(actor=engineer, indicator_set=_set("model"), model=AIModelFactory())
    with pytest.raises(NotAllowed):
        transparency.finalize(actor=engineer, assessment=assessment)

    final = transparency.finalize(actor=officer, assessment=assessment)
    with pytest.raises(Conflict):
        transparency.answer(actor=engineer, assessment=final, answers={"risks": {"answer": S}})


# --- System score and ranking ---------------------------------------------------------------


@pytest.fixture
def fmti(db):
    return _set("model", layout=[("a", "Upstream", "Data", 1), ("b", "Model", "Risks", 1)])


def _model_with_score(officer, fmti, answers, on=DAY):
    model = AIModelFactory()
    _assess(officer, fmti, answers, model=model, on=on)
    return model


def test_it_combines_deployment_and_models_into_the_system_score(officer, system_a, deployment_set, fmti):
    primary = _model_with_score(officer, fmti, {"a": S, "b": S})  # 100
    guard = _model_with_score(officer, fmti, {"a": S, "b": NS})  # 50
    SystemModelFactory(system=system_a, model=primary, role=ModelRole.PRIMARY)
    SystemModelFactory(system=system_a, model=guard, role=ModelRole.GUARD)
    SystemModelFactory(system=system_a, model=AIModelFactory(), role=ModelRole.EMBEDDING)  # never assessed
    deployment = _assess(officer, deployment_set, ALL, system=system_a)  # 71.43

    result = transparency.system_score(system_a)

    assert result["deployment"]["assessment_id"] == deployment.pk
    assert result["deployment"]["indicator_set"]["id"] == deployment_set.pk
    assert result["models"]["score"] == Decimal("83.33")  # (2 x 100 + 1 x 50) / 3
    assert [m["score"] for m in result["models"]["models"]] == [100, 50, None]
    assert result["score"] == Decimal("75.00")  # 0.7 x 71.43 + 0.3 x 83.33 = 75.000
    assert result["basis"] == "deployment_and_models"


def test_it_uses_whichever_part_exists(officer, system_a, deployment_set, fmti):
    assert transparency.system_score(system_a)["basis"] == "none"
    assert transparency.system_score(system_a)["score"] is None

    model = _model_with_score(officer, fmti, {"a": S, "b": NS})
    SystemModelFactory(system=system_a, model=model, role=ModelRole.FALLBACK)
    result = transparency.system_score(system_a)
    assert (result["score"], result["basis"], result["deployment"]) == (Decimal("50.00"), "models_only", None)

    other = AISystemFactory()
    _assess(officer, deployment_set, ALL, system=other)
    result = transparency.system_score(other)
    assert (result["score"], result["basis"], result["models"]["score"]) == (
        Decimal("71.43"),
        "deployment_only",
        None,
    )


def test_it_takes_the_latest_final_assessments_on_the_current_set(officer, system_a, deployment_set, fmti):
    _assess(officer, deployment_set, dict.fromkeys(ALL, S), system=system_a, on=DAY)
    latest = _assess(officer, deployment_set, ALL, system=system_a, on=DAY + datetime.timedelta(days=5))
    _assess(
        officer,
        deployment_set,
        dict.fromkeys(ALL, NS),
        system=system_a,
        final=False,
        on=DAY.replace(year=2027),
    )
    model = _model_with_score(officer, fmti, {"a": S, "b": S}, on=DAY)
    _assess(officer, fmti, {"a": NS, "b": NS}, model=model, on=DAY + datetime.timedelta(days=9))
    SystemModelFactory(system=system_a, model=model)

    result = transparency.system_score(system_a)
    assert result["deployment"]["assessment_id"] == latest.pk
    assert result["models"]["score"] == 0

    newer_set = _set(version="1.10")  # after "1.9" and "1.0": no assessment on it yet
    _set(version="1.9")
    result = transparency.system_score(system_a)
    assert (result["deployment"], result["basis"]) == (None, "models_only")
    assert transparency.system_score(system_a)["score"] == 0
    assert newer_set.pk


def test_it_ranks_systems_by_score_within_the_range(officer, engineer, team_a, deployment_set, fmti):
    high = AISystemFactory(owning_team=team_a, name="High")
    middle = AISystemFactory(name="Middle")  # another team's
    low = AISystemFactory(owning_team=team_a, name="Low")
    AISystemFactory(owning_team=team_a, name="Unscored")
    _assess(officer, deployment_set, dict.fromkeys(ALL, S), system=high)  # 100
    SystemModelFactory(system=high, model=_model_with_score(officer, fmti, {"a": S, "b": NS}))  # 50
    _assess(officer, deployment_set, ALL, system=middle)  # 71.43
    _assess(officer, deployment_set, {**dict.fromkeys(ALL, NS), "risks": S}, system=low)  # 12.5

    ranked = transparency.ranking(user=officer)
    assert [(s.name, s.transparency_score, s.transparency_basis) for s in ranked] == [
        ("High", Decimal("85.00"), "deployment_and_models"),
        ("Middle", Decimal("71.43"), "deployment_only"),
        ("Low", Decimal("12.50"), "deployment_only"),
    ]
    for system in ranked:
        assert transparency.system_score(system)["score"] == system.transparency_score
    assert [s.name for s in transparency.ranking(user=officer, min_score=20, max_score=85)] == [
        "High",
        "Middle",
    ]
    assert [s.name for s in transparency.ranking(user=officer, max_score=Decimal("71.43"))] == [
        "Middle",
        "Low",
    ]
    assert [s.name for s in transparency.ranking(user=engineer)] == ["High", "Low"]


def test_it_leaves_retired_systems_out_of_the_ranking_unless_asked(officer, team_a, deployment_set):
    live = AISystemFactory(owning_team=team_a, name="Live")
    retired = AISystemFactory(
        owning_team=team_a,
        name="Retired",
        lifecycle_stage="retired",
        deployed_on=datetime.date(2024, 1, 1),
        retired_on=datetime.date(2025, 1, 1),
    )
    dated = AISystemFactory(owning_team=team_a, name="Dated", retired_on=datetime.date(2025, 6, 1))
    for system in (live, retired, dated):
        _assess(officer, deployment_set, ALL, system=system)

    assert [s.name for s in transparency.ranking(user=officer)] == ["Live"]
    assert [s.name for s in transparency.ranking(user=officer, include_retired=True)] == [
        "Dated",
        "Live",
        "Retired",
    ]
    assert transparency.system_score(retired)["score"] == Decimal("71.43")  # still scored on its own


def test_it_ranks_in_one_query(officer, deployment_set, fmti):
    for _ in range(3):
        system = AISystemFactory()
        _assess(officer, deployment_set, ALL, system=system)
        SystemModelFactory(system=system, model=_model_with_score(officer, fmti, {"a": S, "b": S}))

    ranked = transparency.ranking(user=officer)
    with CaptureQueriesContext(connection) as ctx:
        rows = list(ranked)

    assert len(rows) == 3 and len(ctx.captured_queries) == 1


def test_it_lists_the_history_oldest_first(officer, system_a, deployment_set, fmti):
    later = _assess(officer, deployment_set, ALL, system=system_a, on=DAY + datetime.timedelta(days=3))
    earlier = _assess(officer, deployment_set, dict.fromkeys(ALL, S), system=system_a, on=DAY)
    _assess(officer, deployment_set, ALL, system=system_a, final=False)

    rows = transparency.history(system=system_a)

    assert [(r["id"], r["score"]) for r in rows] == [(earlier.pk, 100), (later.pk, Decimal("71.43"))]
    assert rows[0]["indicator_set"]["id"] == deployment_set.pk
    assert transparency.history(model=AIModelFactory()) == []


def test_it_bounds_the_history_rows_by_a_window_of_dates(officer, system_a, deployment_set):
    from governance.services.transparency_systems import history_point, history_rows

    first = _assess(officer, deployment_set, ALL, system=system_a, on=DAY)
    second = _assess(officer, deployment_set, ALL, system=system_a, on=DAY + datetime.timedelta(days=10))
    third = _assess(officer, deployment_set, ALL, system=system_a, on=DAY + datetime.timedelta(days=20))

    def ids(**window):
        return [row["pk"] for row in history_rows(system=system_a, **window)]

    assert ids() == [first.pk, second.pk, third.pk]
    assert ids(since=DAY + datetime.timedelta(days=10)) == [second.pk, third.pk]
    assert ids(until=DAY + datetime.timedelta(days=10)) == [first.pk, second.pk]
    assert [history_point(row) for row in history_rows(system=system_a)] == transparency.history(
        system=system_a
    )
