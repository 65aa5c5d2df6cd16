"""An officer answers a small transparency assessment in a real browser, one fieldset per domain,
finalizes it and reads its score: Debian's Chromium driven by Playwright.

Run ``scripts/ensure_browser.py`` first (``make test`` does) so that /usr/bin/chromium exists.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from governance.models import TransparencyAssessment
from governance.services import transparency as services
from tests.browser import chromium, log_in
from tests.factories import AISystemFactory, IndicatorFactory, IndicatorSetFactory

pytestmark = pytest.mark.django_db(transaction=True)

ASSESSMENTS = "/admin/governance/transparencyassessment/"
SCREENSHOT = Path("/tmp/verity-transparency.png")


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_it_answers_an_assessment_by_domain_finalizes_it_and_shows_its_score(page, officer, team_a):
    deployment = IndicatorSetFactory(key="deploy-small", name="Deployment transparency", version="1.0")
    for order, (key, domain, name) in enumerate(
        [
            ("purpose", "Use", "Intended purpose disclosed"),
            ("oversight", "Use", "Human oversight described"),
            ("data", "Data", "Training data sources listed"),
        ],
        start=1,
    ):
        IndicatorFactory(
            indicator_set=deployment, key=key, domain=domain, subdomain="General", name=name, order=order
        )
    system = AISystemFactory(name="Claims triage", owning_team=team_a)
    assessment = services.start_assessment(actor=officer, indicator_set=deployment, system=system)

    log_in(page, officer)
    page.goto(f"{ASSESSMENTS}{assessment.pk}/change/")
    headings = page.locator("fieldset.transparency-domain h2")
    expect(headings).to_have_text(["Use", "Data"])

    page.select_option("#id_answer__purpose", "satisfied")
    page.fill("#id_evidence_url__purpose", "https://example.com/system-card")
    page.select_option("#id_answer__oversight", "not_satisfied")
    page.select_option("#id_answer__data", "not_applicable")
    page.click("input[name=_finalize]")
    page.wait_for_load_state()

    # "Not applicable" needs a justification: the refusal shows next to that indicator.
    expect(page.locator(".field-answer__data .errorlist")).to_contain_text("without a justification")
    expect(page.locator("#id_answer__data")).to_have_value("not_applicable")
    page.fill("#id_justification__data", "The system is not trained here; it uses a vendor model.")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.click("input[name=_finalize]")
    page.wait_for_load_state()

    expect(page.locator(".messagelist .success")).to_contain_text("50.00 %")
    expect(page).to_have_url(re.compile(rf"{ASSESSMENTS}{assessment.pk}/change/"))
    expect(page.locator("input[name=_finalize]")).to_have_count(0)
    expect(page.locator("#breakdown tr.total")).to_contain_text("50.00 %")
    assessment = TransparencyAssessment.objects.get(pk=assessment.pk)
    assert assessment.status == "final" and str(assessment.score) == "50.00"

    page.goto(f"{ASSESSMENTS}ranking/")
    expect(page.locator("#ranking tbody tr[data-system]")).to_contain_text(["Claims triage"])
