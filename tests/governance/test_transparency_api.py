"""Transparency scoring API: indicator sets, assessments (start, answer, finalize), system scores
and the ranking; scoping, role refusals, score filters, constant query counts and replays."""

import datetime

import pytest

from governance.choices import TokenScope
from governance.models import TransparencyAssessment
from governance.services import transparency as services
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    IndicatorFactory,
    IndicatorSetFactory,
    SystemModelFactory,
)
from tests.queries import steady_state_queries

pytestmark = pytest.mark.django_db

SETS = "/api/v1/indicator-sets/"
ASSESSMENTS = "/api/v1/transparency-assessments/"
SCORES = "/api/v1/transparency-scores/"


def small_set(
    kind="system", key="deploy-1", version="1.0", domains=(("Upstream", "Data", 2), ("Use", "Policy", 2))
):
    """A set with ``count`` indicators per (domain, subdomain), keyed d0-0, d0-1, d1-0, …"""
    indicator_set = IndicatorSetFactory(key=key, name=f"Set {key}", version=version, subject_kind=kind)
    order = 0
    for d, (domain, subdomain, count) in enumerate(domains):
        for i in range(count):
            order += 1
            IndicatorFactory(
                indicator_set=indicator_set,
                key=f"d{d}-{i}",
                domain=domain,
                subdomain=subdomain,
                name=f"{domain} {i}",
                order=order,
            )
    return indicator_set


def assess(officer, indicator_set, *, satisfied, on=None, system=None, model=None, final=True):
    """An assessment with the given keys satisfied and the rest not satisfied."""
    assessment = services.start_assessment(
        actor=officer, indicator_set=indicator_set, system=system, model=model, assessed_on=on
    )
    keys = list(indicator_set.indicators.values_list("key", flat=True))
    answers = {key: {"answer": "satisfied" if key in satisfied else "not_satisfied"} for key in keys}
    services.answer(actor=officer, assessment=assessment, answers=answers)
    if final:
        services.finalize(actor=officer, assessment=assessment)
    assessment.refresh_from_db()
    return assessment


def test_it_lists_indicator_sets_and_groups_a_sets_indicators_by_domain(api_as, engineer):
    small_set(key="deploy-1")
    client = api_as(engineer)

    listed = client.get(SETS).json()["results"]
    assert [(s["key"], s["indicator_count"]) for s in listed] == [("deploy-1", 4)]

    detail = client.get(f"{SETS}deploy-1/").json()
    assert [d["domain"] for d in detail["domains"]] == ["Upstream", "Use"]
    assert [i["key"] for i in detail["domains"][0]["subdomains"][0]["indicators"]] == ["d0-0", "d0-1"]
    assert detail["attribution"] is not None


def test_it_starts_answers_and_finalizes_an_assessment_with_its_score(api_as, officer, system_a):
    small_set()
    client = api_as(officer)

    started = client.post(ASSESSMENTS, {"indicator_set": "deploy-1", "system": "system-a"}, format="json")
    assert started.status_code == 201, started.content
    body = started.json()
    assert body["status"] == "draft" and body["system"] == "system-a" and body["subject_kind"] == "system"
    url = f"{ASSESSMENTS}{body['id']}/"

    answered = client.post(
        f"{url}answers/",
        {
            "answers": {
                "d0-0": {"answer": "satisfied", "evidence_url": "https://example.com/card"},
                "d0-1": {"answer": "satisfied", "disclosure": "Data sheet, section 2."},
                "d1-0": {"answer": "not_satisfied"},
                "d1-1": {"answer": "not_applicable", "justification": "No end users."},
            }
        },
        format="json",
    )
    assert answered.status_code == 200, answered.content
    result = answered.json()
    assert (result["points"], result["possible_points"], result["score"]) == ("2.00", "3.00", "66.67")
    domains = {d["domain"]: d for d in result["breakdown"]["domains"]}
    assert domains["Upstream"]["score"] == 100.0
    assert domains["Use"]["score"] == 0.0
    by_key = {i["key"]: i for i in result["breakdown"]["indicators"]}
    assert by_key["d0-0"]["evidence_url"] == "https://example.com/card"

    finalized = client.post(f"{url}finalize/")
    assert finalized.status_code == 200, finalized.content
    assert finalized.json()["status"] == "final"

    again = client.post(f"{url}answers/", {"answers": {"d1-0": {"answer": "satisfied"}}}, format="json")
    assert again.status_code == 409


def test_it_names_the_indicators_a_final_assessment_still_needs(api_as, officer, system_a):
    small_set()
    client = api_as(officer)
    assessment_id = client.post(
        ASSESSMENTS, {"indicator_set": "deploy-1", "system": "system-a"}, format="json"
    ).json()["id"]
    url = f"{ASSESSMENTS}{assessment_id}/"
    client.post(
        f"{url}answers/",
        {"answers": {"d0-0": {"answer": "satisfied"}, "d1-1": {"answer": "not_applicable"}}},
        format="json",
    )

    refused = client.post(f"{url}finalize/")

    assert refused.status_code == 400
    messages = " ".join(refused.json()["errors"]["answers"])
    assert "d0-1" in messages and "d1-0" in messages and "d1-1" in messages
    assert "d0-0" not in messages
    assert TransparencyAssessment.objects.get(pk=assessment_id).status == "draft"


def test_it_answers_field_messages_for_a_bad_start_or_bad_answers(api_as, officer, system_a):
    small_set()
    small_set(kind="model", key="fmti-x")
    client = api_as(officer)

    neither = client.post(ASSESSMENTS, {"indicator_set": "deploy-1"}, format="json")
    assert neither.status_code == 400
    assert set(neither.json()["errors"]) == {"system", "model"}

    mismatch = client.post(ASSESSMENTS, {"indicator_set": "fmti-x", "system": "system-a"}, format="json")
    assert mismatch.status_code == 400
    assert "indicator_set" in mismatch.json()["errors"]

    assessment_id = client.post(
        ASSESSMENTS, {"indicator_set": "deploy-1", "system": "system-a"}, format="json"
    ).json()["id"]
    bad = client.post(
        f"{ASSESSMENTS}{assessment_id}/answers/",
        {"answers": {"d0-0": {"answer": "maybe"}, "nope": {"answer": "satisfied"}}},
        format="json",
    )
    assert bad.status_code == 400
    assert "answers" in bad.json()["errors"]


def test_it_scopes_system_assessments_to_the_team_and_refuses_roles(
    api_as, officer, engineer, other_engineer, auditor, system_a
):
    indicator_set = small_set()
    assessment = assess(officer, indicator_set, system=system_a, satisfied={"d0-0"}, final=False)
    url = f"{ASSESSMENTS}{assessment.pk}/"

    outsider = api_as(other_engineer)
    assert outsider.get(ASSESSMENTS).json()["results"] == []
    assert outsider.get(url).status_code == 404
    assert (
        outsider.post(
            f"{url}answers/", {"answers": {"d0-0": {"answer": "satisfied"}}}, format="json"
        ).status_code
        == 404
    )
    assert (
        outsider.post(
            ASSESSMENTS, {"indicator_set": "deploy-1", "system": "system-a"}, format="json"
        ).status_code
        == 400
    )
    assert outsider.get(f"{SCORES}system-a/").status_code == 404

    own = api_as(engineer)
    assert own.get(url).status_code == 200
    answered = own.post(f"{url}answers/", {"answers": {"d0-1": {"answer": "satisfied"}}}, format="json")
    assert answered.status_code == 200
    assert own.post(f"{url}finalize/").status_code == 403

    reader = api_as(auditor)
    assert reader.get(url).status_code == 200
    assert (
        reader.post(
            f"{url}answers/", {"answers": {"d0-1": {"answer": "satisfied"}}}, format="json"
        ).status_code
        == 403
    )
    read_only = api_as(officer, scope=TokenScope.READ)
    assert read_only.post(f"{url}finalize/").status_code == 403


def test_it_filters_assessments_by_score_range_status_and_set(api_as, officer, team_a):
    indicator_set = small_set()
    low = assess(officer, indicator_set, system=AISystemFactory(owning_team=team_a), satisfied={"d0-0"})
    high = assess(
        officer, indicator_set, system=AISystemFactory(owning_team=team_a), satisfied={"d0-0", "d0-1", "d1-0"}
    )
    draft = assess(
        officer, indicator_set, system=AISystemFactory(owning_team=team_a), satisfied=set(), final=False
    )
    client = api_as(officer)

    def ids(query):
        response = client.get(f"{ASSESSMENTS}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("score_min=50") == {high.pk}
    assert ids("score_max=50") == {low.pk, draft.pk}
    assert ids("score_min=20&score_max=30") == {low.pk}
    assert ids("status=draft") == {draft.pk}
    assert ids("indicator_set=deploy-1&status=final") == {low.pk, high.pk}
    assert ids("indicator_set=other") == set()
    assert client.get(f"{ASSESSMENTS}?score_min=abc").status_code == 400


def test_it_ranks_systems_by_score_within_a_score_range(api_as, officer, team_a, team_b, engineer):
    deployment = small_set()
    fmti = small_set(kind="model", key="fmti-x")
    best = AISystemFactory(slug="best", name="Best", owning_team=team_a)
    middle = AISystemFactory(slug="middle", name="Middle", owning_team=team_a)
    worst = AISystemFactory(slug="worst", name="Worst", owning_team=team_b)
    AISystemFactory(slug="unscored", owning_team=team_a)
    assess(officer, deployment, system=best, satisfied={"d0-0", "d0-1", "d1-0", "d1-1"})
    assess(officer, deployment, system=middle, satisfied={"d0-0", "d0-1"})
    assess(officer, deployment, system=worst, satisfied={"d0-0"})
    model = AIModelFactory()
    SystemModelFactory(system=middle, model=model)
    assess(officer, fmti, model=model, satisfied={"d0-0", "d0-1", "d1-0", "d1-1"})

    rows = api_as(officer).get(SCORES).json()["results"]
    assert [(r["slug"], r["score"], r["basis"]) for r in rows] == [
        ("best", "100.00", "deployment_only"),
        ("middle", "65.00", "deployment_and_models"),  # 0.7 × 50 + 0.3 × 100
        ("worst", "25.00", "deployment_only"),
    ]
    assert rows[1]["deployment"] == "50.00" and rows[1]["models"] == "100.00"

    ranged = api_as(officer).get(f"{SCORES}?score_min=20&score_max=70").json()["results"]
    assert [r["slug"] for r in ranged] == ["middle", "worst"]
    assert [r["slug"] for r in api_as(engineer).get(SCORES).json()["results"]] == ["best", "middle"]
    inverted = api_as(officer).get(f"{SCORES}?score_min=80&score_max=20")
    assert inverted.status_code == 400 and "score_max" in inverted.json()["errors"]


def retired_system(**fields):
    return AISystemFactory(
        lifecycle_stage="retired",
        deployed_on=datetime.date(2024, 1, 1),
        retired_on=datetime.date(2025, 1, 1),
        **fields,
    )


def test_it_leaves_retired_systems_out_of_the_ranking_unless_asked(api_as, officer, team_a):
    deployment = small_set()
    live = AISystemFactory(slug="live", name="Live", owning_team=team_a, lifecycle_stage="validation")
    old = retired_system(slug="old", name="Old", owning_team=team_a)
    assess(officer, deployment, system=live, satisfied={"d0-0"})
    assess(officer, deployment, system=old, satisfied={"d0-0", "d0-1"})
    client = api_as(officer)

    rows = client.get(SCORES).json()["results"]
    assert [(r["slug"], r["lifecycle_stage"], r["retired_on"]) for r in rows] == [
        ("live", "validation", None)
    ]
    assert [r["slug"] for r in client.get(f"{SCORES}?include_retired=false").json()["results"]] == ["live"]
    rows = client.get(f"{SCORES}?include_retired=true").json()["results"]
    assert [(r["slug"], r["lifecycle_stage"], r["retired_on"]) for r in rows] == [
        ("old", "retired", "2025-01-01"),
        ("live", "validation", None),
    ]

    bad = client.get(f"{SCORES}?include_retired=maybe")
    assert bad.status_code == 400
    assert bad.json()["errors"]["include_retired"] == ["Must be true or false."]

    detail = client.get(f"{SCORES}old/")  # a retired system's own score and history still answer
    assert detail.status_code == 200
    body = detail.json()
    assert (body["lifecycle_stage"], body["score"], len(body["history"])) == ("retired", 50.0, 1)


def test_it_bounds_a_systems_score_history_by_limit_and_window(api_as, officer, system_a):
    deployment = small_set()
    days = [datetime.date(2026, 1, day) for day in (5, 10, 15, 20, 25)]
    for day in days:
        assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=day)
    client = api_as(officer)

    body = client.get(f"{SCORES}system-a/").json()
    assert [h["assessed_on"] for h in body["history"]] == [d.isoformat() for d in days]
    assert body["history_next"] is None

    body = client.get(f"{SCORES}system-a/?limit=2").json()
    seen = [h["assessed_on"] for h in body["history"]]
    assert seen == ["2026-01-05", "2026-01-10"] and body["history_next"]
    while body["history_next"]:
        body = client.get(body["history_next"]).json()
        seen += [h["assessed_on"] for h in body["history"]]
        assert body["score"] == 25.0  # every page carries the current score
    assert seen == [d.isoformat() for d in days]

    window = client.get(f"{SCORES}system-a/?since=2026-01-10&until=2026-01-20").json()
    assert [h["assessed_on"] for h in window["history"]] == ["2026-01-10", "2026-01-15", "2026-01-20"]

    for query, field in (
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
        ("since=yesterday", "since"),
        ("since=2026-02-01&until=2026-01-01", "until"),
    ):
        response = client.get(f"{SCORES}system-a/?{query}")
        assert response.status_code == 400, query
        assert list(response.json()["errors"]) == [field], query


def test_it_shows_a_systems_score_with_both_parts_and_its_history(api_as, officer, system_a):
    deployment = small_set()
    fmti = small_set(kind="model", key="fmti-x")
    model = AIModelFactory()
    SystemModelFactory(system=system_a, model=model)
    assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, 1, 10))
    assess(officer, deployment, system=system_a, satisfied={"d0-0", "d0-1"}, on=datetime.date(2026, 6, 10))
    assess(officer, fmti, model=model, satisfied={"d0-0", "d0-1", "d1-0"})

    body = api_as(officer).get(f"{SCORES}system-a/").json()

    assert body["system"] == "system-a"
    assert body["deployment"]["score"] == 50.0
    assert body["models"]["score"] == 75.0
    assert body["score"] == 57.5 and body["basis"] == "deployment_and_models"
    assert [(h["assessed_on"], h["score"]) for h in body["history"]] == [
        ("2026-01-10", 25.0),
        ("2026-06-10", 50.0),
    ]


def test_it_shows_the_change_from_the_previous_assessment(api_as, officer, system_a):
    deployment = small_set()
    assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, 1, 10))
    later = assess(officer, deployment, system=system_a, satisfied={"d0-1"}, on=datetime.date(2026, 6, 10))

    body = api_as(officer).get(f"{ASSESSMENTS}{later.pk}/").json()

    changes = {i["key"]: i["change"] for i in body["breakdown"]["indicators"]}
    assert changes == {"d0-0": "lost", "d0-1": "gained", "d1-0": "same", "d1-1": "same"}


def test_it_lists_in_a_constant_number_of_queries(api_as, officer, team_a):
    deployment = small_set()
    fmti = small_set(kind="model", key="fmti-x")
    client = api_as(officer)

    def add_rows():
        system = AISystemFactory(owning_team=team_a)
        model = AIModelFactory()
        SystemModelFactory(system=system, model=model)
        assess(officer, deployment, system=system, satisfied={"d0-0"})
        assess(officer, fmti, model=model, satisfied={"d0-1"})
        IndicatorSetFactory()

    add_rows()
    counts = {url: steady_state_queries(client, url)[0] for url in (ASSESSMENTS, SCORES, SETS)}
    for _ in range(3):
        add_rows()
    for url, before in counts.items():
        after, body = steady_state_queries(client, url)
        assert after == before, url
        assert len(body["results"]) >= 4


def test_it_replays_a_start_with_the_same_idempotency_key(api_as, officer, system_a):
    small_set()
    client = api_as(officer)
    payload = {"indicator_set": "deploy-1", "system": "system-a"}

    first = client.post(ASSESSMENTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="start-1")
    second = client.post(ASSESSMENTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="start-1")

    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert TransparencyAssessment.objects.count() == 1

    url = f"{ASSESSMENTS}{first.json()['id']}/finalize/"
    refused = client.post(url, HTTP_IDEMPOTENCY_KEY="fin-1")
    replayed = client.post(url, HTTP_IDEMPOTENCY_KEY="fin-1")
    assert refused.status_code == replayed.status_code == 400
    assert replayed["Idempotent-Replayed"] == "true"
