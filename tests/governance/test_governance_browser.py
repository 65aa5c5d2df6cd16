"""The Statement of Applicability and coverage pages in a real browser (Debian's Chromium, Playwright).

Uses the shipped framework catalogs. Run ``scripts/ensure_browser.py`` first (``make test`` does)
so that /usr/bin/chromium exists.
"""

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from governance.models import (
    Applicability,
    Control,
    ControlImplementation,
    Framework,
    Requirement,
    SoAVersion,
)
from governance.services.catalogs import load_catalogs
from governance.services.coverage import STATE_LABELS, coverage_summary
from tests.browser import chromium, log_in
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db(transaction=True)

SOA_SCREENSHOT = Path("/tmp/verity-soa.png")
COVERAGE_SCREENSHOT = Path("/tmp/verity-coverage.png")
STATEMENT = "/admin/governance/soaversion/statement/"
ANNEX_A_CONTROLS = 38


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def iso(db):
    """The shipped catalogs (ISO/IEC 42001, NIST AI RMF, EU AI Act and their crosswalks)."""
    load_catalogs()
    return Framework.objects.get(code="iso-iec-42001", version="2023")


def _control(iso, code, title, *refs):
    control = Control.objects.create(code=code, title=title, control_type="process", frequency="annual")
    control.requirements.set(Requirement.objects.filter(framework=iso, ref_id__in=refs))
    return control


def _row(page, ref_id):
    return page.locator(f"#soa-row-{ref_id.replace('.', '').lower()}")


def test_it_decides_approves_and_exports_the_statement(page, iso, officer):
    policy = _control(iso, "ctl-ai-policy", "Publish and maintain the AI policy", "A.2.2", "A.2.4")
    policy_org = ControlImplementation.objects.create(control=policy, status="in_progress")
    log_in(page, officer)

    page.goto("/admin/governance/soaversion/")
    page.click("#soa-current-statement")
    expect(page).to_have_url(re.compile(rf"{STATEMENT}$"))
    expect(page.locator("#soa-summary")).to_contain_text("Not approved yet.")
    expect(page.locator("#soa-table tbody tr")).to_have_count(ANNEX_A_CONTROLS)
    expect(_row(page, "A.2.2")).to_contain_text("ctl-ai-policy")

    # Excluding a control needs a reason: refused on the row, nothing saved.
    row = _row(page, "A.10.4")
    row.locator("input[name=applicable]").uncheck()
    row.locator("input[type=submit]").click()
    row = _row(page, "A.10.4")
    expect(row.locator(".errorlist")).to_have_text("Say why the control is not applicable.")
    expect(page.locator(".messagelist .error")).to_contain_text("A.10.4 was not changed")
    expect(row.locator("input[name=applicable]")).not_to_be_checked()  # the entry survives
    assert not Applicability.objects.exists()

    row.locator("textarea[name=justification]").fill("We supply no AI systems to other organisations.")
    row.locator("input[type=submit]").click()
    expect(page.locator(".messagelist .success")).to_have_text("Saved the decision for A.10.4.")
    row = _row(page, "A.10.4")
    expect(row).to_have_class(re.compile(r"\bsoa-not-applicable\b"))
    expect(row.locator("td").nth(3)).to_contain_text("no")
    decision = Applicability.objects.get()
    assert (decision.requirement.ref_id, decision.system, decision.applicable) == ("A.10.4", None, False)
    assert decision.justification == "We supply no AI systems to other organisations."

    page.fill("#soa-approve textarea[name=note]", "First statement, signed off by the officer.")
    page.click("#soa-approve input[type=submit]")
    expect(page.locator(".messagelist .success")).to_contain_text("Approved SoA v1 (organisation)")
    expect(page.locator("#soa-summary")).to_contain_text("Last approved: version 1")
    expect(page.locator("#soa-summary")).to_contain_text("No changes since.")
    expect(page.locator("#soa-approve input[type=submit]")).to_have_value("Approve as version 2")
    version = SoAVersion.objects.get()
    assert (version.number, version.system, version.approved_by) == (1, None, officer)

    page.goto(f"/admin/governance/controlimplementation/{policy_org.pk}/change/")
    page.select_option("#id_status", "implemented")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

    page.goto(STATEMENT)
    expect(page.locator("#soa-summary")).to_contain_text("2 controls changed since")
    for ref_id in ("A.2.2", "A.2.4"):
        row = _row(page, ref_id)
        expect(row).to_have_class(re.compile(r"\bsoa-changed\b"))
        status = row.locator(".soa-change-list li", has_text="status")
        expect(status.locator("del")).to_have_text("In progress")
        expect(status).to_contain_text("→ Implemented")
    expect(page.locator("#soa-table tr.soa-changed")).to_have_count(2)
    page.screenshot(path=str(SOA_SCREENSHOT), full_page=True)

    with page.expect_download() as info:
        page.click("#soa-export-csv")
    download = info.value
    assert re.fullmatch(r"soa-iso-iec-42001-organisation-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    with open(download.path(), newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[:4] == ["ref_id", "objective", "title", "applicable"]
    assert len(rows) == ANNEX_A_CONTROLS
    by_ref = {row[0]: row for row in rows}
    assert by_ref["A.10.4"][3:5] == ["no", "We supply no AI systems to other organisations."]
    assert by_ref["A.2.2"][5] == "implemented"


def test_it_shows_coverage_and_lists_the_gaps(page, iso, officer, system_a):
    _control(iso, "ctl-risk-management", "Assess and treat AI risks", "6.1.2", "8.2", "A.5.2")
    logging = _control(iso, "ctl-logging", "Event logging", "A.6.2.8")
    ControlImplementation.objects.create(
        control=Control.objects.get(code="ctl-risk-management"), status="implemented"
    )
    ControlImplementation.objects.create(control=logging, system=system_a, status="implemented")
    summary = coverage_summary(framework=iso)
    assert summary["counts"]["covered"] == 3  # the system's logging does not count organisation-wide
    log_in(page, officer)

    page.goto("/admin/governance/framework/")
    page.locator("#result_list tr", has_text="ISO/IEC 42001").get_by_role("link", name="Coverage").click()
    expect(page).to_have_url(re.compile(rf"/admin/governance/framework/{iso.pk}/coverage/$"))
    expect(page.locator("#content-main")).to_contain_text(
        f"for the organisation: {summary['assessable']} assessable requirements"
    )
    table = page.locator("#coverage-summary")
    expect(table.locator("thead th")).to_have_text(["", *STATE_LABELS.values()])
    expect(table.locator("tr.counts td")).to_have_text([str(summary["counts"][s]) for s in STATE_LABELS])
    expect(table.locator("tr.percentages td")).to_have_text(
        [f"{summary['percentages'][s]} %" if s in summary["percentages"] else "—" for s in STATE_LABELS]
    )
    expect(page.locator("#coverage-rows tbody tr")).to_have_count(summary["assessable"])
    expect(page.locator("#coverage-rows tr.state-covered")).to_have_count(3)
    page.screenshot(path=str(COVERAGE_SCREENSHOT), full_page=False)

    page.select_option("select[name=state]", "gap")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]state=gap\b"))
    gaps = page.locator("#coverage-rows tbody tr")
    expect(gaps).to_have_count(summary["counts"]["gap"])
    expect(page.locator("#coverage-rows tbody tr:not(.state-gap)")).to_have_count(0)
    expect(page.locator("#coverage-rows")).to_contain_text("A.6.2.8")
    expect(page.locator("#coverage-rows")).not_to_contain_text("AI risk assessment")


def test_it_keeps_another_teams_statement_out_of_an_engineers_reach(page, iso, engineer, system_a, team_b):
    other = AISystemFactory(name="Team B scorer", slug="team-b-scorer", owning_team=team_b)
    log_in(page, engineer)

    page.goto(STATEMENT)
    options = page.locator("#soa-scope select[name=system] option")
    expect(options).to_have_text(["Organisation-wide", system_a.name])
    expect(page.locator("#soa-approve")).to_have_count(0)
    expect(page.locator("#soa-table textarea")).to_have_count(0)

    response = page.goto(f"{STATEMENT}?framework={iso.pk}&system={other.pk}")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Team B scorer")
    response = page.goto(f"/admin/governance/soaversion/statement/export/?system={other.pk}&format=csv")
    assert response.status == 404

    response = page.goto(f"{STATEMENT}?framework={iso.pk}&system={system_a.pk}")
    assert response.status == 200
    expect(page.locator("#soa-summary")).to_contain_text(system_a.name)
