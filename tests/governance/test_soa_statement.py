"""Statement of Applicability (ISO/IEC 42001 6.1.3): the statement, decisions, approvals, changes and
exports."""

import csv
import datetime
import hashlib
import io
import json
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.choices import ImplementationStatus
from governance.exceptions import NotAllowed
from governance.models import ControlImplementation, SoAVersion
from governance.services import soa
from governance.services.catalogs import CATALOG_ROOT
from governance.services.exports import csv_text, neutralise_cell
from tests.factories import FrameworkFactory, RequirementFactory
from tests.governance.soa_helpers import (
    ANNEX_A,
    HYPERLINK,
    ORG_STATUSES,
    SYSTEM_STATUSES,
    TODAY,
    _by_ref,
    _control,
    _evidence,
    _export_url,
    _implementation,
    _statement_url,
)

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


# --- the shipped catalog ----------------------------------------------------------------------------


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


def test_it_reads_a_requirement_whose_only_implementations_are_not_applicable_as_not_applicable(db):
    from governance.services.soa import _requirement_status

    both_excluded = [["not_applicable"], ["not_applicable"]]
    assert _requirement_status(True, [{"id": 1}], both_excluded) == "not_applicable"
    assert _requirement_status(True, [{"id": 1}], [["not_applicable"], ["in_progress"]]) == "in_progress"
    assert _requirement_status(True, [{"id": 1}], [[]]) == "not_started"
