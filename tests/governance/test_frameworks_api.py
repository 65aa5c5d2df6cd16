"""Framework catalogs over the API: frameworks, requirements with their mappings read in both
directions, and requirement mappings (officers write, everyone reads)."""

import csv
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.choices import TokenScope
from governance.models import ChangeEvent, RequirementMapping
from governance.services.catalogs import load_catalogs
from governance.services.mappings import inverse_relationship
from tests.factories import ControlFactory, FrameworkFactory, RequirementFactory

FRAMEWORKS = "/api/v1/frameworks/"
REQUIREMENTS = "/api/v1/requirements/"
MAPPINGS = "/api/v1/requirement-mappings/"
REFERENCE = Path(__file__).parent / "reference"  # see its README
PERSONAS = ["officer", "engineer", "other_engineer", "auditor"]
READERS = dict.fromkeys(PERSONAS, 200)
OFFICERS_ONLY = {"engineer": 403, "other_engineer": 403, "auditor": 403}


def _mapping(source, target, relationship="related", **values):
    values.setdefault("provenance", "Test crosswalk")
    return RequirementMapping.objects.create(
        source=source, target=target, relationship=relationship, **values
    )


@pytest.fixture
def catalog(db):
    iso = FrameworkFactory(code="iso-iec-42001", version="2023", short_name="ISO/IEC 42001")
    rmf = FrameworkFactory(code="nist-ai-rmf", version="1.0", short_name="AI RMF")
    clause = RequirementFactory(framework=iso, ref_id="A.6", kind="section", assessable=False, order=1)
    control = RequirementFactory(framework=iso, ref_id="A.6.2.6", parent=clause, title="Operation", order=2)
    govern = RequirementFactory(framework=rmf, ref_id="GOVERN 1.1", kind="subcategory", order=1)
    measure = RequirementFactory(framework=rmf, ref_id="MEASURE 2.3", kind="subcategory", order=2)
    manage = RequirementFactory(framework=rmf, ref_id="MANAGE 4.1", kind="subcategory", order=3)
    return {
        "iso": iso,
        "rmf": rmf,
        "clause": clause,
        "control": control,
        "govern": govern,
        "measure": measure,
        "manage": manage,
        "mapping": _mapping(govern, control, "subset", rationale="Narrower."),
    }


# --- Who may do what ----------------------------------------------------------------------------

# action -> persona -> expected status
EXPECTED = {
    "frameworks:list": READERS,
    "frameworks:detail": READERS,
    "requirements:list": READERS,
    "requirements:detail": READERS,
    "requirement-mappings:list": READERS,
    "requirement-mappings:detail": READERS,
    "requirement-mappings:create": {"officer": 201, **OFFICERS_ONLY},
    "requirement-mappings:update": {"officer": 200, **OFFICERS_ONLY},
    "requirement-mappings:delete": {"officer": 204, **OFFICERS_ONLY},
}
CASES = [(action, persona, status) for action, by in EXPECTED.items() for persona, status in by.items()]


@pytest.mark.parametrize("case,persona,expected", CASES)
def test_it_lets_every_role_read_and_officers_write_mappings(
    case, persona, expected, personas, api_as, catalog
):
    endpoint, action = case.split(":")
    lookup = {
        "frameworks": catalog["iso"].pk,
        "requirements": catalog["control"].pk,
        "requirement-mappings": catalog["mapping"].pk,
    }[endpoint]
    client = api_as(personas[persona])
    base = f"/api/v1/{endpoint}/"
    before = list(RequirementMapping.objects.order_by("pk").values())

    if action == "list":
        response = client.get(base)
    elif action == "detail":
        response = client.get(f"{base}{lookup}/")
    elif action == "create":
        payload = {
            "source": catalog["measure"].pk,
            "target": catalog["control"].pk,
            "relationship": "intersect",
            "provenance": "Officer review",
        }
        response = client.post(base, payload, format="json")
    elif action == "update":
        response = client.patch(f"{base}{lookup}/", {"relationship": "equal"}, format="json")
    else:
        response = client.delete(f"{base}{lookup}/")

    assert response.status_code == expected, response.content
    after = list(RequirementMapping.objects.order_by("pk").values())
    if expected >= 400:
        assert response.json()["status"] == expected
        assert after == before, "a refused request must change nothing"
    elif action == "create":
        assert len(after) == len(before) + 1
    elif action == "update":
        assert RequirementMapping.objects.get(pk=lookup).relationship == "equal"
    elif action == "delete":
        assert len(after) == len(before) - 1


@pytest.mark.parametrize("endpoint", [FRAMEWORKS, REQUIREMENTS])
def test_it_keeps_frameworks_and_requirements_read_only(api_as, officer, catalog, endpoint):
    # No role holds write permissions on the catalogs, so even officers are refused before the
    # method is looked at.
    client = api_as(officer)
    lookup = catalog["iso"].pk if endpoint == FRAMEWORKS else catalog["control"].pk
    before = client.get(f"{endpoint}{lookup}/").json()
    assert client.post(endpoint, {"code": "x"}, format="json").status_code == 403
    assert client.patch(f"{endpoint}{lookup}/", {"title": "x"}, format="json").status_code == 403
    assert client.delete(f"{endpoint}{lookup}/").status_code == 403
    assert client.get(f"{endpoint}{lookup}/").json() == before


def test_it_refuses_anonymous_readers_and_read_only_tokens_writing(client, api_as, officer, catalog):
    for url in (FRAMEWORKS, REQUIREMENTS, MAPPINGS):
        assert client.get(url).status_code in (401, 403)
    read_only = api_as(officer, scope=TokenScope.READ)
    response = read_only.delete(f"{MAPPINGS}{catalog['mapping'].pk}/")
    assert response.status_code == 403
    assert RequirementMapping.objects.filter(pk=catalog["mapping"].pk).exists()


def test_it_records_who_wrote_a_mapping(api_as, officer, catalog):
    payload = {
        "source": catalog["manage"].pk,
        "target": catalog["control"].pk,
        "relationship": "related",
        "provenance": "Officer review",
    }
    response = api_as(officer).post(MAPPINGS, payload, format="json")
    assert response.status_code == 201, response.content
    event = ChangeEvent.objects.get(
        table_name="governance_requirementmapping", object_pk=str(response.json()["id"])
    )
    assert (event.operation, event.actor) == ("INSERT", "officer")


# --- Shapes -------------------------------------------------------------------------------------


def test_it_renders_a_framework_with_its_requirement_counts(api_as, auditor, catalog):
    body = api_as(auditor).get(f"{FRAMEWORKS}{catalog['iso'].pk}/").json()
    assert body == {
        "id": catalog["iso"].pk,
        "code": "iso-iec-42001",
        "version": "2023",
        "name": catalog["iso"].name,
        "short_name": "ISO/IEC 42001",
        "publisher": "Test publisher",
        "published_on": None,
        "source_url": "",
        "licence": "Identifiers and titles only",
        "attribution": "",
        "requirements_total": 2,
        "requirements_assessable": 1,
    }
    listed = api_as(auditor).get(FRAMEWORKS).json()["results"]
    assert [row["code"] for row in listed] == ["iso-iec-42001", "nist-ai-rmf"]
    assert listed[0] == body


def test_it_reads_a_requirements_mappings_in_both_directions(api_as, engineer, catalog):
    control, govern, measure, manage = (catalog[k] for k in ("control", "govern", "measure", "manage"))
    other_iso = RequirementFactory(
        framework=catalog["iso"], ref_id="A.6.2.4", parent=catalog["clause"], title="Verification", order=3
    )
    outgoing = _mapping(control, measure, "subset", provenance="Officer review", rationale="Part of it.")
    _mapping(manage, control, "intersect")
    _mapping(control, other_iso, "equal")
    ControlFactory(code="ctl-ops", title="Operations runbook", requirements=[control])
    ControlFactory(code="ctl-other", requirements=[govern])

    body = api_as(engineer).get(f"{REQUIREMENTS}{control.pk}/").json()
    assert body["framework"] == "iso-iec-42001" and body["version"] == "2023"
    assert body["parent"] == catalog["clause"].pk
    assert body["controls"] == [{"code": "ctl-ops", "title": "Operations runbook"}]
    read = {(m["other"]["ref_id"], m["direction"]): m["relationship"] for m in body["mappings"]}
    assert read == {
        ("GOVERN 1.1", "incoming"): "superset",  # recorded GOVERN 1.1 subset A.6.2.6
        ("MEASURE 2.3", "outgoing"): "subset",
        ("MANAGE 4.1", "incoming"): "intersect",
        ("A.6.2.4", "outgoing"): "equal",
    }
    assert [m["other"]["ref_id"] for m in body["mappings"]] == [
        "A.6.2.4",
        "GOVERN 1.1",
        "MEASURE 2.3",
        "MANAGE 4.1",
    ]
    entry = next(m for m in body["mappings"] if m["id"] == outgoing.pk)
    assert entry == {
        "id": outgoing.pk,
        "relationship": "subset",
        "other": {
            "id": measure.pk,
            "framework": "nist-ai-rmf",
            "version": "1.0",
            "ref_id": "MEASURE 2.3",
            "title": measure.title,
        },
        "provenance": "Officer review",
        "rationale": "Part of it.",
        "direction": "outgoing",
    }

    # The same mapping, read from its other end.
    govern_body = api_as(engineer).get(f"{REQUIREMENTS}{govern.pk}/").json()
    (from_govern,) = govern_body["mappings"]
    assert (from_govern["direction"], from_govern["relationship"]) == ("outgoing", "subset")
    assert from_govern["other"]["ref_id"] == "A.6.2.6"
    assert from_govern["rationale"] == "Narrower."

    parent = api_as(engineer).get(f"{REQUIREMENTS}{catalog['clause'].pk}/").json()
    assert parent["children"] == [
        {"id": control.pk, "ref_id": "A.6.2.6", "title": "Operation"},
        {"id": other_iso.pk, "ref_id": "A.6.2.4", "title": "Verification"},
    ]
    assert parent["mappings"] == [] and parent["controls"] == []


@pytest.mark.parametrize(
    "recorded,read_back",
    [
        ("subset", "superset"),
        ("superset", "subset"),
        ("equal", "equal"),
        ("intersect", "intersect"),
        ("related", "related"),
    ],
)
def test_it_inverts_only_subset_and_superset(recorded, read_back):
    assert inverse_relationship(recorded) == read_back


def test_it_lists_requirements_without_their_detail(api_as, auditor, catalog):
    rows = api_as(auditor).get(f"{REQUIREMENTS}?framework=iso-iec-42001").json()["results"]
    assert rows[0] == {
        "id": catalog["clause"].pk,
        "framework": "iso-iec-42001",
        "version": "2023",
        "ref_id": "A.6",
        "parent": None,
        "kind": "section",
        "title": catalog["clause"].title,
        "description": "",
        "assessable": False,
        "order": 1,
    }
    assert [row["ref_id"] for row in rows] == ["A.6", "A.6.2.6"]


def test_it_renders_a_mapping_with_both_ends(api_as, auditor, catalog):
    mapping = catalog["mapping"]
    body = api_as(auditor).get(f"{MAPPINGS}{mapping.pk}/").json()
    assert body == {
        "id": mapping.pk,
        "source": catalog["govern"].pk,
        "target": catalog["control"].pk,
        "relationship": "subset",
        "provenance": "Test crosswalk",
        "rationale": "Narrower.",
        "origin": "local",
        "modified_locally": False,
        "source_requirement": {
            "id": catalog["govern"].pk,
            "framework": "nist-ai-rmf",
            "version": "1.0",
            "ref_id": "GOVERN 1.1",
            "title": catalog["govern"].title,
        },
        "target_requirement": {
            "id": catalog["control"].pk,
            "framework": "iso-iec-42001",
            "version": "2023",
            "ref_id": "A.6.2.6",
            "title": "Operation",
        },
    }


def test_it_changes_a_mappings_ends_and_fields(api_as, officer, catalog):
    mapping = catalog["mapping"]
    response = api_as(officer).put(
        f"{MAPPINGS}{mapping.pk}/",
        {
            "source": catalog["measure"].pk,
            "target": catalog["control"].pk,
            "relationship": "superset",
            "provenance": "Officer review",
            "rationale": "",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["source_requirement"]["ref_id"] == "MEASURE 2.3"
    mapping.refresh_from_db()
    assert (mapping.source, mapping.relationship, mapping.provenance, mapping.rationale) == (
        catalog["measure"],
        "superset",
        "Officer review",
        "",
    )


# --- Validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"target": "govern"}, "target", "A requirement cannot be mapped to itself."),
        ({"target": "control"}, "target", "These requirements are already mapped (mapping {mapping})."),
        (
            {"source": "control", "target": "govern"},
            "target",
            "These requirements are already mapped the other way round (mapping {mapping}); change that one.",
        ),
        ({"relationship": "overlaps"}, "relationship", None),
        ({"relationship": None}, "relationship", None),
        ({"source": 999999}, "source", None),
        ({"target": "nonsense"}, "target", None),
        ({"provenance": ""}, "provenance", None),
        ({"provenance": "x" * 301}, "provenance", None),
    ],
)
def test_it_rejects_bad_mappings_with_field_messages(api_as, officer, catalog, change, field, message):
    payload = {
        "source": catalog["govern"].pk,
        "target": catalog["measure"].pk,
        "relationship": "related",
        "provenance": "Officer review",
    }
    for key, value in change.items():
        payload[key] = catalog[value].pk if isinstance(value, str) and value in catalog else value
    before = RequirementMapping.objects.count()
    response = api_as(officer).post(MAPPINGS, payload, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors, errors
    if message:
        assert errors[field] == [message.format(mapping=catalog["mapping"].pk)]
    assert RequirementMapping.objects.count() == before


def test_it_rejects_an_update_that_duplicates_another_mapping(api_as, officer, catalog):
    other = _mapping(catalog["measure"], catalog["control"])
    response = api_as(officer).patch(
        f"{MAPPINGS}{other.pk}/", {"source": catalog["govern"].pk}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "already mapped" in response.json()["errors"]["target"][0]
    other.refresh_from_db()
    assert other.source == catalog["measure"]
    # Changing a mapping's own fields does not collide with itself.
    response = api_as(officer).patch(f"{MAPPINGS}{other.pk}/", {"rationale": "Checked."}, format="json")
    assert response.status_code == 200, response.content


# --- Filters ------------------------------------------------------------------------------------


def test_it_filters_frameworks(api_as, auditor, catalog):
    client = api_as(auditor)
    rows = client.get(f"{FRAMEWORKS}?code=nist-ai-rmf").json()["results"]
    assert [(row["code"], row["requirements_total"]) for row in rows] == [("nist-ai-rmf", 3)]


def test_it_filters_requirements(api_as, engineer, catalog):
    FrameworkFactory(code="nist-ai-rmf", version="2.0")
    newer = RequirementFactory(framework__code="nist-ai-rmf", framework__version="2.0", ref_id="GOVERN 1.1")
    catalog["measure"].description = "Evaluations of trustworthy characteristics."
    catalog["measure"].save()
    catalog["manage"].text = "Post-deployment monitoring plans are implemented."
    catalog["manage"].save()
    client = api_as(engineer)

    def refs(query):
        response = client.get(f"{REQUIREMENTS}?{query}")
        assert response.status_code == 200, response.content
        return [(row["version"], row["ref_id"]) for row in response.json()["results"]]

    assert refs("framework=iso-iec-42001") == [("2023", "A.6"), ("2023", "A.6.2.6")]
    assert refs("framework=nist-ai-rmf&version=2.0") == [("2.0", newer.ref_id)]
    assert refs("ref_id=GOVERN 1.1") == [("1.0", "GOVERN 1.1"), ("2.0", "GOVERN 1.1")]
    assert refs("framework=iso-iec-42001&kind=section") == [("2023", "A.6")]
    assert refs("framework=nist-ai-rmf&version=1.0&kind=subcategory&kind=section") == [
        ("1.0", "GOVERN 1.1"),
        ("1.0", "MEASURE 2.3"),
        ("1.0", "MANAGE 4.1"),
    ]
    assert refs("framework=iso-iec-42001&assessable=false") == [("2023", "A.6")]
    assert refs(f"parent={catalog['clause'].pk}") == [("2023", "A.6.2.6")]
    assert refs("q=trustworthy") == [("1.0", "MEASURE 2.3")]
    assert refs("q=post-deployment") == [("1.0", "MANAGE 4.1")]
    assert refs("q=a.6.2") == [("2023", "A.6.2.6")]
    assert refs("q=Operation") == [("2023", "A.6.2.6")]
    assert client.get(f"{REQUIREMENTS}?kind=poem").status_code == 400
    assert client.get(f"{REQUIREMENTS}?parent=abc").status_code == 400


def test_it_filters_mappings(api_as, auditor, catalog):
    first = catalog["mapping"]
    second = _mapping(catalog["measure"], catalog["manage"], "intersect", provenance="NIST AIRC crosswalk")
    third = _mapping(catalog["control"], catalog["clause"], "subset", provenance="Verity mapping (2026)")
    client = api_as(auditor)

    def ids(query):
        response = client.get(f"{MAPPINGS}?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [first.pk, second.pk, third.pk]
    assert ids(f"source={catalog['measure'].pk}") == [second.pk]
    assert ids(f"target={catalog['control'].pk}") == [first.pk]
    assert ids("framework=iso-iec-42001") == [first.pk, third.pk]
    assert ids("framework=nist-ai-rmf") == [first.pk, second.pk]
    assert ids("relationship=subset") == [first.pk, third.pk]
    assert ids("relationship=intersect&relationship=equal") == [second.pk]
    assert ids("provenance=airc") == [second.pk]
    assert client.get(f"{MAPPINGS}?relationship=overlaps").status_code == 400


# --- Query counts -------------------------------------------------------------------------------


def _count_queries(client, url):
    client.get(url)  # the first use of a token also stamps its last use; count steady state
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()


def _seed(n):
    """``n`` frameworks, each with one requirement mapped to a shared one, controls and children."""
    hub = RequirementFactory(framework__code="hub")
    for _ in range(n):
        requirement = RequirementFactory(parent=hub)
        _mapping(requirement, hub, "subset")
        ControlFactory(requirements=[requirement, hub])
    return hub


@pytest.mark.parametrize("endpoint", [FRAMEWORKS, REQUIREMENTS, MAPPINGS])
def test_it_lists_in_constant_queries(api_as, engineer, endpoint):
    client = api_as(engineer)
    _seed(10)
    small, body = _count_queries(client, f"{endpoint}?page_size=50")
    assert len(body["results"]) >= 10
    _seed(40)
    large, body = _count_queries(client, f"{endpoint}?page_size=50")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 rows, {large} for 50"


def test_it_reads_a_requirement_in_a_fixed_number_of_queries(api_as, engineer):
    client = api_as(engineer)
    small_hub = _seed(1)
    small, body = _count_queries(client, f"{REQUIREMENTS}{small_hub.pk}/")
    assert len(body["mappings"]) == len(body["children"]) == len(body["controls"]) == 1
    large_hub = _seed(50)
    large, body = _count_queries(client, f"{REQUIREMENTS}{large_hub.pk}/")
    assert len(body["mappings"]) == len(body["children"]) == len(body["controls"]) == 50
    assert small == large, f"{small} queries for 1 of each, {large} for 50"


# --- The shipped catalogs -----------------------------------------------------------------------


def test_it_lists_the_crosswalked_ai_rmf_subcategories_of_iso_a_6_2_6(api_as, auditor):
    load_catalogs()
    path = REFERENCE / "nist-ai-rmf-1.0_to_iso-iec-42001_crosswalk_pairs.csv"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        expected = {
            row["ai_rmf_subcategory"] for row in csv.DictReader(fh) if row["iso42001_2023_ref"] == "A.6.2.6"
        }
    assert expected, "the reference crosswalk pairs A.6.2.6 with AI RMF subcategories"
    client = api_as(auditor)

    (found,) = client.get(f"{REQUIREMENTS}?framework=iso-iec-42001&version=2023&ref_id=A.6.2.6").json()[
        "results"
    ]
    body = client.get(f"{REQUIREMENTS}{found['id']}/").json()
    from_rmf = [m for m in body["mappings"] if m["other"]["framework"] == "nist-ai-rmf"]
    assert sorted(m["other"]["ref_id"] for m in from_rmf) == sorted(expected)
    assert all(m["direction"] == "incoming" and m["other"]["version"] == "1.0" for m in from_rmf)
    assert {m["relationship"] for m in from_rmf} == {"related"}


def test_it_applies_the_same_pair_rules_to_mappings_made_in_the_admin(client, officer, catalog):
    client.force_login(officer)
    reverse = {
        "source": catalog["control"].pk,
        "target": catalog["govern"].pk,
        "relationship": "superset",
        "provenance": "Our own reading",
        "rationale": "",
    }
    response = client.post("/admin/governance/requirementmapping/add/", reverse)
    assert response.status_code == 200
    assert "already mapped the other way round" in response.content.decode()
    assert RequirementMapping.objects.count() == 1

    fresh = {**reverse, "target": catalog["measure"].pk, "relationship": "intersect"}
    assert client.post("/admin/governance/requirementmapping/add/", fresh).status_code == 302
    created = RequirementMapping.objects.get(target=catalog["measure"])
    assert ChangeEvent.objects.filter(table_name="governance_requirementmapping", actor="officer").exists()
    assert created.relationship == "intersect"
