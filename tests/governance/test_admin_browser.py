"""The officers' admin in a real browser: Debian's Chromium driven by Playwright's sync API.

Run ``scripts/ensure_browser.py`` first (``make test`` does) so that /usr/bin/chromium exists.
"""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from governance.models import AISystem, ApiToken
from tests.browser import chromium, log_in
from tests.factories import AIModelFactory, AISystemFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = Path("/tmp/verity-admin.png")
SYSTEMS = "/admin/governance/aisystem/"


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


def save(page, button="_save"):
    page.click(f"input[name={button}]")
    page.wait_for_load_state()


def fill_new_system(page, *, name, team, eu_class="minimal", risk_tier="low"):
    page.goto(f"{SYSTEMS}add/")
    page.fill("#id_name", name)
    page.fill("#id_purpose", f"{name}: helps people decide.")
    page.select_option("#id_owning_team", label=team.name)
    page.select_option("#id_lifecycle_stage", "validation")
    page.select_option("#id_eu_ai_act_class", eu_class)
    page.select_option("#id_operator_role", "deployer")
    page.select_option("#id_risk_tier", risk_tier)
    page.select_option("#id_autonomy_level", "assistive")
    page.select_option("#id_human_oversight", "in_the_loop")


def api_get(live_server, path, secret):
    request = urllib.request.Request(
        f"{live_server.url}{path}", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_registers_a_high_risk_system_only_with_its_annex_iii_area(page, officer, team_a):
    model = AIModelFactory(provider="Acme AI", name="acme-large", version="3")
    log_in(page, officer)
    fill_new_system(page, name="CV screening", team=team_a, eu_class="high_risk", risk_tier="high")
    expect(page.locator("#id_slug")).to_have_value("cv-screening")  # prepopulated from the name

    page.click("#model_links-group .add-row a")
    row = page.locator("#model_links-group tr.dynamic-model_links").first
    row.locator(".select2-selection").click()
    page.fill(".select2-search__field", "acme-large")
    page.locator(".select2-results__option", has_text="Acme AI acme-large 3").click()
    row.locator("select[name$='-role']").select_option("fallback")
    save(page, "_continue")

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-annex_iii_area .errorlist")).to_have_text(
        "A high-risk system needs its Annex III area."
    )
    assert not AISystem.objects.exists()
    # The inline row survives the failed submission.
    expect(page.locator("#id_model_links-0-model")).to_have_value(str(model.pk))

    page.select_option("#id_annex_iii_area", "employment")
    save(page, "_continue")

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    system = AISystem.objects.get(slug="cv-screening")
    assert system.owning_team == team_a
    assert (system.eu_ai_act_class, system.annex_iii_area) == ("high_risk", "employment")
    assert list(system.model_links.values_list("model_id", "role")) == [(model.pk, "fallback")]
    expect(page).to_have_url(re.compile(rf"{SYSTEMS}{system.pk}/change/$"))
    legends = page.locator("fieldset h2, fieldset legend").all_inner_texts()
    assert {"What the system is", "Who is accountable", "Regulatory classification"} <= {
        text.strip() for text in legends
    }
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_it_lists_admin_creation_and_field_changes_in_the_history(page, officer, team_a):
    log_in(page, officer)
    fill_new_system(page, name="Support summariser", team=team_a, risk_tier="low")
    save(page, "_continue")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    system = AISystem.objects.get(slug="support-summariser")

    page.select_option("#id_risk_tier", "high")
    save(page, "_continue")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    assert AISystem.objects.get(pk=system.pk).risk_tier == "high"

    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(rf"{SYSTEMS}{system.pk}/history/$"))
    rows = page.locator("#change-history tbody tr")
    expect(rows).to_have_count(2)

    changed, created = rows.nth(0), rows.nth(1)  # newest first
    expect(changed.locator("td").nth(3)).to_have_text(f"aisystem #{system.pk} changed")
    expect(changed.locator("td").nth(1)).to_have_text("officer")
    expect(changed.locator("td").nth(2)).to_have_text("admin")
    risk = changed.locator("li", has_text="risk_tier")
    expect(risk.locator("del")).to_have_text("low")
    expect(risk).to_contain_text("→ high")
    expect(changed.locator("li", has_text="name")).to_have_count(0)  # unchanged fields left out

    expect(created.locator("td").nth(3)).to_have_text(f"aisystem #{system.pk} created")
    expect(created.locator("td").nth(1)).to_have_text("officer")
    expect(created.locator("td").nth(2)).to_have_text("admin")
    expect(created.locator("li", has_text="slug")).to_contain_text("→ support-summariser")


def test_it_shows_an_engineer_only_their_teams_systems(page, engineer, team_a, team_b):
    own = AISystemFactory(name="Team A chatbot", owning_team=team_a)
    other = AISystemFactory(name="Team B scorer", owning_team=team_b)
    log_in(page, engineer)

    page.goto(SYSTEMS)
    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Team A chatbot")
    expect(page.locator("#result_list")).not_to_contain_text("Team B scorer")

    page.goto(f"{SYSTEMS}{other.pk}/change/")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator(".messagelist .warning")).to_contain_text(
        f"AI system with ID “{other.pk}” doesn’t exist"
    )
    expect(page.locator("#content")).not_to_contain_text("Team B scorer")

    page.goto(f"{SYSTEMS}{own.pk}/change/")
    expect(page.locator("#id_name")).to_have_value("Team A chatbot")
    expect(page.locator("input[name=_save]")).to_be_visible()


def test_it_gives_an_auditor_a_read_only_change_page(page, auditor, system_a):
    log_in(page, auditor)
    page.goto(f"{SYSTEMS}{system_a.pk}/change/")

    expect(page.locator("h1")).to_have_text("View AI system")
    expect(page.locator(".field-name .readonly")).to_have_text(system_a.name)
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("input[name=_continue]")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_count(0)
    expect(page.locator(".deletelink")).to_have_count(0)


def test_it_shows_a_new_token_secret_once_and_it_authenticates(
    page, live_server, officer, engineer, system_a, team_b
):
    AISystemFactory(slug="system-b", owning_team=team_b)
    log_in(page, officer)
    page.goto("/admin/governance/apitoken/add/")
    page.select_option("#id_user", label=engineer.username)
    page.fill("#id_name", "payments CI")
    page.select_option("#id_scope", "read")
    save(page)

    expect(page.locator("h1")).to_have_text("API token created")
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("vrt_")
    token = ApiToken.objects.get(name="payments CI")
    assert (token.user, token.scope, token.created_by) == (engineer, "read", officer)
    assert secret not in (token.prefix, token.digest)

    status, body = api_get(live_server, "/api/v1/ai-systems/", secret)
    assert status == 200
    assert [item["slug"] for item in body["results"]] == ["system-a"]  # the engineer's scope
    status, _ = api_get(live_server, "/api/v1/ai-systems/", secret[:-1] + "x")
    assert status == 401

    page.goto(f"/admin/governance/apitoken/{token.pk}/change/")
    expect(page.locator(".field-prefix .readonly")).to_have_text(token.prefix)
    assert secret not in page.content()
