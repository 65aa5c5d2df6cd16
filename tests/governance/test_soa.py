"""Statement of Applicability (ISO/IEC 42001 6.1.3): statement, decisions, approvals, exports."""

import csv
import datetime
import hashlib
import io
import json
import threading
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.choices import ImplementationStatus, RequirementKind
from governance.exceptions import NotAllowed
from governance.models import Control, ControlImplementation, Evidence, SoAVersion
from governance.services import soa
from governance.services.catalogs import CATALOG_ROOT
from governance.services.exports import csv_text, neutralise_cell
from tests.factories import AISystemFactory, FrameworkFactory, RequirementFactory

TODAY = timezone.localdate()
ANNEX_A = [
    ("A.2.2", "AI policy", "A.2"),
    ("A.2.3", "Alignment with other organizational policies", "A.2"),
    ("A.2.4", "Review of the AI policy", "A.2"),
    ("A.6.1.2", "Objectives for responsible development of AI system", "A.6.1"),
    ("A.6.1.3", "Processes for responsible AI system design and development", "A.6.1"),
]
ORG_STATUSES = {
    "A.2.2": "implemented",
    "A.2.3": "not_started",
    "A.2.4": "not_applicable",
    "A.6.1.2": "no_control",
    "A.6.1.3": "not_started",
}
SYSTEM_STATUSES = {**ORG_STATUSES, "A.2.4": "in_progress", "A.6.1.3": "implemented"}
HYPERLINK = '=HYPERLINK("http://x","y")'


# --- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def iso(db):
    """A small ISO/IEC 42001 catalog: three objectives, five Annex A controls and one clause."""
    framework = FrameworkFactory(
        code="iso-iec-42001", version="2023", name="ISO/IEC 42001:2023", short_name="ISO/IEC 42001"
    )
    nodes = {}
    for ref_id, title, order, parent in [
        ("A.2", "Policies related to AI", 100, None),
        ("A.6", "AI system life cycle", 600, None),
        ("A.6.1", "Management guidance for AI system development", 610, "A.6"),
    ]:
        nodes[ref_id] = RequirementFactory(
            framework=framework,
            ref_id=ref_id,
            title=title,
            order=order,
            parent=nodes.get(parent),
            kind=RequirementKind.CONTROL_OBJECTIVE,
            assessable=False,
        )
    RequirementFactory(
        framework=framework, ref_id="6.1.3", title="AI risk treatment", order=50, kind="clause_requirement"
    )
    controls = {}
    for position, (ref_id, title, parent) in enumerate(ANNEX_A):
        order = nodes[parent].order + position + 1
        controls[ref_id] = RequirementFactory(
            framework=framework, ref_id=ref_id, title=title, order=order, parent=nodes[parent]
        )
    return SimpleNamespace(framework=framework, req=controls)


def _control(code, *requirements, title=None):
    control = Control.objects.create(
        code=code, title=title or code.replace("-", " "), control_type="process", frequency="annual"
    )
    control.requirements.set(requirements)
    return control


def _implementation(control, system=None, status=ImplementationStatus.IMPLEMENTED):
    return ControlImplementation.objects.create(control=control, system=system, status=status)


def _evidence(title, *, team=None, valid_until=None, implementations=(), requirements=()):
    evidence = Evidence.objects.create(
        title=title,
        kind="link",
        url="https://example.com/evidence",
        collected_on=TODAY - datetime.timedelta(days=30),
        valid_until=valid_until,
        sha256=hashlib.sha256(title.encode()).hexdigest(),
        team=team,
    )
    evidence.implementations.set(implementations)
    evidence.requirements.set(requirements)
    return evidence


@pytest.fixture
def scenario(iso, officer, system_a, team_a, team_b):
    """Implementations, evidence and decisions that give every derived status somewhere."""
    policy = _control("ctl-ai-policy", iso.req["A.2.2"], title="Publish and maintain the AI policy")
    _control("ctl-policy-alignment", iso.req["A.2.3"])
    review = _control("ctl-policy-review", iso.req["A.2.4"])
    design = _control("ctl-design-process", iso.req["A.6.1.3"])

    policy_org = _implementation(policy)
    _implementation(review, status=ImplementationStatus.IN_PROGRESS)
    design_a = _implementation(design, system_a)

    expired = _evidence(
        "AI policy v3", valid_until=TODAY - datetime.timedelta(days=1), implementations=[policy_org]
    )
    memo = _evidence(
        "Development objectives memo",
        valid_until=TODAY + datetime.timedelta(days=90),
        requirements=[iso.req["A.6.1.2"]],
    )
    design_review = _evidence("System A design review", team=team_a, implementations=[design_a])
    _evidence("Team B notes", team=team_b, requirements=[iso.req["A.6.1.2"]])

    soa.set_applicability(
        actor=officer,
        requirement=iso.req["A.2.4"],
        applicable=False,
        justification="Covered by the group-wide policy review.",
    )
    soa.set_applicability(
        actor=officer,
        requirement=iso.req["A.2.4"],
        system=system_a,
        applicable=True,
        justification="Reviewed for this system.",
    )
    return SimpleNamespace(
        policy=policy, review=review, design=design, expired=expired, memo=memo, design_review=design_review
    )


def _by_ref(statement):
    return {entry["ref_id"]: entry for entry in statement}


def _statement_url(system=None, **extra):
    url = "/api/v1/soa/?framework=iso-iec-42001"
    if system:
        url += f"&system={system}"
    return url + "".join(f"&{key}={value}" for key, value in extra.items())


def _export_url(kind, system=None):
    url = f"/api/v1/soa/export/?framework=iso-iec-42001&format={kind}"
    return url + (f"&system={system}" if system else "")


def _put_applicability(client, **body):
    payload = {"framework": "iso-iec-42001", "ref_id": "A.2.3", "applicable": True, **body}
    return client.put("/api/v1/soa/applicability/", payload, format="json")


# --- the statement ----------------------------------------------------------------------------------


def test_it_lists_every_annex_a_control_in_order_with_derived_statuses(scenario, iso):
    statement = soa.build_statement(framework=iso.framework)

    assert [entry["ref_id"] for entry in statement] == [ref for ref, _, _ in ANNEX_A]
    assert {entry["ref_id"]: entry["status"] for entry in statement} == ORG_STATUSES
    entries = _by_ref(statement)
    assert entries["A.2.2"]["objective"] == {"ref_id": "A.2", "title": "Policies related to AI"}
    assert entries["A.6.1.3"]["objective"]["ref_id"] == "A.6.1"
    assert entries["A.2.2"]["applicable"] is True and entries["A.2.2"]["decided_for"] is None
    assert entries["A.2.4"]["applicable"] is False
    assert entries["A.2.4"]["justification"] == "Covered by the group-wide policy review."
    assert entries["A.2.4"]["decided_for"] == "organisation"
    assert entries["A.2.2"]["controls"] == [
        {"code": "ctl-ai-policy", "title": "Publish and maintain the AI policy", "status": "implemented"}
    ]
    assert entries["A.6.1.3"]["controls"][0]["status"] == "not_started"
    assert entries["A.2.2"]["evidence"] == [
        {
            "id": scenario.expired.pk,
            "title": "AI policy v3",
            "sha256": scenario.expired.sha256,
            "valid_until": (TODAY - datetime.timedelta(days=1)).isoformat(),
            "expired": True,
        }
    ]
    assert [e["title"] for e in entries["A.6.1.2"]["evidence"]] == ["Development objectives memo"]
    assert entries["A.6.1.2"]["evidence"][0]["expired"] is False
    assert entries["A.6.1.3"]["evidence"] == []  # the system's implementation is out of this scope


def test_it_lets_a_systems_own_decisions_override_and_counts_organisation_wide_implementations(
    scenario, iso, system_a
):
    statement = soa.build_statement(framework=iso.framework, system=system_a)

    assert {entry["ref_id"]: entry["status"] for entry in statement} == SYSTEM_STATUSES
    entries = _by_ref(statement)
    assert entries["A.2.4"]["applicable"] is True
    assert entries["A.2.4"]["decided_for"] == "system"
    assert entries["A.2.4"]["justification"] == "Reviewed for this system."
    assert entries["A.2.2"]["status"] == "implemented"  # organisation-wide implementation counts
    assert [e["title"] for e in entries["A.6.1.3"]["evidence"]] == ["System A design review"]
    # Another team's evidence never shows in this scope.
    assert [e["title"] for e in entries["A.6.1.2"]["evidence"]] == ["Development objectives memo"]


def test_it_builds_the_statement_in_a_constant_number_of_queries(scenario, iso, system_a, team_a):
    def count(system):
        with CaptureQueriesContext(connection) as ctx:
            statement = soa.build_statement(framework=iso.framework, system=system)
        return len(ctx.captured_queries), len(statement)

    small = count(None), count(system_a)
    for n in range(30):
        requirement = RequirementFactory(framework=iso.framework, ref_id=f"A.9.{n + 2}", order=900 + n)
        for variant in ("a", "b"):
            control = _control(f"ctl-extra-{n}-{variant}", requirement)
            org_impl = _implementation(control, status=ImplementationStatus.IN_PROGRESS)
            system_impl = _implementation(control, system_a)
            _evidence(f"Evidence {n}{variant}", implementations=[org_impl, system_impl])
            _evidence(f"Team evidence {n}{variant}", team=team_a, requirements=[requirement])
    large = count(None), count(system_a)

    assert small[0][1] == 5 and large[0][1] == 35
    assert small[0][0] == large[0][0], f"organisation: {small[0][0]} queries for 5, {large[0][0]} for 35"
    assert small[1][0] == large[1][0], f"system: {small[1][0]} queries for 5, {large[1][0]} for 35"


# --- applicability decisions ---------------------------------------------------------------------------


def test_it_refuses_not_applicable_without_a_justification(iso, officer, system_a):
    for justification in ("", "   "):
        with pytest.raises(ValidationError) as exc:
            soa.set_applicability(
                actor=officer,
                requirement=iso.req["A.2.3"],
                system=system_a,
                applicable=False,
                justification=justification,
            )
        assert "justification" in exc.value.message_dict
    assert not soa.build_statement(framework=iso.framework, system=system_a)[1]["decided_for"]


def test_it_upserts_one_decision_per_control_and_scope(iso, officer, system_a):
    first = soa.set_applicability(
        actor=officer, requirement=iso.req["A.2.3"], applicable=False, justification="Not relevant."
    )
    again = soa.set_applicability(
        actor=officer, requirement=iso.req["A.2.3"], applicable=True, justification=""
    )
    for_system = soa.set_applicability(
        actor=officer, requirement=iso.req["A.2.3"], system=system_a, applicable=False, justification="No."
    )
    assert first.pk == again.pk != for_system.pk
    statement = _by_ref(soa.build_statement(framework=iso.framework))
    assert statement["A.2.3"]["applicable"] is True and statement["A.2.3"]["decided_for"] == "organisation"


def test_it_lets_only_officers_decide_applicability(iso, engineer, auditor):
    for actor in (engineer, auditor):
        with pytest.raises(NotAllowed):
            soa.set_applicability(
                actor=actor, requirement=iso.req["A.2.3"], applicable=False, justification="Why not."
            )


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


# --- approvals and versions --------------------------------------------------------------------------


def test_it_freezes_the_statement_on_approval_and_numbers_versions(scenario, iso, officer):
    first = soa.approve_statement(actor=officer, framework=iso.framework, note="First review")
    frozen = soa.build_statement(framework=iso.framework)
    assert first.number == 1 and first.approved_by == officer and first.note == "First review"
    assert first.content == frozen
    canonical = json.dumps(first.content, sort_keys=True, separators=(",", ":"))
    assert first.content_sha256 == hashlib.sha256(canonical.encode()).hexdigest()

    ControlImplementation.objects.filter(control=scenario.review).update(status="implemented")
    second = soa.approve_statement(actor=officer, framework=iso.framework)
    first.refresh_from_db()
    assert second.number == 2
    assert first.content == frozen  # unchanged by later work
    assert first.content_sha256 == soa.content_digest(first.content)
    assert second.content_sha256 != first.content_sha256


def test_it_numbers_each_scope_separately(scenario, iso, officer, system_a):
    assert soa.approve_statement(actor=officer, framework=iso.framework).number == 1
    assert soa.approve_statement(actor=officer, framework=iso.framework, system=system_a).number == 1
    assert soa.approve_statement(actor=officer, framework=iso.framework).number == 2


def test_it_lets_only_officers_approve(iso, engineer, auditor):
    for actor in (engineer, auditor):
        with pytest.raises(NotAllowed):
            soa.approve_statement(actor=actor, framework=iso.framework)
    assert not SoAVersion.objects.exists()


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


@pytest.mark.django_db(transaction=True)
def test_it_gives_concurrent_approvals_distinct_numbers(iso, officer):
    _implementation(_control("ctl-ai-policy", iso.req["A.2.2"]))
    barrier = threading.Barrier(4)
    numbers, errors = [], []

    def approve():
        try:
            barrier.wait()
            numbers.append(soa.approve_statement(actor=officer, framework=iso.framework).number)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]


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
    assert listed("officer", "?organisation=true&framework=iso-iec-42001") == {org.pk}

    engineer = api_as(personas["engineer"])
    detail = engineer.get(f"/api/v1/soa/versions/{for_a.pk}/")
    assert detail.status_code == 200
    assert detail.json()["content"] == for_a.content
    assert detail.json()["content_sha256"] == for_a.content_sha256
    assert engineer.get(f"/api/v1/soa/versions/{for_b.pk}/").status_code == 404
    assert "content" not in engineer.get("/api/v1/soa/versions/").json()["results"][0]


# --- changes since approval --------------------------------------------------------------------------


def test_it_shows_changes_since_the_last_approval(scenario, iso, officer, api_as):
    assert soa.statement_changes(framework=iso.framework) == []  # nothing approved yet
    soa.approve_statement(actor=officer, framework=iso.framework)
    assert soa.statement_changes(framework=iso.framework) == []

    _implementation(scenario.design, status=ImplementationStatus.IN_PROGRESS)  # organisation-wide now
    changes = soa.statement_changes(framework=iso.framework)

    assert [(c["ref_id"], c["change"]) for c in changes] == [("A.6.1.3", "changed")]
    fields = changes[0]["fields"]
    assert fields["status"] == {"old": "not_started", "new": "in_progress"}
    assert fields["controls"]["old"][0]["status"] == "not_started"
    assert fields["controls"]["new"][0]["status"] == "in_progress"
    body = api_as(officer).get(_statement_url()).json()
    assert body["changes_since_approval"] == changes


def test_it_reports_added_and_removed_controls(scenario, iso, officer):
    soa.approve_statement(actor=officer, framework=iso.framework)
    RequirementFactory(
        framework=iso.framework, ref_id="A.10.2", title="Allocating responsibilities", order=999
    )
    iso.req["A.2.3"].delete()
    changes = {c["ref_id"]: c["change"] for c in soa.statement_changes(framework=iso.framework)}
    assert changes == {"A.10.2": "added", "A.2.3": "removed"}


# --- exports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r", "\0"])
def test_it_neutralises_every_formula_trigger(trigger):
    assert neutralise_cell(f"{trigger}1+1") == f"'{trigger}1+1"
    assert neutralise_cell("plain text") == "plain text"
    assert neutralise_cell(None) == "" and neutralise_cell(-3) == -3


def test_it_writes_csv_through_the_neutraliser():
    text = csv_text(["a", "b"], [["=1+2", "ok"]])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=1+2", "ok"]]


def test_it_exports_csv_with_one_row_per_control_and_neutralised_formulas(scenario, iso, api_as, auditor):
    RequirementFactory(framework=iso.framework, ref_id="A.10.2", title=HYPERLINK, order=999)
    _control("ctl-evil", iso.req["A.2.3"], title="@SUM(1+1)")

    response = api_as(auditor).get(_export_url("csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="soa-iso-iec-42001-organisation-{TODAY.isoformat()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == list(soa.CSV_COLUMNS)
    assert [row[0] for row in rows[1:]] == [*(ref for ref, _, _ in ANNEX_A), "A.10.2"]
    evil = rows[-1]
    assert evil[2].startswith("'=")
    assert evil[2] == "'" + HYPERLINK
    entries = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert entries["A.2.4"]["applicable"] == "no"
    assert entries["A.2.4"]["justification"] == "Covered by the group-wide policy review."
    assert entries["A.2.2"]["objective"] == "A.2 Policies related to AI"
    assert "ctl-ai-policy: Publish and maintain the AI policy (implemented)" in entries["A.2.2"]["controls"]
    assert "EXPIRED" in entries["A.2.2"]["evidence"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0")) for cell in row)


def test_it_exports_json_equal_to_the_statement(scenario, iso, api_as, engineer, system_a):
    response = api_as(engineer).get(_export_url("json", "system-a"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="soa-iso-iec-42001-system-a-{TODAY.isoformat()}.json"'
    )
    assert json.loads(response.content) == soa.build_statement(framework=iso.framework, system=system_a)


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


# --- catalog, schema and admin --------------------------------------------------------------------


def test_it_lists_all_38_annex_a_controls_of_the_shipped_catalog(db, officer):
    from governance.services.catalogs import load_catalogs

    catalog = CATALOG_ROOT / "iso-iec-42001" / "2023" / "requirements.csv"
    assert catalog.exists(), f"The ISO/IEC 42001 catalog is missing: {catalog}"
    load_catalogs()
    framework = FrameworkFactory._meta.model.objects.get(code="iso-iec-42001", version="2023")

    statement = soa.build_statement(framework=framework)

    refs = [entry["ref_id"] for entry in statement]
    assert len(refs) == 38 == len(set(refs))
    assert refs[0] == "A.2.2" and refs[-1] == "A.10.4"
    assert all(entry["objective"] for entry in statement)
    assert all(entry["status"] == "no_control" for entry in statement)
    rows = list(csv.reader(io.StringIO(soa.export_csv(statement))))
    assert [row[0] for row in rows[1:]] == refs


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
