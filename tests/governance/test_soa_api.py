"""Statement of Applicability through the API and the admin: decisions, scoped reads, approvals,
versions, the schema and the statement page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.choices import ImplementationStatus
from governance.models import SoAVersion
from governance.services import soa
from tests.factories import AISystemFactory, RequirementFactory
from tests.governance.soa_helpers import (
    ANNEX_A,
    _by_ref,
    _control,
    _evidence,
    _export_url,
    _implementation,
    _put_applicability,
    _statement_url,
)

# --- applicability decisions ------------------------------------------------------------------------


def test_it_answers_400_with_a_field_message_for_not_applicable_without_justification(iso, api_as, officer):
    response = _put_applicability(api_as(officer), applicable=False, justification="")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["status"] == 400
    assert body["errors"]["justification"] == ["Say why the control is not applicable."]


def test_it_sets_applicability_through_the_api(iso, api_as, officer, system_a):
    response = _put_applicability(
        api_as(officer), system="system-a", applicable=False, justification="Batch system: no users."
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ref_id"] == "A.2.3" and body["system"] == "system-a" and body["applicable"] is False
    entry = _by_ref(soa.build_statement(framework=iso.framework, system=system_a))["A.2.3"]
    assert entry["status"] == "not_applicable" and entry["justification"] == "Batch system: no users."


def test_it_answers_400_for_an_unknown_control_or_framework(iso, api_as, officer):
    client = api_as(officer)
    assert _put_applicability(client, ref_id="A.99.1").json()["errors"]["ref_id"]
    assert _put_applicability(client, ref_id="A.2").json()["errors"]["ref_id"]  # an objective
    assert _put_applicability(client, framework="nope").json()["errors"]["framework"]


@pytest.mark.parametrize("persona", ["engineer", "other_engineer", "auditor"])
def test_it_refuses_applicability_decisions_to_everyone_but_officers(
    iso, api_as, personas, system_a, persona
):
    client = api_as(personas[persona])
    response = _put_applicability(client, system="system-a", applicable=False, justification="Because.")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _put_applicability(client, applicable=True).status_code == 403


# --- reading scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona,organisation,own_system,other_system",
    [
        ("officer", 200, 200, 200),
        ("auditor", 200, 200, 200),
        ("engineer", 200, 200, 404),
        ("other_engineer", 200, 404, 200),
    ],
)
def test_it_scopes_statement_reads_by_team(
    scenario, api_as, personas, team_b, persona, organisation, own_system, other_system
):
    AISystemFactory(slug="system-b", owning_team=team_b)
    client = api_as(personas[persona])
    assert client.get(_statement_url()).status_code == organisation
    assert client.get(_statement_url("system-a")).status_code == own_system
    assert client.get(_statement_url("system-b")).status_code == other_system
    assert client.get(_export_url("csv", "system-a")).status_code == own_system
    assert client.get(_export_url("json", "system-b")).status_code == other_system


def test_it_answers_404_in_the_error_shape_for_another_teams_system(scenario, api_as, other_engineer):
    response = api_as(other_engineer).get(_statement_url("system-a"))
    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "No AI system with this slug."}


def test_it_answers_400_without_a_framework_and_404_for_an_unknown_one(iso, api_as, auditor):
    client = api_as(auditor)
    response = client.get("/api/v1/soa/")
    assert response.status_code == 400 and response.json()["errors"]["framework"]
    assert client.get("/api/v1/soa/?framework=iso-iec-42001&version=1999").status_code == 404


def test_it_serves_the_statement_with_the_latest_approval(scenario, api_as, officer, system_a, iso):
    client = api_as(officer)
    body = client.get(_statement_url("system-a")).json()
    assert body["framework"] == {"code": "iso-iec-42001", "version": "2023", "name": "ISO/IEC 42001:2023"}
    assert body["system"] == "system-a"
    assert body["approved_version"] is None and body["changes_since_approval"] == []
    assert body["statement"] == soa.build_statement(framework=iso.framework, system=system_a)

    version = soa.approve_statement(actor=officer, framework=iso.framework, system=system_a, note="Q3")
    body = client.get(_statement_url("system-a", version="2023")).json()
    assert body["approved_version"]["number"] == 1
    assert body["approved_version"]["approved_by"] == "officer"
    assert body["approved_version"]["id"] == version.pk
    assert body["approved_version"]["approved_at"]
    assert body["changes_since_approval"] == []


# --- approvals and versions -------------------------------------------------------------------------


def test_it_approves_through_the_api_with_201(scenario, api_as, personas):
    officer = api_as(personas["officer"])
    first = officer.post(
        "/api/v1/soa/approve/", {"framework": "iso-iec-42001", "note": "Board"}, format="json"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["number"] == 1 and first.json()["system"] is None
    assert first.json()["content"] == soa.build_statement(framework=SoAVersion.objects.get().framework)
    second = officer.post(
        "/api/v1/soa/approve/", {"framework": "iso-iec-42001", "system": "system-a"}, format="json"
    )
    third = officer.post("/api/v1/soa/approve/", {"framework": "iso-iec-42001"}, format="json")
    assert (second.json()["number"], second.json()["system"]) == (1, "system-a")
    assert third.json()["number"] == 2
    for persona in ("engineer", "auditor"):
        response = api_as(personas[persona]).post(
            "/api/v1/soa/approve/", {"framework": "iso-iec-42001"}, format="json"
        )
        assert response.status_code == 403


def test_it_scopes_versions_like_their_systems(scenario, iso, officer, api_as, personas, system_a, team_b):
    system_b = AISystemFactory(slug="system-b", owning_team=team_b)
    org = soa.approve_statement(actor=officer, framework=iso.framework)
    for_a = soa.approve_statement(actor=officer, framework=iso.framework, system=system_a)
    for_b = soa.approve_statement(actor=officer, framework=iso.framework, system=system_b)

    def listed(persona, query=""):
        response = api_as(personas[persona]).get(f"/api/v1/soa/versions/{query}")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert listed("officer") == listed("auditor") == {org.pk, for_a.pk, for_b.pk}
    assert listed("engineer") == {org.pk, for_a.pk}
    assert listed("other_engineer") == {org.pk, for_b.pk}
    assert listed("officer", "?system=system-b") == {for_b.pk}
    assert listed("officer", "?organisation_wide=true&framework=iso-iec-42001") == {org.pk}

    engineer = api_as(personas["engineer"])
    detail = engineer.get(f"/api/v1/soa/versions/{for_a.pk}/")
    assert detail.status_code == 200
    assert detail.json()["content"] == for_a.content
    assert detail.json()["content_sha256"] == for_a.content_sha256
    assert engineer.get(f"/api/v1/soa/versions/{for_b.pk}/").status_code == 404
    assert "content" not in engineer.get("/api/v1/soa/versions/").json()["results"][0]


# --- query counts -----------------------------------------------------------------------------------


def test_it_reads_the_api_in_a_constant_number_of_queries(scenario, iso, api_as, officer, system_a):
    client = api_as(officer)
    soa.approve_statement(actor=officer, framework=iso.framework, system=system_a)
    urls = [_statement_url("system-a"), _export_url("csv", "system-a"), _export_url("json", "system-a")]

    def counts():
        result = []
        for url in urls:
            client.get(url)  # the first use of a token also stamps its last use
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            result.append(len(ctx.captured_queries))
        return result

    small = counts()
    for n in range(20):
        requirement = RequirementFactory(framework=iso.framework, ref_id=f"A.9.{n + 2}", order=900 + n)
        control = _control(f"ctl-more-{n}", requirement)
        _evidence(
            f"More {n}", implementations=[_implementation(control, system_a)], requirements=[requirement]
        )
    assert counts() == small


# --- schema and admin -------------------------------------------------------------------------------


def test_it_keeps_the_schema_valid_and_documents_the_soa_endpoints(client, officer):
    from openapi_spec_validator import validate

    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()
    validate(schema)
    assert {
        "/api/v1/soa/",
        "/api/v1/soa/export/",
        "/api/v1/soa/applicability/",
        "/api/v1/soa/approve/",
        "/api/v1/soa/versions/",
        "/api/v1/soa/versions/{id}/",
    } <= set(schema["paths"])
    assert "put" in schema["paths"]["/api/v1/soa/applicability/"]
    assert "post" in schema["paths"]["/api/v1/soa/approve/"]


STATEMENT_PAGE = "/admin/governance/soaversion/statement/"


def test_it_shows_the_statement_page_and_highlights_changes(scenario, iso, client, officer):
    client.force_login(officer)
    soa.approve_statement(actor=officer, framework=iso.framework)
    _implementation(scenario.design, status=ImplementationStatus.IN_PROGRESS)

    response = client.get(STATEMENT_PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    for ref_id, title, _ in ANNEX_A:
        assert ref_id in html and title in html
    assert 'id="soa-row-a613" class="soa-changed' in html
    assert "Not started</del> &rarr; In progress" in html
    assert 'id="soa-approve"' in html and 'name="justification"' in html
    assert (
        "Current Statement of Applicability" in client.get("/admin/governance/soaversion/").content.decode()
    )


def test_it_sets_applicability_and_approves_from_the_admin(scenario, iso, client, officer, system_a):
    client.force_login(officer)
    url = f"{STATEMENT_PAGE}?framework={iso.framework.pk}&system={system_a.pk}"

    refused = client.post(url, {"action": "applicability", "ref_id": "A.2.3", "justification": ""})
    assert refused.status_code == 200
    assert "Say why the control is not applicable." in refused.content.decode()

    saved = client.post(
        url, {"action": "applicability", "ref_id": "A.2.3", "justification": "Vendor-operated system."}
    )
    assert saved.status_code == 302
    entry = _by_ref(soa.build_statement(framework=iso.framework, system=system_a))["A.2.3"]
    assert (entry["applicable"], entry["decided_for"]) == (False, "system")

    approved = client.post(url, {"action": "approve", "note": "Signed off"})
    assert approved.status_code == 302
    version = SoAVersion.objects.get()
    assert (version.system, version.number, version.note) == (system_a, 1, "Signed off")

    export = client.get(
        f"/admin/governance/soaversion/statement/export/?framework={iso.framework.pk}&format=csv"
    )
    assert export.status_code == 200 and export["Content-Disposition"].startswith("attachment;")
    assert client.get(f"/admin/governance/soaversion/{version.pk}/change/").status_code == 200


def test_it_keeps_the_admin_page_read_only_for_engineers_and_scoped(scenario, iso, client, engineer, team_b):
    system_b = AISystemFactory(slug="system-b", owning_team=team_b)
    client.force_login(engineer)
    page = client.get(STATEMENT_PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="justification"' not in html and 'id="soa-approve"' not in html
    assert client.get(f"{STATEMENT_PAGE}?system={system_b.pk}").status_code == 404
    posted = client.post(STATEMENT_PAGE, {"action": "approve"})
    assert posted.status_code == 302 and not SoAVersion.objects.exists()
    assert client.get("/admin/governance/applicability/add/").status_code == 403


def test_it_edits_decisions_in_the_applicability_admin(iso, client, officer):
    client.force_login(officer)
    add = "/admin/governance/applicability/add/"
    refused = client.post(add, {"requirement": iso.req["A.2.3"].pk, "applicable": "", "justification": ""})
    assert refused.status_code == 200
    assert "Say why the control is not applicable." in refused.content.decode()
    saved = client.post(
        add, {"requirement": iso.req["A.2.3"].pk, "applicable": "", "justification": "Out of scope."}
    )
    assert saved.status_code == 302
    entry = _by_ref(soa.build_statement(framework=iso.framework))["A.2.3"]
    assert (entry["applicable"], entry["justification"]) == (False, "Out of scope.")
