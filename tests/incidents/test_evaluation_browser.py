"""An officer reads a system's hallucination-rate trend in a real browser: Debian's Chromium
driven by Playwright. Run ``scripts/ensure_browser.py`` first (``make test`` does)."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import EvaluationRun
from tests.browser import chromium, log_in
from tests.factories import AISystemFactory, EvaluationRunFactory, HallucinationLimitFactory

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = "/admin/incidents/evaluationrun/"
SCREENSHOT = Path("/tmp/verity-evaluation-trend.png")


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


def test_it_draws_the_trend_of_two_model_versions_with_the_limit(page, officer, team_a):
    system = AISystemFactory(name="Claims assistant", slug="claims-assistant", owning_team=team_a)
    counts = [("v1", 34), ("v1", 30), ("v1", 27), ("v2", 14), ("v2", 11)]
    for age, (version, hallucinated) in zip(range(len(counts), 0, -1), counts, strict=True):
        run = EvaluationRunFactory(system=system, model_version=version, hallucinated=hallucinated)
        EvaluationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=7 * age))
    HallucinationLimitFactory(system=system, max_rate=0.12)

    log_in(page, officer)
    page.goto(RUNS)
    page.click("#evaluation-trend")
    page.select_option("#id_system", "claims-assistant")
    page.click("#trend-filter input[type=submit]")
    page.wait_for_load_state()

    chart = page.locator("svg.trend-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("g.point")).to_have_count(5)
    expect(chart.locator("g.point[data-version=v1]")).to_have_count(3)
    expect(chart.locator("g.point[data-version=v2]")).to_have_count(2)
    expect(chart.locator("g.point line.whisker")).to_have_count(5)
    expect(chart.locator("g.legend-item")).to_have_count(2)
    expect(chart.locator("g.limit")).to_have_count(1)
    expect(chart.locator("g.limit text")).to_have_text("limit 12.0 %, any benchmark")

    # The limit line lies below the first version's dots and above the second's.
    limit_y = chart.locator("g.limit line").get_attribute("y1")
    v1_y = [
        float(y)
        for y in chart.locator("g.point[data-version=v1] circle").evaluate_all(
            "circles => circles.map(c => c.getAttribute('cy'))"
        )
    ]
    v2_y = [
        float(y)
        for y in chart.locator("g.point[data-version=v2] circle").evaluate_all(
            "circles => circles.map(c => c.getAttribute('cy'))"
        )
    ]
    assert max(v1_y) < float(limit_y) < min(v2_y)  # SVG's y grows downwards
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 250
    expect(page.locator("#trend-points tbody tr")).to_have_count(5)

    page.select_option("#id_compare_benchmark", "SimpleQA")
    page.select_option("#id_version_a", "v1")
    page.select_option("#id_version_b", "v2")
    page.click("#compare-form input[type=submit]")
    page.wait_for_load_state()
    expect(page.locator("#comparison-result")).to_contain_text("unlikely to be chance")
    expect(page.locator("svg.trend-chart g.point")).to_have_count(5)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
