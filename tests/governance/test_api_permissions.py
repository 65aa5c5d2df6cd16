"""Every endpoint × action × persona: who may do what, and what scope hides (404)."""

import pytest

from governance.models import AIModel, AISystem, Team
from tests import matrix
from tests.factories import AIModelFactory, AISystemFactory, TeamFactory, system_payload

SYSTEM_PAYLOAD = system_payload()
MODEL_PAYLOAD = {
    "provider": "Acme AI",
    "name": "acme-new",
    "version": "2",
    "modality": "text",
    "model_type": "foundation",
    "weights": "open",
    "hosting": "self_hosted",
}
TEAM_PAYLOAD = {"slug": "team-new", "name": "Team New"}


def _objects(team_a):
    system = AISystemFactory(slug="target", owning_team=team_a)
    model = AIModelFactory()
    empty_team = TeamFactory(slug="empty-team", name="Empty")
    return {
        "ai-systems": (system.slug, SYSTEM_PAYLOAD, {"name": "Renamed"}, AISystem),
        "ai-models": (model.pk, MODEL_PAYLOAD, {"notes": "checked"}, AIModel),
        "teams": (empty_team.slug, TEAM_PAYLOAD, {"description": "updated"}, Team),
    }


# endpoint -> action -> persona -> expected status
EXPECTED = {
    "ai-systems": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 400, "auditor": 403},
        "update": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
        "delete": {"officer": 204, "engineer": 204, "other_engineer": 404, "auditor": 403},
    },
    "ai-models": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 201, "auditor": 403},
        "update": {"officer": 200, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "delete": {"officer": 204, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
    "teams": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "create": {"officer": 201, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "update": {"officer": 200, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "delete": {"officer": 204, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
}
CASES = matrix.cases(EXPECTED)


@pytest.mark.parametrize("endpoint,action,persona,expected", CASES)
def test_it_enforces_roles_and_scope(endpoint, action, persona, expected, personas, team_a, api_as):
    lookup, create_payload, patch_payload, model = _objects(team_a)[endpoint]
    client = api_as(personas[persona])
    base = f"/api/v1/{endpoint}/"
    before = model.objects.count()

    response = matrix.perform(client, action, base, lookup, create=create_payload, patch=patch_payload)
    matrix.assert_outcome(response, action, expected, model, before)


def test_it_hides_other_teams_systems_from_lists(api_as, engineer, other_engineer, system_a):
    mine = api_as(engineer).get("/api/v1/ai-systems/").json()["results"]
    theirs = api_as(other_engineer).get("/api/v1/ai-systems/").json()["results"]
    assert [s["slug"] for s in mine] == ["system-a"]
    assert theirs == []


def test_it_refuses_moving_a_system_to_a_team_the_engineer_is_not_in(api_as, engineer, system_a, team_b):
    response = api_as(engineer).patch(
        "/api/v1/ai-systems/system-a/", {"owning_team": "team-b"}, format="json"
    )
    assert response.status_code == 400
    assert "owning_team" in response.json()["errors"]
    system_a.refresh_from_db()
    assert system_a.owning_team_id != team_b.pk


def test_it_answers_401_without_credentials(db, system_a):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/ai-systems/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_409_when_deleting_a_model_in_use(api_as, officer, system_a):
    from tests.factories import SystemModelFactory

    link = SystemModelFactory(system=system_a)
    response = api_as(officer).delete(f"/api/v1/ai-models/{link.model_id}/")
    assert response.status_code == 409
    assert "system-a" in response.json()["detail"]
    assert AIModel.objects.filter(pk=link.model_id).exists()


def test_it_answers_409_naming_what_still_uses_a_model_assessed_for_transparency(api_as, officer, system_a):
    from tests.factories import SystemModelFactory, TransparencyAssessmentFactory

    link = SystemModelFactory(system=system_a)
    TransparencyAssessmentFactory(system=None, model=link.model)
    response = api_as(officer).delete(f"/api/v1/ai-models/{link.model_id}/")
    assert response.status_code == 409
    assert response.json()["detail"] == "The model is still used by: system-a, 1 transparency assessments."
    assert AIModel.objects.filter(pk=link.model_id).exists()


def test_it_answers_409_when_deleting_a_team_that_owns_systems(api_as, officer, system_a):
    response = api_as(officer).delete("/api/v1/teams/team-a/")
    assert response.status_code == 409
    assert Team.objects.filter(slug="team-a").exists()
