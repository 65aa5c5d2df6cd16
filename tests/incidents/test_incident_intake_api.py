"""The incident API, intake side: permissions, reporting, bad input, de-duplication and changes."""

import datetime

import pytest
from django.utils import timezone

from incidents.models import CorrectiveAction, Incident, TimelineEntry
from tests import matrix
from tests.factories import AISystemFactory, SystemModelFactory, TeamFactory, incident_payload
from tests.incidents.api_helpers import INCIDENTS, iso

# --- Who may do what ----------------------------------------------------------------------------

# action -> persona -> expected status, for an incident of a team A system
EXPECTED = {
    "incidents": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 404, "auditor": 403},
        "update": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
        "delete": {"officer": 403, "engineer": 403, "other_engineer": 403, "auditor": 403},
    }
}


@pytest.mark.parametrize("endpoint,action,persona,expected", matrix.cases(EXPECTED))
def test_it_enforces_roles_and_scope(endpoint, action, persona, expected, personas, incident, api_as):
    client = api_as(personas[persona])
    before = Incident.objects.count()
    response = matrix.perform(
        client,
        action,
        f"/api/v1/{endpoint}/",
        incident.reference,
        create=incident_payload(),
        patch={"title": "Renamed"},
    )
    matrix.assert_outcome(response, action, expected, Incident, before)
    incident.refresh_from_db()
    assert incident.title == ("Renamed" if action == "update" and expected == 200 else "Wrong refund policy")


WRITE_ACTIONS = {
    "transition": ("transition/", {"to": "triaged"}),
    "comment": ("timeline/", {"body": "Looking into it."}),
    "corrective_action": ("corrective-actions/", {"description": "Add a guardrail"}),
    "serious": ("serious/", {"grounds": ["health"]}),
}
EXPECTED_WRITES = {
    "transition": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
    "comment": {"officer": 201, "engineer": 201, "other_engineer": 404, "auditor": 403},
    "corrective_action": {"officer": 201, "engineer": 201, "other_engineer": 404, "auditor": 403},
    "serious": {"officer": 200, "engineer": 403, "other_engineer": 404, "auditor": 403},
}


@pytest.mark.parametrize(
    "name,persona,expected",
    [(name, persona, status) for name, by in EXPECTED_WRITES.items() for persona, status in by.items()],
)
def test_it_enforces_roles_and_scope_on_incident_actions(name, persona, expected, personas, incident, api_as):
    path, body = WRITE_ACTIONS[name]
    entries, actions = TimelineEntry.objects.count(), CorrectiveAction.objects.count()
    response = api_as(personas[persona]).post(f"{INCIDENTS}{incident.reference}/{path}", body, format="json")
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["status"] == expected
        assert (TimelineEntry.objects.count(), CorrectiveAction.objects.count()) == (entries, actions)
        incident.refresh_from_db()
        assert (incident.status, incident.is_serious) == ("reported", False)


@pytest.mark.parametrize("persona", ["officer", "engineer", "other_engineer", "auditor"])
def test_it_scopes_the_nested_reads(persona, personas, incident, api_as):
    expected = 404 if persona == "other_engineer" else 200
    client = api_as(personas[persona])
    for path in ("timeline/", "corrective-actions/", "similar/"):
        response = client.get(f"{INCIDENTS}{incident.reference}/{path}")
        assert response.status_code == expected, (path, response.content)


def test_it_hides_other_teams_incidents_from_lists(api_as, engineer, other_engineer, incident):
    assert [row["reference"] for row in api_as(engineer).get(INCIDENTS).json()["results"]] == ["INC-2000-1"]
    assert api_as(other_engineer).get(INCIDENTS).json()["results"] == []


def test_it_refuses_writes_with_a_read_only_token(api_as, engineer, target):
    from governance.choices import TokenScope

    response = api_as(engineer, TokenScope.READ).post(INCIDENTS, incident_payload(), format="json")
    assert response.status_code == 403
    assert not Incident.objects.exists()


# --- Bad input ----------------------------------------------------------------------------------


def _in(minutes: int) -> str:
    return iso(timezone.now() + datetime.timedelta(minutes=minutes))


@pytest.mark.parametrize(
    "change,field",
    [
        ({"system": "no-such-system"}, "system"),
        ({"system": 987654}, "system"),
        ({"system": True}, "system"),
        ({"system": "bad slug!"}, "system"),
        ({"system": None}, "system"),
        ({"severity": "SEV9"}, "severity"),
        ({"severity": "sev1"}, "severity"),
        ({"occurred_at": _in(60 * 24), "detected_at": _in(60 * 24)}, "occurred_at"),
        ({"became_aware_at": _in(60)}, "became_aware_at"),
        ({"detected_at": "2025-02-28T09:00:00Z"}, "detected_at"),
        ({"became_aware_at": "2025-03-01T09:30:00Z"}, "became_aware_at"),
        ({"title": "x" * 201}, "title"),
        ({"title": ""}, "title"),
        ({"occurred_at": "last tuesday"}, "occurred_at"),
        ({"model": 987654}, "model"),
        ({"harm_types": ["boredom"]}, "harm_types"),
        ({"harm_level": "catastrophic"}, "harm_level"),
        ({"external_id": "x" * 201}, "external_id"),
    ],
)
def test_it_rejects_bad_reports_with_field_messages(api_as, engineer, target, change, field):
    response = api_as(engineer).post(INCIDENTS, {**incident_payload(), **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid")
    assert body["errors"][field], body
    assert not Incident.objects.exists()


@pytest.mark.parametrize("field", ["system", "title", "severity", "occurred_at"])
def test_it_names_each_missing_required_field(api_as, engineer, target, field):
    payload = incident_payload()
    del payload[field]
    response = api_as(engineer).post(INCIDENTS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Incident.objects.exists()


def test_it_answers_404_for_another_teams_system(api_as, other_engineer, target):
    by_slug = api_as(other_engineer).post(INCIDENTS, incident_payload(), format="json")
    by_id = api_as(other_engineer).post(INCIDENTS, incident_payload(system=target.pk), format="json")
    for response in (by_slug, by_id):
        assert response.status_code == 404, response.content
        assert response.json()["status"] == 404
    assert not Incident.objects.exists()


def test_it_accepts_the_system_by_id_and_a_model_the_system_uses(api_as, engineer, target):
    model = SystemModelFactory(system=target).model
    response = api_as(engineer).post(
        INCIDENTS, incident_payload(system=target.pk, model=model.pk), format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["system"], response.json()["model"]) == ("target", model.pk)


def test_it_refuses_a_model_the_system_does_not_use(api_as, engineer, target):
    other = SystemModelFactory().model
    response = api_as(engineer).post(INCIDENTS, incident_payload(model=other.pk), format="json")
    assert response.status_code == 400
    assert "model" in response.json()["errors"]
    assert not Incident.objects.exists()


def test_it_rejects_malformed_json(api_as, engineer, target):
    response = api_as(engineer).generic(
        "POST", INCIDENTS, '{"system": "target", ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not Incident.objects.exists()


def test_it_rejects_a_body_that_is_not_an_object(api_as, engineer, target):
    response = api_as(engineer).post(INCIDENTS, [incident_payload()], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]


@pytest.mark.parametrize(
    "url,expected",
    [
        (f"{INCIDENTS}not-a-reference/", 404),
        (f"{INCIDENTS}INC-2000-999/", 404),
        (f"{INCIDENTS}INC-2000-1%00/", 404),
        (f"{INCIDENTS}?severity=SEV9", 400),
        (f"{INCIDENTS}?occurred_after=yesterday", 400),
        (f"{INCIDENTS}?q=a%00b", 400),
        (f"{INCIDENTS}?cursor=garbage", 404),
        (f"{INCIDENTS}INC-2000-1/similar/?limit=0", 400),
        (f"{INCIDENTS}INC-2000-1/corrective-actions/?cursor=garbage", 404),
    ],
)
def test_it_answers_odd_requests_in_the_error_shape(api_as, officer, incident, url, expected):
    response = api_as(officer).get(url)
    assert response.status_code == expected, response.content
    assert response.json()["status"] == expected


# --- Reporting ----------------------------------------------------------------------------------


def test_it_reports_an_incident(api_as, engineer, target):
    response = api_as(engineer).post(INCIDENTS, incident_payload(severity="SEV2"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    year = timezone.localtime().year
    assert body["reference"] == f"INC-{year}-1"
    assert (body["team"], body["reporter"], body["source"], body["status"]) == (
        "team-a",
        "engineer",
        "api",
        "reported",
    )
    assert body["became_aware_at"] == body["detected_at"] == "2025-03-01T10:00:00Z"
    assert body["allowed_transitions"] == ["triaged", "rejected", "duplicate"]
    assert api_as(engineer).get(f"{INCIDENTS}{body['reference']}/").json() == body


def test_it_returns_the_existing_incident_for_a_repeated_external_id(api_as, engineer, officer, target):
    first = api_as(engineer).post(INCIDENTS, incident_payload(external_id="sentry-1"), format="json")
    again = api_as(officer).post(
        INCIDENTS, incident_payload(external_id="sentry-1", title="Same"), format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reference"] == first.json()["reference"]
    assert again.json()["title"] == first.json()["title"]
    assert Incident.objects.count() == 1

    other = AISystemFactory(slug="other", owning_team=TeamFactory())
    elsewhere = api_as(officer).post(
        INCIDENTS, incident_payload(system="other", external_id="sentry-1"), format="json"
    )
    assert elsewhere.status_code == 201, "the external id is unique per team"
    assert other.incidents.count() == 1


def test_it_replays_a_post_with_the_same_idempotency_key(api_as, engineer, target):
    client = api_as(engineer)
    first = client.post(INCIDENTS, incident_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(INCIDENTS, incident_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["reference"] == first.json()["reference"]
    assert Incident.objects.count() == 1


# --- Changes ------------------------------------------------------------------------------------


def test_it_changes_severity_through_the_service(api_as, engineer, incident):
    before = incident.respond_by
    response = api_as(engineer).patch(
        f"{INCIDENTS}{incident.reference}/", {"severity": "SEV1", "harm_types": ["privacy"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["severity"], response.json()["harm_types"]) == ("SEV1", ["privacy"])
    incident.refresh_from_db()
    assert incident.respond_by < before
    entry = incident.timeline.get()
    assert (entry.kind, entry.data) == ("severity_change", {"from": "SEV3", "to": "SEV1"})


@pytest.mark.parametrize(
    "change,field",
    [
        ({"status": "closed"}, "status"),
        ({"severity": "SEV0"}, "severity"),
        ({"model": 987654}, "model"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_it_refuses_bad_changes(api_as, engineer, incident, change, field):
    response = api_as(engineer).patch(f"{INCIDENTS}{incident.reference}/", change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    incident.refresh_from_db()
    assert (incident.status, incident.severity) == ("reported", "SEV3")


def test_it_answers_405_for_a_full_replacement(api_as, officer, incident):
    response = api_as(officer).put(f"{INCIDENTS}{incident.reference}/", incident_payload(), format="json")
    assert response.status_code == 405
    assert response.json()["status"] == 405
