"""Controls and control implementations: who may do what, validation, filters, query counts, admin."""

import datetime

import pytest
from django.utils import timezone

from governance.models import ChangeEvent, Control, ControlImplementation
from tests import matrix
from tests.factories import (
    AISystemFactory,
    ControlFactory,
    ControlImplementationFactory,
    RequirementFactory,
    UserFactory,
)
from tests.queries import steady_state_queries

CONTROLS = "/api/v1/controls/"
IMPLEMENTATIONS = "/api/v1/control-implementations/"


def _objects(team_a):
    system = AISystemFactory(slug="target", owning_team=team_a)
    control = ControlFactory(code="ctl-target")
    implementation = ControlImplementationFactory(control=control, system=system)
    free_control = ControlFactory(code="ctl-free")
    return {
        "controls": (
            free_control.code,
            {"code": "ctl-new", "title": "New", "control_type": "policy", "frequency": "annual"},
            {"title": "Renamed"},
            Control,
            ("title", free_control.title),
        ),
        "control-implementations": (
            implementation.pk,
            {"control": "ctl-free", "system": "target", "status": "in_progress"},
            {"status": "implemented"},
            ControlImplementation,
            ("status", implementation.status),
        ),
    }


# endpoint -> action -> persona -> expected status
EXPECTED = {
    "controls": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "create": {"officer": 201, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "update": {"officer": 200, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "delete": {"officer": 204, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
    "control-implementations": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 400, "auditor": 403},
        "update": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
        "delete": {"officer": 204, "engineer": 204, "other_engineer": 404, "auditor": 403},
    },
}
CASES = matrix.cases(EXPECTED)


@pytest.mark.parametrize("endpoint,action,persona,expected", CASES)
def test_it_enforces_roles_and_scope(endpoint, action, persona, expected, personas, team_a, api_as):
    lookup, create_payload, patch_payload, model, (field, original) = _objects(team_a)[endpoint]
    client = api_as(personas[persona])
    base = f"/api/v1/{endpoint}/"
    before = model.objects.count()

    response = matrix.perform(client, action, base, lookup, create=create_payload, patch=patch_payload)
    matrix.assert_outcome(response, action, expected, model, before)
    if expected >= 400:
        key = "code" if model is Control else "pk"
        assert getattr(model.objects.get(**{key: lookup}), field) == original


# endpoint -> persona -> expected status, for an organisation-wide implementation
ORG_WIDE = {
    "detail": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
    "create": {"officer": 201, "engineer": 400, "other_engineer": 400, "auditor": 403},
    "update": {"officer": 200, "engineer": 403, "other_engineer": 403, "auditor": 403},
    "delete": {"officer": 204, "engineer": 403, "other_engineer": 403, "auditor": 403},
}


@pytest.mark.parametrize(
    "action,persona,expected",
    [(action, persona, status) for action, by in ORG_WIDE.items() for persona, status in by.items()],
)
def test_it_leaves_organisation_wide_implementations_to_officers(action, persona, expected, personas, api_as):
    implementation = ControlImplementationFactory(system=None, control=ControlFactory(code="ctl-org"))
    ControlFactory(code="ctl-free")
    client = api_as(personas[persona])
    before = ControlImplementation.objects.count()

    if action == "detail":
        response = client.get(f"{IMPLEMENTATIONS}{implementation.pk}/")
    elif action == "create":
        response = client.post(IMPLEMENTATIONS, {"control": "ctl-free", "system": None}, format="json")
    elif action == "update":
        response = client.patch(
            f"{IMPLEMENTATIONS}{implementation.pk}/", {"status": "implemented"}, format="json"
        )
    else:
        response = client.delete(f"{IMPLEMENTATIONS}{implementation.pk}/")

    assert response.status_code == expected, response.content
    if expected == 400:
        assert "system" in response.json()["errors"]
    if expected >= 400:
        assert ControlImplementation.objects.count() == before
        implementation.refresh_from_db()
        assert implementation.status == "in_progress"


def test_it_lists_only_organisation_wide_and_own_team_implementations(api_as, engineer, team_a, team_b):
    own = ControlImplementationFactory(system=AISystemFactory(owning_team=team_a))
    org_wide = ControlImplementationFactory(system=None)
    ControlImplementationFactory(system=AISystemFactory(owning_team=team_b))
    results = api_as(engineer).get(IMPLEMENTATIONS).json()["results"]
    assert sorted(row["id"] for row in results) == sorted([own.pk, org_wide.pk])


def test_it_refuses_moving_an_implementation_to_another_teams_system(api_as, engineer, team_a, team_b):
    implementation = ControlImplementationFactory(system=AISystemFactory(owning_team=team_a))
    theirs = AISystemFactory(slug="theirs", owning_team=team_b)
    client = api_as(engineer)
    response = client.patch(f"{IMPLEMENTATIONS}{implementation.pk}/", {"system": "theirs"}, format="json")
    assert response.status_code == 400
    assert "system" in response.json()["errors"]
    response = client.patch(f"{IMPLEMENTATIONS}{implementation.pk}/", {"system": None}, format="json")
    assert response.status_code == 400
    assert "system" in response.json()["errors"]
    implementation.refresh_from_db()
    assert implementation.system_id != theirs.pk and implementation.system_id is not None


# --- Controls: shape and validation -------------------------------------------------------------


def test_it_maps_a_control_to_requirements_of_several_frameworks(api_as, officer):
    iso = RequirementFactory(framework__code="iso-iec-42001", ref_id="A.6.2.4", title="Verification")
    rmf = RequirementFactory(framework__code="nist-ai-rmf", ref_id="MEASURE 2.3", title="Performance")
    UserFactory(username="owner")
    payload = {
        "code": "ctl-release-review",
        "title": "Model release review",
        "owner": "owner",
        "control_type": "process",
        "frequency": "per_release",
        "requirements": [iso.pk, rmf.pk, iso.pk],
    }
    response = api_as(officer).post(CONTROLS, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == "owner"
    assert sorted(body["requirements"], key=lambda r: r["id"]) == sorted(
        [
            {"id": iso.pk, "framework": "iso-iec-42001", "ref_id": "A.6.2.4", "title": "Verification"},
            {"id": rmf.pk, "framework": "nist-ai-rmf", "ref_id": "MEASURE 2.3", "title": "Performance"},
        ],
        key=lambda r: r["id"],
    )

    detail = api_as(officer).get(f"{CONTROLS}ctl-release-review/").json()
    assert detail == body

    response = api_as(officer).patch(
        f"{CONTROLS}ctl-release-review/", {"requirements": [rmf.pk]}, format="json"
    )
    assert response.status_code == 200
    assert [r["ref_id"] for r in response.json()["requirements"]] == ["MEASURE 2.3"]
    untouched = api_as(officer).patch(f"{CONTROLS}ctl-release-review/", {"title": "Renamed"}, format="json")
    assert [r["ref_id"] for r in untouched.json()["requirements"]] == ["MEASURE 2.3"]
    # What a GET reads can be sent back as it is: the items' ids count
    sent_back = api_as(officer).put(
        f"{CONTROLS}ctl-release-review/", {**detail, "title": "Again"}, format="json"
    )
    assert sent_back.status_code == 200, sent_back.content
    assert sent_back.json()["requirements"] == detail["requirements"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"requirements": [999999]}, "requirements"),
        ({"requirements": ["abc"]}, "requirements"),
        ({"requirements": [{"ref_id": "A.6.2.4"}]}, "requirements"),
        ({"requirement_ids": [1]}, "requirement_ids"),  # the old name: unknown
        ({"code": "ctl-taken"}, "code"),
        ({"code": "has spaces"}, "code"),
        ({"control_type": "magic"}, "control_type"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_it_rejects_bad_control_fields(api_as, officer, change, field):
    ControlFactory(code="ctl-taken")
    payload = {"code": "ctl-new", "title": "New", "control_type": "policy", "frequency": "annual", **change}
    response = api_as(officer).post(CONTROLS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Control.objects.filter(code="ctl-new").exists()


def test_it_refuses_deleting_a_control_that_is_implemented(api_as, officer):
    implementation = ControlImplementationFactory(control=ControlFactory(code="ctl-used"))
    response = api_as(officer).delete(f"{CONTROLS}ctl-used/")
    assert response.status_code == 409
    assert "implement" in response.json()["detail"]
    assert ControlImplementation.objects.filter(pk=implementation.pk).exists()


def test_it_filters_controls(api_as, officer):
    requirement = RequirementFactory(framework__code="nist-ai-rmf")
    ControlFactory(code="ctl-a", control_type="technical", requirements=[requirement])
    ControlFactory(code="ctl-b", control_type="policy", title="Bias testing")
    client = api_as(officer)

    def codes(query):
        response = client.get(f"{CONTROLS}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["code"] for row in response.json()["results"])

    assert codes("control_type=technical") == ["ctl-a"]
    assert codes("framework=nist-ai-rmf") == ["ctl-a"]
    assert codes(f"requirement={requirement.pk}") == ["ctl-a"]
    assert codes("q=bias") == ["ctl-b"]
    assert client.get(f"{CONTROLS}?frequency=hourly").status_code == 400


# --- Implementations: validation ----------------------------------------------------------------


@pytest.fixture
def implementation_payload(system_a):
    ControlFactory(code="ctl-x")
    return {"control": "ctl-x", "system": "system-a", "status": "in_progress"}


@pytest.mark.parametrize(
    "change,field",
    [
        ({"status": "not_applicable"}, "justification"),
        ({"status": "not_applicable", "justification": "   "}, "justification"),
        ({"control": "ctl-nope"}, "control"),
        ({"system": "no-such-system"}, "system"),
        ({"status": "done"}, "status"),
        ({"effectiveness": "great"}, "effectiveness"),
        ({"last_tested_on": "2025-06-01", "next_test_due": "2025-01-01"}, "next_test_due"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_it_rejects_bad_implementation_fields(api_as, engineer, implementation_payload, change, field):
    response = api_as(engineer).post(IMPLEMENTATIONS, {**implementation_payload, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not ControlImplementation.objects.exists()


def test_it_accepts_not_applicable_with_a_justification(api_as, engineer, implementation_payload):
    payload = {**implementation_payload, "status": "not_applicable", "justification": "No personal data."}
    response = api_as(engineer).post(IMPLEMENTATIONS, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["justification"] == "No personal data."


def test_it_needs_the_system_named_explicitly(api_as, officer, implementation_payload):
    payload = {key: value for key, value in implementation_payload.items() if key != "system"}
    response = api_as(officer).post(IMPLEMENTATIONS, payload, format="json")
    assert response.status_code == 400
    assert "system" in response.json()["errors"]


def test_it_refuses_a_second_implementation_per_system_with_a_field_message(
    api_as, officer, implementation_payload
):
    client = api_as(officer)
    assert client.post(IMPLEMENTATIONS, implementation_payload, format="json").status_code == 201
    response = client.post(IMPLEMENTATIONS, implementation_payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["system"] == [
        "This control already has an implementation for this system."
    ]
    assert ControlImplementation.objects.count() == 1


def test_it_refuses_a_second_organisation_wide_implementation_with_a_field_message(api_as, officer):
    ControlFactory(code="ctl-x")
    client = api_as(officer)
    payload = {"control": "ctl-x", "system": None}
    assert client.post(IMPLEMENTATIONS, payload, format="json").status_code == 201
    response = client.post(IMPLEMENTATIONS, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["system"] == [
        "This control already has an organisation-wide implementation."
    ]
    assert ControlImplementation.objects.count() == 1


def test_it_hides_other_teams_systems_when_writing(api_as, other_engineer, implementation_payload):
    response = api_as(other_engineer).post(IMPLEMENTATIONS, implementation_payload, format="json")
    assert response.status_code == 400
    assert "does not exist" in response.json()["errors"]["system"][0]


def test_it_renders_an_implementation(api_as, officer, system_a):
    UserFactory(username="tester")
    implementation = ControlImplementationFactory(
        control=ControlFactory(code="ctl-x"),
        system=system_a,
        owner=UserFactory(username="owner"),
        last_tested_on=datetime.date(2025, 1, 1),
        next_test_due=datetime.date(2025, 4, 1),
        effectiveness="effective",
    )
    body = api_as(officer).get(f"{IMPLEMENTATIONS}{implementation.pk}/").json()
    assert {key: value for key, value in body.items() if key not in {"created_at", "updated_at"}} == {
        "id": implementation.pk,
        "control": "ctl-x",
        "system": "system-a",
        "status": "in_progress",
        "justification": "",
        "owner": "owner",
        "last_tested_on": "2025-01-01",
        "next_test_due": "2025-04-01",
        "effectiveness": "effective",
    }
    response = api_as(officer).patch(
        f"{IMPLEMENTATIONS}{implementation.pk}/", {"owner": "tester", "system": None}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["owner"], response.json()["system"]) == ("tester", None)


def test_it_filters_implementations(api_as, officer, team_a, team_b):
    today = timezone.localdate()
    a = AISystemFactory(slug="sys-a", owning_team=team_a)
    b = AISystemFactory(slug="sys-b", owning_team=team_b)
    late = ControlImplementationFactory(
        control=ControlFactory(code="ctl-late"), system=a, next_test_due=today - datetime.timedelta(days=1)
    )
    due_today = ControlImplementationFactory(
        system=b, next_test_due=today, status="implemented", effectiveness="effective"
    )
    org_wide = ControlImplementationFactory(system=None, status="not_applicable", justification="n/a")
    client = api_as(officer)

    def ids(query):
        response = client.get(f"{IMPLEMENTATIONS}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert ids("overdue=true") == [late.pk]
    assert ids("overdue=false") == sorted([due_today.pk, org_wide.pk])
    assert ids("team=team-a") == [late.pk]
    assert ids("system=sys-b") == [due_today.pk]
    assert ids("control=ctl-late") == [late.pk]
    assert ids("status=implemented&status=not_applicable") == sorted([due_today.pk, org_wide.pk])
    assert ids("effectiveness=effective") == [due_today.pk]
    assert ids("organisation_wide=true") == [org_wide.pk]
    assert ids("q=ctl-late") == [late.pk]
    assert client.get(f"{IMPLEMENTATIONS}?status=done").status_code == 400


# --- Query counts -------------------------------------------------------------------------------


def _seed(n, team):
    owner = UserFactory()
    requirements = RequirementFactory.create_batch(2)
    for _ in range(n):
        control = ControlFactory(owner=owner, requirements=requirements)
        ControlImplementationFactory(control=control, system=AISystemFactory(owning_team=team), owner=owner)


@pytest.mark.parametrize("endpoint", [CONTROLS, IMPLEMENTATIONS])
@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_in_constant_queries(api_as, personas, team_a, persona, endpoint):
    client = api_as(personas[persona])
    _seed(10, team_a)
    small, body = steady_state_queries(client, f"{endpoint}?page_size=50")
    assert len(body["results"]) == 10
    _seed(40, team_a)
    large, body = steady_state_queries(client, f"{endpoint}?page_size=50")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 rows, {large} for 50"


# --- Admin --------------------------------------------------------------------------------------


def test_it_scopes_the_implementation_admin(client, engineer, team_a, team_b):
    own = ControlImplementationFactory(system=AISystemFactory(owning_team=team_a, name="Ours"))
    org_wide = ControlImplementationFactory(system=None)
    theirs = ControlImplementationFactory(system=AISystemFactory(owning_team=team_b, name="Theirs"))
    client.force_login(engineer)
    page = client.get("/admin/governance/controlimplementation/")
    assert page.status_code == 200
    assert list(page.context["cl"].queryset.order_by("pk")) == [own, org_wide]
    assert client.get(f"/admin/governance/controlimplementation/{theirs.pk}/change/").status_code == 302
    # Organisation-wide implementations are shown to engineers, read-only.
    view = client.get(f"/admin/governance/controlimplementation/{org_wide.pk}/change/")
    assert view.status_code == 200
    assert not view.context["has_change_permission"]


def test_it_saves_implementations_from_the_admin_through_the_rules(client, engineer, team_a, team_b):
    control = ControlFactory()
    ours = AISystemFactory(owning_team=team_a)
    theirs = AISystemFactory(owning_team=team_b)
    client.force_login(engineer)
    url = "/admin/governance/controlimplementation/add/"
    form = {
        "control": control.pk,
        "status": "in_progress",
        "effectiveness": "not_assessed",
        "justification": "",
    }
    for refused in ({**form, "system": theirs.pk}, {**form, "system": ""}):
        response = client.post(url, refused)
        assert response.status_code == 200
        assert "system" in response.context["adminform"].form.errors
    assert not ControlImplementation.objects.exists()
    response = client.post(url, {**form, "system": ours.pk})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    implementation = ControlImplementation.objects.get()
    event = ChangeEvent.objects.get(
        table_name="governance_controlimplementation", object_pk=str(implementation.pk)
    )
    assert event.actor == "engineer"
    history = client.get(f"/admin/governance/controlimplementation/{implementation.pk}/history/")
    assert history.status_code == 200
    assert len(history.context["rows"]) == 1


def test_it_edits_a_control_and_its_mappings_in_the_admin(client, officer, system_a):
    requirement = RequirementFactory()
    control = ControlFactory(code="ctl-admin")
    client.force_login(officer)
    assert client.get("/admin/governance/control/").status_code == 200
    url = f"/admin/governance/control/{control.pk}/change/"
    assert client.get(url).status_code == 200
    prefix = "implementations"
    response = client.post(
        url,
        {
            "code": "ctl-admin",
            "title": "Edited",
            "description": "",
            "control_type": "technical",
            "frequency": "monthly",
            "requirements": [requirement.pk],
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-system": system_a.pk,
            f"{prefix}-0-status": "implemented",
            f"{prefix}-0-effectiveness": "effective",
            f"{prefix}-0-justification": "",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    control.refresh_from_db()
    assert control.title == "Edited"
    assert list(control.requirements.all()) == [requirement]
    assert control.implementations.get().system == system_a
    assert client.get(f"/admin/governance/control/{control.pk}/history/").status_code == 200


def test_it_shows_controls_read_only_to_engineers_in_the_admin(client, engineer, team_a, team_b):
    control = ControlFactory()
    ControlImplementationFactory(control=control, system=AISystemFactory(owning_team=team_a, name="Ours"))
    ControlImplementationFactory(control=control, system=AISystemFactory(owning_team=team_b, name="Theirs"))
    client.force_login(engineer)
    page = client.get(f"/admin/governance/control/{control.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    (inline,) = page.context["inline_admin_formsets"]
    assert [form.original.system.name for form in inline] == ["Ours"]
    assert not inline.has_add_permission


def test_it_refuses_deleting_an_implemented_control_in_the_admin(client, officer):
    implementation = ControlImplementationFactory()
    control = implementation.control
    client.force_login(officer)
    response = client.post(f"/admin/governance/control/{control.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/governance/control/{control.pk}/change/"
    assert "delete its implementations first" in response.content.decode()
    assert Control.objects.filter(pk=control.pk).exists()
    assert ControlImplementation.objects.filter(pk=implementation.pk).exists()


def test_it_bulk_deletes_only_what_the_engineer_may_change(client, engineer, team_a):
    own = ControlImplementationFactory(system=AISystemFactory(owning_team=team_a))
    org_wide = ControlImplementationFactory(system=None)
    client.force_login(engineer)
    url = "/admin/governance/controlimplementation/"
    both = {"action": "delete_selected", "_selected_action": [own.pk, org_wide.pk]}
    confirmation = client.post(url, both)
    assert confirmation.status_code == 200
    assert confirmation.context["perms_lacking"], "the page names what the user may not delete"
    assert client.post(url, {**both, "post": "yes"}).status_code == 403
    assert ControlImplementation.objects.count() == 2
    done = client.post(url, {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"})
    assert done.status_code == 302
    assert list(ControlImplementation.objects.all()) == [org_wide]
