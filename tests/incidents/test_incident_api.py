"""The incident API: permissions, bad input, de-duplication, lifecycle endpoints, filters, query counts."""

import datetime

import pytest
from django.utils import timezone

from incidents.models import CorrectiveAction, Incident, TimelineEntry
from tests import matrix
from tests.factories import (
    AISystemFactory,
    CorrectiveActionFactory,
    IncidentFactory,
    SystemModelFactory,
    TeamFactory,
    UserFactory,
    incident_payload,
)
from tests.queries import steady_state_queries

INCIDENTS = "/api/v1/incidents/"


@pytest.fixture
def target(team_a):
    return AISystemFactory(slug="target", owning_team=team_a)


@pytest.fixture
def incident(target):
    return IncidentFactory(system=target, reference="INC-2000-1", title="Wrong refund policy")


def _iso(value: datetime.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


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
    "serious": ("serious/", {"ground": "health"}),
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
    return _iso(timezone.now() + datetime.timedelta(minutes=minutes))


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


# --- Lifecycle ----------------------------------------------------------------------------------


def _move(client, incident, to, **extra):
    return client.post(f"{INCIDENTS}{incident.reference}/transition/", {"to": to, **extra}, format="json")


def test_it_moves_through_the_lifecycle_and_shows_the_timeline(api_as, engineer, incident):
    client = api_as(engineer)
    for step in ("triaged", "investigating", "resolved"):
        response = _move(client, incident, step, note=f"{step} now")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == step
    client.post(f"{INCIDENTS}{incident.reference}/timeline/", {"body": "Customer refunded."}, format="json")
    assert _move(client, incident, "closed").json()["allowed_transitions"] == []

    timeline = client.get(f"{INCIDENTS}{incident.reference}/timeline/").json()["results"]
    assert [(e["kind"], e["data"].get("to"), e["author"]) for e in timeline] == [
        ("status_change", "triaged", "engineer"),
        ("status_change", "investigating", "engineer"),
        ("status_change", "resolved", "engineer"),
        ("comment", None, "engineer"),
        ("status_change", "closed", "engineer"),
    ]
    assert timeline[0]["body"] == "triaged now"
    incident.refresh_from_db()
    assert incident.responded_at and incident.resolved_at


def test_it_answers_409_listing_the_allowed_transitions(api_as, engineer, incident):
    response = _move(api_as(engineer), incident, "closed")
    assert response.status_code == 409
    body = response.json()
    assert (body["status"], body["code"]) == (409, "conflict")
    assert body["allowed"] == ["triaged", "rejected", "duplicate"]
    assert "triaged, rejected, duplicate" in body["detail"]
    assert not incident.timeline.exists()


def test_it_answers_409_when_closing_with_open_corrective_actions(api_as, engineer, incident):
    client = api_as(engineer)
    for step in ("triaged", "investigating", "resolved"):
        _move(client, incident, step)
    created = client.post(
        f"{INCIDENTS}{incident.reference}/corrective-actions/",
        {"description": "Ground answers in the policy", "owner": "engineer"},
        format="json",
    )
    assert created.status_code == 201, created.content
    action_id = created.json()["id"]

    refused = _move(client, incident, "closed")
    assert refused.status_code == 409
    assert f"#{action_id}" in refused.json()["detail"] and "Ground answers" in refused.json()["detail"]

    verified = client.patch(
        f"{INCIDENTS}{incident.reference}/corrective-actions/{action_id}/",
        {"status": "verified", "verification": "Replayed 100 conversations."},
        format="json",
    )
    assert verified.status_code == 200, verified.content
    assert verified.json()["verified_by"] == "engineer" and verified.json()["verified_at"]
    assert _move(client, incident, "closed").status_code == 200


def test_it_marks_a_duplicate_by_reference(api_as, engineer, incident, target):
    copy = IncidentFactory(system=target)
    client = api_as(engineer)
    unknown = _move(client, copy, "duplicate", duplicate_of="INC-1999-5")
    assert unknown.status_code == 400 and "duplicate_of" in unknown.json()["errors"]
    malformed = _move(client, copy, "duplicate", duplicate_of="five")
    assert malformed.status_code == 400 and "duplicate_of" in malformed.json()["errors"]
    missing = _move(client, copy, "duplicate")
    assert missing.status_code == 400 and "duplicate_of" in missing.json()["errors"]

    marked = _move(client, copy, "duplicate", duplicate_of=incident.reference)
    assert marked.status_code == 200, marked.content
    assert marked.json()["duplicate_of"] == incident.reference


def test_it_refuses_an_unknown_status(api_as, engineer, incident):
    response = _move(api_as(engineer), incident, "done")
    assert response.status_code == 400 and "to" in response.json()["errors"]


# --- Corrective actions -------------------------------------------------------------------------


def test_it_lists_and_updates_corrective_actions_of_the_incident_only(api_as, engineer, incident, target):
    mine = CorrectiveActionFactory(incident=incident, due_on=datetime.date(2025, 5, 1))
    elsewhere = CorrectiveActionFactory(incident=IncidentFactory(system=target))
    client = api_as(engineer)
    listed = client.get(f"{INCIDENTS}{incident.reference}/corrective-actions/").json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert listed[0]["due_on"] == "2025-05-01"

    wrong = client.patch(
        f"{INCIDENTS}{incident.reference}/corrective-actions/{elsewhere.pk}/",
        {"status": "done"},
        format="json",
    )
    assert wrong.status_code == 404
    bad = client.patch(
        f"{INCIDENTS}{incident.reference}/corrective-actions/{mine.pk}/",
        {"status": "verified"},
        format="json",
    )
    assert bad.status_code == 400 and "verification" in bad.json()["errors"]
    unknown_owner = client.post(
        f"{INCIDENTS}{incident.reference}/corrective-actions/",
        {"description": "x", "owner": "nobody"},
        format="json",
    )
    assert unknown_owner.status_code == 400 and "owner" in unknown_owner.json()["errors"]
    elsewhere.refresh_from_db()
    assert elsewhere.status == "open"


# --- EU AI Act Art. 73 --------------------------------------------------------------------------


def test_it_flags_serious_incidents_and_records_authority_reports(api_as, officer, target):
    aware = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=datetime.UTC)
    incident = IncidentFactory(system=target, occurred_at=aware, detected_at=aware, became_aware_at=aware)
    client = api_as(officer)

    flagged = client.post(f"{INCIDENTS}{incident.reference}/serious/", {"ground": "death"}, format="json")
    assert flagged.status_code == 200, flagged.content
    body = flagged.json()
    assert (body["is_serious"], body["serious_ground"], body["report_due_rule"]) == (
        True,
        "death",
        "Art. 73(4)",
    )
    assert body["report_due_at"] == "2025-03-13T22:59:59.999999Z"  # end of 13 March in Brussels
    assert body["report_overdue"] is True

    sent = client.post(
        f"{INCIDENTS}{incident.reference}/authority-reports/",
        {"report": "initial", "sent_at": "2025-03-05T12:00:00Z", "authority_reference": "MSA-17"},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    assert (sent.json()["initial_report_sent_at"], sent.json()["authority_reference"]) == (
        "2025-03-05T12:00:00Z",
        "MSA-17",
    )
    again = client.post(
        f"{INCIDENTS}{incident.reference}/authority-reports/", {"report": "initial"}, format="json"
    )
    assert again.status_code == 409
    bad_ground = client.post(
        f"{INCIDENTS}{incident.reference}/serious/", {"ground": "boredom"}, format="json"
    )
    assert bad_ground.status_code == 400 and "ground" in bad_ground.json()["errors"]


# --- Filters ------------------------------------------------------------------------------------


def _refs(client, query: str) -> set[str]:
    response = client.get(f"{INCIDENTS}?{query}")
    assert response.status_code == 200, response.content
    return {row["reference"] for row in response.json()["results"]}


def test_it_filters_incidents(api_as, officer, team_a, team_b, target):
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    other = AISystemFactory(slug="other", owning_team=team_b)
    a = IncidentFactory(
        system=target,
        reference="INC-2000-101",
        severity="SEV1",
        title="Chatbot leaked personal data",
        description="Customers saw each other's addresses.",
        occurred_at=now - 100 * hour,
    )
    b = IncidentFactory(
        system=other,
        reference="INC-2000-102",
        severity="SEV2",
        status="investigating",
        responded_at=now - hour,
        title="Scoring model drift",
        description="Approvals dropped after the refund policies changed.",
    )
    c = IncidentFactory(
        system=target,
        reference="INC-2000-103",
        severity="SEV4",
        is_serious=True,
        serious_ground="health",
        report_due_at=now - hour,
    )
    d = IncidentFactory(
        system=target,
        reference="INC-2000-104",
        is_serious=True,
        serious_ground="death",
        report_due_at=now + 3 * hour,
    )
    Incident.objects.filter(pk=a.pk).update(respond_by=now - hour)  # waiting too long for a response
    Incident.objects.filter(pk=b.pk).update(created_at=now - 50 * hour)
    client = api_as(officer)

    assert _refs(client, "system=target") == {a.reference, c.reference, d.reference}
    assert _refs(client, "team=team-b") == {b.reference}
    assert _refs(client, "severity=SEV1&severity=SEV2") == {a.reference, b.reference}
    assert _refs(client, "status=investigating") == {b.reference}
    assert _refs(client, "serious=true") == {c.reference, d.reference}
    assert _refs(client, "overdue=true") == {c.reference}
    assert _refs(client, "report_due_soon=true") == {d.reference}
    assert _refs(client, "sla_breached=true") == {a.reference}
    assert a.reference not in _refs(client, "sla_breached=false")
    assert _refs(client, f"occurred_before={_iso(now - 10 * hour)}") == {a.reference}
    assert a.reference not in _refs(client, f"occurred_after={_iso(now - 10 * hour)}")
    assert _refs(client, f"created_before={_iso(now - 10 * hour)}") == {b.reference}
    assert b.reference not in _refs(client, f"created_after={_iso(now - 10 * hour)}")
    assert _refs(client, "q=leaking") == {a.reference}, "stemmed full-text match"
    assert _refs(client, "q=refund policy") == {b.reference}, "description is searched too"
    assert _refs(client, 'q="personal data" -addresses') == set()
    assert _refs(client, "q=INC-2000-103") == {c.reference}


def test_it_pages_with_a_cursor(api_as, officer, target):
    IncidentFactory.create_batch(5, system=target)
    client = api_as(officer)
    first = client.get(f"{INCIDENTS}?page_size=2").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == len(second["results"]) == 2
    assert not {r["reference"] for r in first["results"]} & {r["reference"] for r in second["results"]}


def test_it_finds_similar_incidents_the_caller_may_see(api_as, engineer, target, team_b):
    incident = IncidentFactory(system=target, title="Chatbot invented a refund policy")
    twin = IncidentFactory(system=target, title="Chatbot invented a refund rule")
    IncidentFactory(system=AISystemFactory(owning_team=team_b), title="Chatbot invented a refund policy too")
    response = api_as(engineer).get(f"{INCIDENTS}{incident.reference}/similar/")
    assert response.status_code == 200, response.content
    assert [row["reference"] for row in response.json()["internal"]] == [twin.reference]


# --- Query counts -------------------------------------------------------------------------------


def _seed(n, system, reporter):
    for _ in range(n):
        original = IncidentFactory(system=system, reporter=reporter, harm_types=["privacy"])
        IncidentFactory(system=system, reporter=reporter, status="duplicate", duplicate_of=original)


@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_incidents_in_constant_queries(api_as, personas, target, persona):
    client = api_as(personas[persona])
    reporter = UserFactory()
    _seed(5, target, reporter)
    small, body = steady_state_queries(client, f"{INCIDENTS}?page_size=50")
    assert len(body["results"]) == 10
    _seed(20, target, reporter)
    large, body = steady_state_queries(client, f"{INCIDENTS}?page_size=50")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 incidents, {large} for 50"
    assert {row["duplicate_of"] for row in body["results"]} - {None}


def test_it_shows_an_incident_and_its_timeline_in_a_fixed_number_of_queries(api_as, officer, incident):
    count, body = steady_state_queries(api_as(officer), f"{INCIDENTS}{incident.reference}/")
    assert body["reference"] == incident.reference
    assert count <= 5, count
    from incidents.services.incidents import add_comment

    for n in range(3):
        add_comment(actor=officer, incident=incident, body=f"note {n}")
    few, _ = steady_state_queries(api_as(officer), f"{INCIDENTS}{incident.reference}/timeline/")
    for n in range(20):
        add_comment(actor=officer, incident=incident, body=f"more {n}")
    many, body = steady_state_queries(api_as(officer), f"{INCIDENTS}{incident.reference}/timeline/")
    assert len(body["results"]) == 23 and few == many


def test_it_lists_the_incident_endpoints_in_the_schema(client, officer):
    from openapi_spec_validator import validate

    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()
    validate(schema)
    base = "/api/v1/incidents/{reference}/"
    assert {
        "/api/v1/incidents/",
        base,
        f"{base}transition/",
        f"{base}timeline/",
        f"{base}corrective-actions/",
        f"{base}corrective-actions/{{action_id}}/",
        f"{base}serious/",
        f"{base}authority-reports/",
        f"{base}similar/",
    } <= set(schema["paths"])
    assert set(schema["paths"][base]) == {"get", "patch"}
