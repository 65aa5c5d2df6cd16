"""The incident API after intake: transitions, timeline, corrective actions, Art. 73, filters, queries."""

import datetime

import pytest
from django.utils import timezone

from incidents.models import Incident
from tests.factories import AISystemFactory, CorrectiveActionFactory, IncidentFactory, UserFactory
from tests.incidents.api_helpers import INCIDENTS, iso
from tests.queries import steady_state_queries

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

    flagged = client.post(f"{INCIDENTS}{incident.reference}/serious/", {"grounds": ["death"]}, format="json")
    assert flagged.status_code == 200, flagged.content
    body = flagged.json()
    assert (body["is_serious"], body["serious_grounds"], body["report_due_rule"]) == (
        True,
        ["death"],
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
        f"{INCIDENTS}{incident.reference}/serious/", {"grounds": ["boredom"]}, format="json"
    )
    assert bad_ground.status_code == 400 and "grounds" in bad_ground.json()["errors"]
    single = client.post(f"{INCIDENTS}{incident.reference}/serious/", {"ground": "health"}, format="json")
    assert single.status_code == 400 and "grounds" in single.json()["errors"]


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
        serious_grounds=["health"],
        report_due_at=now - hour,
    )
    d = IncidentFactory(
        system=target,
        reference="INC-2000-104",
        is_serious=True,
        serious_grounds=["death"],
        report_due_at=now + 3 * hour,
    )
    Incident.objects.filter(pk=a.pk).update(respond_by=now - hour)  # waiting too long for a response
    Incident.objects.filter(pk=b.pk).update(created_at=now - 50 * hour)
    client = api_as(officer)

    assert _refs(client, "system=target") == {a.reference, c.reference, d.reference}
    assert _refs(client, "team=team-b") == {b.reference}
    assert _refs(client, "severity=SEV1&severity=SEV2") == {a.reference, b.reference}
    assert _refs(client, "status=investigating") == {b.reference}
    assert _refs(client, "is_serious=true") == {c.reference, d.reference}
    assert _refs(client, "report_overdue=true") == {c.reference}
    assert _refs(client, "report_due_soon=true") == {d.reference}
    assert _refs(client, "sla_breached=true") == {a.reference}
    assert a.reference not in _refs(client, "sla_breached=false")
    assert _refs(client, f"occurred_before={iso(now - 10 * hour)}") == {a.reference}
    assert a.reference not in _refs(client, f"occurred_after={iso(now - 10 * hour)}")
    assert _refs(client, f"created_before={iso(now - 10 * hour)}") == {b.reference}
    assert b.reference not in _refs(client, f"created_after={iso(now - 10 * hour)}")
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
