"""Coverage: direct, through the crosswalk, needing evidence, or a gap; per scope; in one query."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import (
    Control,
    ControlImplementation,
    Evidence,
    Framework,
    Requirement,
    RequirementMapping,
)
from governance.services.coverage import ORGANISATION, Scope, coverage_rows, coverage_summary
from tests.factories import AISystemFactory


def _framework(code, refs):
    framework = Framework.objects.create(
        code=code,
        version="1",
        name=code,
        short_name=code,
        publisher="test",
        licence="test",
        loaded_from="test",
    )
    return framework, {
        ref: Requirement.objects.create(
            framework=framework, ref_id=ref, kind="control", title=f"{ref} title", order=i, assessable=True
        )
        for i, ref in enumerate(refs)
    }


@pytest.fixture
def catalog(db):
    iso, iso_refs = _framework("iso-test", ["A.6.2.6", "A.6.2.7", "A.8.4"])
    rmf, rmf_refs = _framework("rmf-test", ["MEASURE 2.4", "MANAGE 4.1", "GOVERN 1.1", "MAP 1.1"])
    RequirementMapping.objects.create(
        source=rmf_refs["MEASURE 2.4"], target=iso_refs["A.6.2.6"], relationship="related", provenance="t"
    )
    RequirementMapping.objects.create(
        source=rmf_refs["MANAGE 4.1"], target=iso_refs["A.6.2.6"], relationship="subset", provenance="t"
    )
    RequirementMapping.objects.create(
        source=iso_refs["A.6.2.6"], target=rmf_refs["GOVERN 1.1"], relationship="intersect", provenance="t"
    )
    return {"iso": iso, "rmf": rmf, **iso_refs, **rmf_refs}


def _control(code, *requirements):
    control = Control.objects.create(code=code, title=code, control_type="process", frequency="annual")
    control.requirements.set(requirements)
    return control


def _states(framework, scope=ORGANISATION):
    return {row["ref_id"]: row["state"] for row in coverage_rows(framework=framework, scope=scope)}


def test_it_covers_crosswalked_requirements_through_a_single_implemented_control(catalog):
    control = _control("monitoring", catalog["A.6.2.6"])
    ControlImplementation.objects.create(control=control, status="implemented")

    iso = _states(catalog["iso"])
    assert iso == {"A.6.2.6": "covered", "A.6.2.7": "gap", "A.8.4": "gap"}
    rmf_rows = {row["ref_id"]: row for row in coverage_rows(framework=catalog["rmf"])}
    assert rmf_rows["MEASURE 2.4"]["state"] == "partial_via_crosswalk"
    assert rmf_rows["MEASURE 2.4"]["through"] == [
        {"framework": "iso-test", "ref_id": "A.6.2.6", "title": "A.6.2.6 title", "relationship": "related"}
    ]
    # MANAGE 4.1 is a subset of A.6.2.6, so covering A.6.2.6 covers it fully.
    assert rmf_rows["MANAGE 4.1"]["state"] == "covered_via_crosswalk"
    assert rmf_rows["MANAGE 4.1"]["through"][0]["relationship"] == "superset"
    assert rmf_rows["GOVERN 1.1"]["state"] == "partial_via_crosswalk"
    assert rmf_rows["MAP 1.1"]["state"] == "gap"
    assert rmf_rows["MAP 1.1"]["controls"] == []


def test_it_counts_only_implemented_controls(catalog):
    control = _control("draft", catalog["A.6.2.7"])
    ControlImplementation.objects.create(control=control, status="in_progress")
    row = coverage_rows(framework=catalog["iso"], state="gap")[1]
    assert row["ref_id"] == "A.6.2.7"
    assert row["controls"] == [{"code": "draft", "status": "in_progress"}]


def test_it_marks_implementations_whose_evidence_expired(catalog):
    control = _control("reviewed", catalog["A.8.4"])
    implementation = ControlImplementation.objects.create(control=control, status="implemented")
    evidence = Evidence.objects.create(
        title="Review minutes",
        kind="link",
        url="https://example.com/minutes",
        collected_on=date.today() - timedelta(days=400),
        valid_until=date.today() - timedelta(days=1),
    )
    evidence.implementations.add(implementation)
    assert _states(catalog["iso"])["A.8.4"] == "needs_evidence"

    fresh = Evidence.objects.create(
        title="New minutes",
        kind="link",
        url="https://example.com/new",
        collected_on=date.today(),
        valid_until=date.today() + timedelta(days=365),
    )
    fresh.implementations.add(implementation)
    assert _states(catalog["iso"])["A.8.4"] == "covered"


def test_it_scopes_system_implementations(catalog, team_a, team_b):
    mine = AISystemFactory(owning_team=team_a)
    theirs = AISystemFactory(owning_team=team_b)
    control = _control("per-system", catalog["A.6.2.7"])
    ControlImplementation.objects.create(control=control, system=mine, status="implemented")

    assert _states(catalog["iso"], Scope(system=mine))["A.6.2.7"] == "covered"
    assert _states(catalog["iso"], Scope(team=team_a))["A.6.2.7"] == "covered"
    assert _states(catalog["iso"])["A.6.2.7"] == "gap", "one system does not cover the organisation"
    assert _states(catalog["iso"], Scope(system=theirs))["A.6.2.7"] == "gap"
    assert _states(catalog["iso"], Scope(team=team_b))["A.6.2.7"] == "gap"


def test_it_summarises_in_percentages(catalog):
    ControlImplementation.objects.create(control=_control("c1", catalog["A.6.2.6"]), status="implemented")
    summary = coverage_summary(framework=catalog["rmf"])
    assert summary["assessable"] == 4
    assert summary["counts"] == {
        "covered": 0,
        "needs_evidence": 0,
        "covered_via_crosswalk": 1,
        "partial_via_crosswalk": 2,
        "gap": 1,
        "not_applicable": 0,
    }
    assert summary["percentages"]["partial_via_crosswalk"] == 50.0


def test_it_leaves_requirements_excluded_by_the_soa_out_of_the_percentages(catalog, team_a):
    from governance.models import Applicability

    Applicability.objects.create(requirement=catalog["A.8.4"], applicable=False, justification="No users.")
    system = AISystemFactory(owning_team=team_a)
    Applicability.objects.create(requirement=catalog["A.8.4"], system=system, applicable=True)

    assert _states(catalog["iso"])["A.8.4"] == "not_applicable"
    assert _states(catalog["iso"], Scope(system=system))["A.8.4"] == "gap", "the system's decision wins"
    summary = coverage_summary(framework=catalog["iso"])
    assert summary["counts"]["not_applicable"] == 1 and summary["applicable"] == 2
    assert summary["percentages"]["gap"] == 100.0 and "not_applicable" not in summary["percentages"]


def test_it_shows_what_a_requirement_is_covered_through_only_when_not_covered_directly(catalog):
    ControlImplementation.objects.create(control=_control("both", catalog["A.6.2.6"]), status="implemented")
    ControlImplementation.objects.create(
        control=_control("rmf", catalog["MEASURE 2.4"]), status="implemented"
    )
    rows = {row["ref_id"]: row for row in coverage_rows(framework=catalog["rmf"])}
    assert rows["MEASURE 2.4"]["state"] == "covered" and rows["MEASURE 2.4"]["through"] == []


def test_it_computes_coverage_in_one_query_whatever_the_size(catalog):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            coverage_rows(framework=catalog["iso"])
            coverage_summary(framework=catalog["iso"])
        return len(ctx.captured_queries)

    small = queries()
    extra, refs = _framework("big", [f"R{i}" for i in range(200)])
    for i in range(50):
        control = _control(f"bulk-{i}", *list(refs.values())[i * 4 : i * 4 + 4], catalog["A.8.4"])
        ControlImplementation.objects.create(control=control, status="implemented")
    assert queries() == small <= 8  # one statement each, plus the transaction that turns JIT off


def test_it_answers_coverage_over_the_api_within_scope(api_as, engineer, other_engineer, catalog, team_a):
    system = AISystemFactory(slug="mine", owning_team=team_a)
    ControlImplementation.objects.create(
        control=_control("c", catalog["A.6.2.6"]), system=system, status="implemented"
    )

    response = api_as(engineer).get("/api/v1/coverage/?framework=rmf-test&system=mine")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "system:mine"
    assert {r["ref_id"]: r["state"] for r in body["requirements"]}["MEASURE 2.4"] == "partial_via_crosswalk"

    assert api_as(other_engineer).get("/api/v1/coverage/?framework=rmf-test&system=mine").status_code == 404
    assert api_as(other_engineer).get("/api/v1/coverage/?framework=rmf-test&team=team-a").status_code == 404
    bad = api_as(engineer).get("/api/v1/coverage/?framework=nope")
    assert bad.status_code == 400 and "framework" in bad.json()["errors"]
    bad_state = api_as(engineer).get("/api/v1/coverage/?framework=rmf-test&state=maybe")
    assert bad_state.status_code == 400 and "state" in bad_state.json()["errors"]


def test_it_shows_the_framework_tree_requirement_mappings_and_coverage_in_the_admin(client, auditor, catalog):
    client.force_login(auditor)
    framework = catalog["iso"]
    tree = client.get(f"/admin/governance/framework/{framework.pk}/tree/")
    assert tree.status_code == 200 and "A.6.2.6" in tree.content.decode()
    requirement = client.get(f"/admin/governance/requirement/{catalog['A.6.2.6'].pk}/change/")
    page = requirement.content.decode()
    assert requirement.status_code == 200 and "MEASURE 2.4" in page and "MANAGE 4.1" in page
    coverage = client.get(f"/admin/governance/framework/{catalog['rmf'].pk}/coverage/?state=gap")
    assert coverage.status_code == 200
    assert "MAP 1.1" in coverage.content.decode()


def test_it_covers_the_ai_rmf_through_the_shipped_crosswalk_from_one_iso_control(db):
    """One control mapped only to ISO/IEC 42001 A.6.2.6 covers, through the crosswalk, exactly the
    AI RMF subcategories that the reference crosswalk pairs with A.6.2.6."""
    import csv
    from pathlib import Path

    from governance.services.catalogs import load_catalogs

    load_catalogs()
    reference = Path(__file__).resolve().parent / "reference"  # see its README
    with open(reference / "nist-ai-rmf-1.0_to_iso-iec-42001_crosswalk_pairs.csv", newline="") as f:
        expected = {
            row["ai_rmf_subcategory"] for row in csv.DictReader(f) if row["iso42001_2023_ref"] == "A.6.2.6"
        }
    assert expected, "the reference crosswalk maps A.6.2.6"

    iso = Framework.objects.get(code="iso-iec-42001", version="2023")
    rmf = Framework.objects.get(code="nist-ai-rmf", version="1.0")
    control = _control("operations-monitoring", Requirement.objects.get(framework=iso, ref_id="A.6.2.6"))
    ControlImplementation.objects.create(control=control, status="implemented")

    rows = coverage_rows(framework=rmf)
    through_a626 = {
        row["ref_id"]: row["through"] for row in rows if any(t["ref_id"] == "A.6.2.6" for t in row["through"])
    }
    assert set(through_a626) == expected
    for ref_id, through in through_a626.items():
        link = next(t for t in through if t["ref_id"] == "A.6.2.6")
        assert link["relationship"] == "related" and link["framework"] == "iso-iec-42001"
        assert {r["ref_id"]: r["state"] for r in rows}[ref_id] == "partial_via_crosswalk"
    assert coverage_summary(framework=rmf)["counts"]["partial_via_crosswalk"] >= len(expected)
