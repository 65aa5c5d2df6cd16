"""The risk register: who may do what, validation, generated scores, filters, query counts, admin."""

import datetime

import pytest
from django.utils import timezone

from governance.models import ChangeEvent, Risk
from tests.factories import AISystemFactory, ControlFactory, RiskFactory, UserFactory
from tests.queries import steady_state_queries

RISKS = "/api/v1/risks/"
RISK_PAYLOAD = {
    "system": "target",
    "title": "Hallucinated refund amounts",
    "characteristic": "valid_reliable",
    "likelihood": 2,
    "impact": 5,
    "treatment": "mitigate",
}

# action -> persona -> expected status, for a risk of a team A system
EXPECTED = {
    "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
    "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
    "create": {"officer": 201, "engineer": 201, "other_engineer": 400, "auditor": 403},
    "update": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
    "delete": {"officer": 204, "engineer": 204, "other_engineer": 404, "auditor": 403},
}
CASES = [(action, persona, status) for action, by in EXPECTED.items() for persona, status in by.items()]


@pytest.mark.parametrize("action,persona,expected", CASES)
def test_it_enforces_roles_and_scope(action, persona, expected, personas, team_a, api_as):
    risk = RiskFactory(system=AISystemFactory(slug="target", owning_team=team_a))
    client = api_as(personas[persona])
    before = Risk.objects.count()

    if action == "list":
        response = client.get(RISKS)
    elif action == "detail":
        response = client.get(f"{RISKS}{risk.pk}/")
    elif action == "create":
        response = client.post(RISKS, RISK_PAYLOAD, format="json")
    elif action == "update":
        response = client.patch(f"{RISKS}{risk.pk}/", {"status": "treating"}, format="json")
    else:
        response = client.delete(f"{RISKS}{risk.pk}/")

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert Risk.objects.count() == before, "a refused request must change nothing"
        assert response.json()["status"] == expected
        risk.refresh_from_db()
        assert risk.status == "identified"
    if action == "create" and expected == 201:
        assert Risk.objects.count() == before + 1
    if action == "delete" and expected == 204:
        assert Risk.objects.count() == before - 1


def test_it_hides_other_teams_risks_from_lists(api_as, engineer, other_engineer, system_a):
    risk = RiskFactory(system=system_a)
    assert [row["id"] for row in api_as(engineer).get(RISKS).json()["results"]] == [risk.pk]
    assert api_as(other_engineer).get(RISKS).json()["results"] == []


def test_it_refuses_moving_a_risk_to_another_teams_system(api_as, officer, engineer, system_a, team_b):
    risk = RiskFactory(system=system_a)
    theirs = AISystemFactory(slug="theirs", owning_team=team_b)
    response = api_as(engineer).patch(f"{RISKS}{risk.pk}/", {"system": "theirs"}, format="json")
    assert response.status_code == 400
    assert "system" in response.json()["errors"]
    risk.refresh_from_db()
    assert risk.system_id == system_a.pk
    moved = api_as(officer).patch(f"{RISKS}{risk.pk}/", {"system": "theirs"}, format="json")
    assert moved.status_code == 200
    assert moved.json()["system"] == "theirs"
    risk.refresh_from_db()
    assert risk.system_id == theirs.pk


# --- Validation ---------------------------------------------------------------------------------

PAIR = "Give both residual likelihood and residual impact, or neither."


@pytest.mark.parametrize(
    "change,field",
    [
        ({"likelihood": 6}, "likelihood"),
        ({"likelihood": 0}, "likelihood"),
        ({"impact": 9}, "impact"),
        ({"residual_likelihood": 6, "residual_impact": 1}, "residual_likelihood"),
        ({"residual_likelihood": 2}, "residual_impact"),
        ({"residual_impact": 2}, "residual_likelihood"),
        ({"residual_likelihood": 2, "residual_impact": None}, "residual_impact"),
        ({"system": "no-such-system"}, "system"),
        ({"controls": ["ctl-nope"]}, "controls"),
        ({"controls": "ctl-x"}, "controls"),
        ({"characteristic": "fast"}, "characteristic"),
        ({"treatment": "ignore"}, "treatment"),
        ({"owner": "nobody"}, "owner"),
        ({"owner": ""}, "owner"),  # none is null; the schema says a username or null
        ({"review_on": "soon"}, "review_on"),
    ],
)
def test_it_rejects_bad_fields_with_messages(api_as, engineer, team_a, change, field):
    AISystemFactory(slug="target", owning_team=team_a)
    ControlFactory(code="ctl-x")
    response = api_as(engineer).post(RISKS, {**RISK_PAYLOAD, **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert not Risk.objects.exists()


def test_it_names_the_missing_half_of_the_residual_pair(api_as, engineer, team_a):
    AISystemFactory(slug="target", owning_team=team_a)
    response = api_as(engineer).post(RISKS, {**RISK_PAYLOAD, "residual_likelihood": 2}, format="json")
    assert response.json()["errors"] == {"residual_impact": [PAIR]}


def test_it_refuses_clearing_half_of_the_residual_pair(api_as, engineer, system_a):
    risk = RiskFactory(system=system_a, residual_likelihood=1, residual_impact=2)
    response = api_as(engineer).patch(f"{RISKS}{risk.pk}/", {"residual_likelihood": None}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"residual_likelihood": [PAIR]}
    risk.refresh_from_db()
    assert (risk.residual_likelihood, risk.residual_score) == (1, 2)


def test_it_hides_other_teams_systems_when_writing(api_as, other_engineer, team_a):
    AISystemFactory(slug="target", owning_team=team_a)
    response = api_as(other_engineer).post(RISKS, RISK_PAYLOAD, format="json")
    assert response.status_code == 400
    assert "does not exist" in response.json()["errors"]["system"][0]


# --- Generated scores and shape -----------------------------------------------------------------


def test_it_computes_the_scores_in_the_database(api_as, engineer, team_a):
    AISystemFactory(slug="target", owning_team=team_a)
    ControlFactory(code="ctl-b")
    ControlFactory(code="ctl-a")
    UserFactory(username="owner")
    client = api_as(engineer)
    payload = {**RISK_PAYLOAD, "controls": ["ctl-b", "ctl-a", "ctl-b"], "owner": "owner", "inherent_score": 1}
    created = client.post(RISKS, payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["inherent_score"], body["residual_score"]) == (10, None)
    assert body["controls"] == ["ctl-a", "ctl-b"]
    assert body["owner"] == "owner"
    risk = Risk.objects.get(pk=body["id"])
    assert (risk.inherent_score, risk.residual_score) == (10, None)

    updated = client.patch(
        f"{RISKS}{risk.pk}/",
        {"likelihood": 4, "residual_likelihood": 1, "residual_impact": 3, "residual_score": 25},
        format="json",
    )
    assert updated.status_code == 200, updated.content
    assert (updated.json()["inherent_score"], updated.json()["residual_score"]) == (20, 3)
    assert updated.json()["controls"] == ["ctl-a", "ctl-b"], "controls not sent are left alone"
    risk.refresh_from_db()
    assert (risk.inherent_score, risk.residual_score) == (20, 3)

    cleared = client.patch(
        f"{RISKS}{risk.pk}/",
        {"residual_likelihood": None, "residual_impact": None, "controls": []},
        format="json",
    )
    assert cleared.status_code == 200
    assert (cleared.json()["residual_score"], cleared.json()["controls"]) == (None, [])
    assert client.get(f"{RISKS}{risk.pk}/").json() == cleared.json()


def test_it_records_risk_changes_under_the_system(api_as, engineer, system_a):
    risk = RiskFactory(system=system_a)
    api_as(engineer).patch(f"{RISKS}{risk.pk}/", {"impact": 1}, format="json")
    update = ChangeEvent.objects.for_object(system_a).get(table_name="governance_risk", operation="UPDATE")
    assert update.changes["impact"] == [4, 1]
    assert update.changes["inherent_score"] == [12, 3]
    assert update.actor == "engineer"


# --- Filters ------------------------------------------------------------------------------------


def test_it_filters_risks(api_as, officer, team_a, team_b):
    today = timezone.localdate()
    a = AISystemFactory(slug="sys-a", owning_team=team_a)
    b = AISystemFactory(slug="sys-b", owning_team=team_b)
    control = ControlFactory(code="ctl-x")
    high = RiskFactory(system=a, likelihood=5, impact=5, review_on=today, controls=[control])
    low = RiskFactory(
        system=b,
        likelihood=1,
        impact=2,
        characteristic="fair",
        treatment="accept",
        status="accepted",
        review_on=today + datetime.timedelta(days=1),
        residual_likelihood=1,
        residual_impact=1,
        title="Biased ranking",
    )
    unscheduled = RiskFactory(system=b, likelihood=3, impact=3)
    client = api_as(officer)

    def ids(query):
        response = client.get(f"{RISKS}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert ids("score_min=9") == sorted([high.pk, unscheduled.pk])
    assert ids("score_min=25") == [high.pk]
    assert ids("residual_score_min=1") == [low.pk]
    assert ids("review_due=true") == [high.pk]
    assert ids("review_due=false") == sorted([low.pk, unscheduled.pk])
    assert ids("team=team-b") == sorted([low.pk, unscheduled.pk])
    assert ids("system=sys-a") == [high.pk]
    assert ids("characteristic=fair") == [low.pk]
    assert ids("treatment=accept") == [low.pk]
    assert ids("status=accepted&status=closed") == [low.pk]
    assert ids("control=ctl-x") == [high.pk]
    assert ids("q=biased") == [low.pk]
    assert client.get(f"{RISKS}?score_min=high").status_code == 400
    assert client.get(f"{RISKS}?characteristic=fast").status_code == 400


# --- Query counts -------------------------------------------------------------------------------


def _seed(n, team):
    owner = UserFactory()
    controls = ControlFactory.create_batch(2)
    for _ in range(n):
        RiskFactory(system=AISystemFactory(owning_team=team), owner=owner, controls=controls)


@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_risks_in_constant_queries(api_as, personas, team_a, persona):
    client = api_as(personas[persona])
    _seed(10, team_a)
    small, body = steady_state_queries(client, f"{RISKS}?page_size=50")
    assert len(body["results"]) == 10
    assert len(body["results"][0]["controls"]) == 2
    _seed(40, team_a)
    large, body = steady_state_queries(client, f"{RISKS}?page_size=50")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 risks, {large} for 50"


# --- Admin --------------------------------------------------------------------------------------


def test_it_lists_scoped_risks_with_scores_in_the_admin(client, engineer, system_a, team_b):
    ours = RiskFactory(system=system_a, residual_likelihood=1, residual_impact=2)
    theirs = RiskFactory(system=AISystemFactory(owning_team=team_b))
    client.force_login(engineer)
    page = client.get("/admin/governance/risk/")
    assert page.status_code == 200
    assert list(page.context["cl"].queryset) == [ours]
    assert "inherent_score" in page.context["cl"].list_display
    assert "residual_score" in page.context["cl"].list_display
    assert client.get(f"/admin/governance/risk/{theirs.pk}/change/").status_code == 302
    history = client.get(f"/admin/governance/risk/{ours.pk}/history/")
    assert history.status_code == 200


def test_it_saves_risks_from_the_admin_through_the_rules(client, engineer, system_a, team_b):
    control = ControlFactory()
    theirs = AISystemFactory(owning_team=team_b)
    client.force_login(engineer)
    url = "/admin/governance/risk/add/"
    form = {
        "system": system_a.pk,
        "title": "Prompt injection",
        "description": "",
        "characteristic": "secure_resilient",
        "likelihood": "4",
        "impact": "3",
        "treatment": "mitigate",
        "status": "identified",
        "controls": [control.pk],
    }
    half = client.post(url, {**form, "residual_likelihood": "2"})
    assert half.status_code == 200
    assert half.context["adminform"].form.errors == {"residual_impact": [PAIR]}
    other = client.post(url, {**form, "system": theirs.pk})
    assert "system" in other.context["adminform"].form.errors
    assert not Risk.objects.exists()

    response = client.post(url, {**form, "residual_likelihood": "2", "residual_impact": "1"})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    risk = Risk.objects.get()
    assert (risk.inherent_score, risk.residual_score) == (12, 2)
    assert list(risk.controls.all()) == [control]
    assert ChangeEvent.objects.get(table_name="governance_risk", object_pk=str(risk.pk)).actor == "engineer"
    history = client.get(f"/admin/governance/risk/{risk.pk}/history/")
    assert {row["what"] for row in history.context["rows"]} == {"risk", "risk_controls"}
