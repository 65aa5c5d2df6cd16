"""Evidence through the API: served only as downloads within the caller's scope, linked, updated,
deleted and listed; links are evidence too."""

import datetime
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.exceptions import NotAllowed
from governance.models import Evidence
from governance.services import evidence as evidence_service
from tests.factories import AISystemFactory
from tests.governance.evidence_helpers import (
    FIELDS,
    URL,
    ControlImplementationFactory,
    RequirementFactory,
    download,
    make_pdf,
    post_file,
    stored_files,
    upload,
)

pytestmark = pytest.mark.usefixtures("evidence_dir", "team_a")  # the payloads below name team-a


# --- Downloading ----------------------------------------------------------------------------


def test_it_downloads_as_an_attachment_browsers_will_not_render(api_as, engineer):
    client = api_as(engineer)
    created = post_file(client, name="report.pdf").json()

    response, _ = download(client, created["id"])

    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Cache-Control"] == "private, no-store"
    assert response["ETag"] == f'"{created["sha256"]}"'
    assert response["Repr-Digest"].startswith("sha-256=:")
    assert int(response["Content-Length"]) == created["size"]


def test_it_downloads_whatever_the_client_accepts(api_as, engineer):
    client = api_as(engineer)
    created = post_file(client).json()

    response, body = download(client, created["id"], HTTP_ACCEPT="application/pdf")
    missing, _ = download(client, 999999, HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert body.startswith(b"%PDF-")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


# --- Scope ----------------------------------------------------------------------------------


@pytest.fixture
def team_b_evidence(other_engineer, api_as):
    response = post_file(api_as(other_engineer), team="team-b", name="team-b.pdf")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_hides_another_teams_evidence(api_as, engineer, team_b_evidence):
    client = api_as(engineer)
    url = f"{URL}{team_b_evidence['id']}/"

    assert client.get(url).status_code == 404
    response, body = download(client, team_b_evidence["id"])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert b"%PDF" not in body
    assert client.patch(url, {"title": "Mine now"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(URL).json()["results"] == []
    assert Evidence.objects.get(pk=team_b_evidence["id"]).title == "Bias evaluation Q1"


def test_it_shows_every_team_and_organisation_wide_evidence_to_officers_and_auditors(
    api_as, officer, auditor, engineer, team_b_evidence
):
    org_wide = post_file(api_as(officer), team="", name="policy.pdf")
    assert org_wide.status_code == 201, org_wide.content
    assert org_wide.json()["team"] is None

    for persona in (officer, auditor):
        listed = {row["id"] for row in api_as(persona).get(URL).json()["results"]}
        assert listed == {team_b_evidence["id"], org_wide.json()["id"]}
        assert download(api_as(persona), team_b_evidence["id"])[0].status_code == 200

    engineer_client = api_as(engineer)
    assert [row["id"] for row in engineer_client.get(URL).json()["results"]] == [org_wide.json()["id"]]
    assert download(engineer_client, org_wide.json()["id"])[0].status_code == 200
    changed = engineer_client.patch(f"{URL}{org_wide.json()['id']}/", {"title": "x"}, format="json")
    assert changed.status_code == 403


def test_it_answers_403_when_an_auditor_adds_evidence(api_as, auditor, evidence_dir):
    client = api_as(auditor)

    assert post_file(client).status_code == 403
    link = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://dashboards.example.com/bias"}, format="json"
    )
    assert link.status_code == 403
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


@pytest.mark.parametrize("team", ["team-b", ""])
def test_it_keeps_engineers_to_their_own_teams(api_as, engineer, team_b, evidence_dir, team):
    response = post_file(api_as(engineer), team=team)

    assert response.status_code == 400, response.content
    assert "team" in response.json()["errors"]
    assert stored_files(evidence_dir) == []


def test_it_links_implementations_and_requirements_within_scope(
    api_as, engineer, system_a, team_b, evidence_dir
):
    own = ControlImplementationFactory(system=system_a)
    org_wide = ControlImplementationFactory(system=None)
    foreign = ControlImplementationFactory(system=AISystemFactory(owning_team=team_b))
    requirement = RequirementFactory()
    client = api_as(engineer)

    refused = post_file(client, implementations=[own.pk, foreign.pk])
    accepted = post_file(
        client, implementations=[own.pk, org_wide.pk], requirements=[requirement.pk], name="linked.pdf"
    )

    assert refused.status_code == 400
    assert "implementations" in refused.json()["errors"]
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["implementations"] == sorted([own.pk, org_wide.pk])
    assert accepted.json()["requirements"] == [requirement.pk]
    assert len(stored_files(evidence_dir)) == 1


def test_it_refuses_invisible_implementations_in_the_service_too(engineer, team_b, evidence_dir):
    foreign = ControlImplementationFactory(system=AISystemFactory(owning_team=team_b))

    with pytest.raises(ValidationError) as refused:
        evidence_service.add_file_evidence(
            actor=engineer,
            upload=upload("report.pdf", make_pdf()),
            title="Bias evaluation",
            collected_on=datetime.date(2025, 1, 1),
            team=engineer.teams.get(),
            implementations=[foreign],
        )

    assert "implementations" in refused.value.message_dict
    assert stored_files(evidence_dir) == []


def test_it_opens_files_only_within_scope(engineer, other_engineer, officer):
    evidence = evidence_service.add_file_evidence(
        actor=other_engineer,
        upload=upload("report.pdf", make_pdf()),
        title="Team B report",
        collected_on=datetime.date(2025, 1, 1),
        team=other_engineer.teams.get(),
    )

    with pytest.raises(NotAllowed):
        evidence_service.open_evidence_file(actor=engineer, evidence=evidence)
    with evidence_service.open_evidence_file(actor=officer, evidence=evidence) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == evidence.sha256


# --- Links, updates and deletes -------------------------------------------------------------


def test_it_adds_link_evidence_with_json(api_as, engineer):
    client = api_as(engineer)

    response = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://dashboards.example.com/bias"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "link"
    assert body["url"] == "https://dashboards.example.com/bias"
    assert body["download_url"] is None
    assert body["sha256"] == ""
    assert download(client, body["id"])[0].status_code == 404


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"kind": "link"}, "url"),
        ({"kind": "link", "url": "ftp://files.example.com/report"}, "url"),
        ({"kind": "file"}, "file"),
        (
            {"url": "https://example.com", "valid_from": "2025-02-01", "valid_until": "2025-01-01"},
            "valid_until",
        ),
    ],
)
def test_it_rejects_incomplete_evidence_with_field_messages(api_as, officer, payload, field):
    response = api_as(officer).post(URL, {**FIELDS, **payload}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Evidence.objects.exists()


def test_it_updates_details_but_never_the_stored_file(api_as, engineer, evidence_dir):
    client = api_as(engineer)
    created = post_file(client).json()
    url = f"{URL}{created['id']}/"

    renamed = client.patch(
        url, {"title": "Bias evaluation Q1 (signed)", "valid_until": "2026-03-31"}, format="json"
    )
    replaced = client.patch(url, {"file": upload("other.pdf", make_pdf("other"))}, format="multipart")
    moved = client.patch(url, {"team": "team-b"}, format="json")

    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["title"] == "Bias evaluation Q1 (signed)"
    assert renamed.json()["sha256"] == created["sha256"]
    assert replaced.status_code == 400
    assert "file" in replaced.json()["errors"]
    assert moved.status_code == 400
    assert "team" in moved.json()["errors"]
    assert len(stored_files(evidence_dir)) == 1


def test_it_removes_the_file_once_the_deletion_commits(
    api_as, engineer, evidence_dir, django_capture_on_commit_callbacks
):
    client = api_as(engineer)
    created = post_file(client).json()
    assert len(stored_files(evidence_dir)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{URL}{created['id']}/")

    assert response.status_code == 204
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


# --- Lists ----------------------------------------------------------------------------------


def test_it_filters_evidence(api_as, officer, system_a, team_b):
    client = api_as(officer)
    implementation = ControlImplementationFactory(system=system_a)
    requirement = RequirementFactory()
    today = datetime.date.today()
    expired = post_file(client, title="Old pen test", valid_until=str(today - datetime.timedelta(days=1)))
    current = post_file(
        client,
        team="team-b",
        valid_until=str(today + datetime.timedelta(days=30)),
        implementations=[implementation.pk],
        requirements=[requirement.pk],
    )
    link = client.post(
        URL, {**FIELDS, "kind": "link", "url": "https://wiki.example.com/fairness"}, format="json"
    )
    ids = {"expired": expired.json()["id"], "current": current.json()["id"], "link": link.json()["id"]}

    def listed(query):
        return {row["id"] for row in client.get(f"{URL}?{query}").json()["results"]}

    assert listed("team=team-b") == {ids["current"]}
    assert listed("kind=link") == {ids["link"]}
    assert listed("expired=true") == {ids["expired"]}
    assert listed("expired=false") == {ids["current"], ids["link"]}
    assert listed(f"implementation={implementation.pk}") == {ids["current"]}
    assert listed(f"requirement={requirement.pk}") == {ids["current"]}
    assert listed("q=pen+test") == {ids["expired"]}
    assert listed("q=fairness") == {ids["link"]}
    assert client.get(f"{URL}{ids['expired']}/").json()["expired"] is True


def test_it_lists_evidence_in_constant_queries(api_as, officer, system_a):
    client = api_as(officer)
    implementations = ControlImplementationFactory.create_batch(2, system=system_a)
    requirements = RequirementFactory.create_batch(2)

    def seed(n):
        for _ in range(n):
            evidence = evidence_service.add_file_evidence(
                actor=officer,
                upload=upload("report.pdf", make_pdf()),
                title="Report",
                collected_on=datetime.date(2025, 1, 1),
                team=system_a.owning_team,
                owner=officer,
                implementations=implementations,
                requirements=requirements,
            )
            assert evidence.pk

    def count():
        client.get(URL)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{URL}?page_size=50")
        assert response.status_code == 200
        return len(queries.captured_queries), len(response.json()["results"])

    seed(3)
    small = count()
    seed(12)
    large = count()

    assert (small[1], large[1]) == (3, 15)
    assert small[0] == large[0], (small, large)


def test_it_documents_evidence_in_the_openapi_schema(client, officer):
    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()

    assert {"/api/v1/evidence/", "/api/v1/evidence/{id}/", "/api/v1/evidence/{id}/download/"} <= set(
        schema["paths"]
    )
    assert "multipart/form-data" in schema["paths"]["/api/v1/evidence/"]["post"]["requestBody"]["content"]
