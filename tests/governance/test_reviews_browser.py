"""An officer runs a periodic review in a real browser: Debian's Chromium driven by Playwright.

Run ``scripts/ensure_browser.py`` first (``make test`` does) so that /usr/bin/chromium exists.
"""

import datetime
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from governance.models import Review
from tests.browser import chromium, log_in
from tests.factories import AISystemFactory, ReviewFactory, ReviewPolicyFactory

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWS = "/admin/governance/review/"
SCREENSHOT = Path("/tmp/verity-review.png")


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


def test_it_completes_a_review_from_the_checklist_and_schedules_the_next(page, officer, team_a):
    ReviewPolicyFactory(risk_tier="high", cadence_days=180)
    system = AISystemFactory(name="Claims triage", owning_team=team_a, risk_tier="high")
    review = ReviewFactory(system=system, due_at=timezone.now() + datetime.timedelta(days=2))
    ReviewFactory(
        system=AISystemFactory(name="Late scorer", owning_team=team_a),
        due_at=timezone.now() - datetime.timedelta(days=3),
        status="overdue",
    )

    log_in(page, officer)
    page.goto(f"{REVIEWS}?due=due_soon")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Claims triage").click()
    expect(page).to_have_url(re.compile(rf"{REVIEWS}{review.pk}/change/"))

    expect(page.locator("label[for=id_answer__purpose]")).to_contain_text("documented purpose")
    page.fill("#id_answer__purpose", "Yes: triages incoming claims for a human handler.")
    page.select_option("#id_outcome", "approved_with_conditions")
    page.click("input[name=_complete]")
    page.wait_for_load_state()

    # The service refuses an unanswered question; the form keeps what was typed.
    expect(page.locator(".field-answer__incidents .errorlist")).to_contain_text("Answer this question")
    expect(page.locator("#id_answer__purpose")).to_have_value(
        "Yes: triages incoming claims for a human handler."
    )
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.fill("#id_answer__incidents", "Two since March, both closed.")
    page.click("input[name=_complete]")
    page.wait_for_load_state()
    expect(page.locator(".field-conditions .errorlist")).to_contain_text("conditions")

    page.fill("#id_conditions", "Re-run the fairness evaluation before the next release.")
    page.click("input[name=_complete]")
    page.wait_for_load_state()

    expect(page.locator(".messagelist .success")).to_be_visible()
    review.refresh_from_db()
    assert review.status == "completed"
    assert review.outcome == "approved_with_conditions"
    assert review.answers == {
        "purpose": "Yes: triages incoming claims for a human handler.",
        "incidents": "Two since March, both closed.",
    }
    assert review.signed_off_by == officer
    upcoming = Review.objects.open().get(system=system)
    assert upcoming.trigger == "cadence"
    assert upcoming.due_at.date() == (review.signed_off_at + datetime.timedelta(days=180)).date()

    page.goto(f"{REVIEWS}{review.pk}/change/")
    expect(page.locator("input[name=_complete]")).to_have_count(0)
    expect(page.locator(".field-checklist_panel")).to_contain_text("Two since March, both closed.")
