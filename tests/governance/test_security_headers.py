"""The headers every response carries (Content-Security-Policy, Permissions-Policy, nosniff,
Referrer-Policy, X-Frame-Options), no caching of what a signed-in user is sent, and every kind of
HTML page working in a browser under the policy."""

import pytest

from tests.browser import chromium, log_in
from tests.governance.evidence_helpers import download, post_file

SITE_POLICY = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
]


def _directives(response) -> list[str]:
    return [part.strip() for part in response["Content-Security-Policy"].split(";")]


@pytest.mark.parametrize("path", ["/admin/login/", "/no-such-page/", "/api/v1/"])
def test_it_sends_the_site_policy_with_every_page(client, path):
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert set(SITE_POLICY) <= set(_directives(response))
    assert "unsafe-inline" not in response["Content-Security-Policy"].split("style-src")[0]


def test_it_sends_the_site_policy_with_the_admin_and_the_browsable_api(client, officer):
    client.force_login(officer)
    for path in ("/admin/", "/admin/governance/aisystem/", "/api/v1/ai-systems/"):
        response = client.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html"), path
        assert set(SITE_POLICY) <= set(_directives(response)), path


def test_it_widens_the_policy_only_as_far_as_each_docs_page_needs(client):
    swagger = _directives(client.get("/api/docs/"))
    assert "script-src 'self'" in swagger  # its start-up script is a file: no inline script
    assert "img-src 'self' data:" in swagger
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content

    redoc = client.get("/api/redoc/")
    [script_src] = [d for d in _directives(redoc) if d.startswith("script-src ")]
    nonce = script_src.split("'nonce-")[1].rstrip("'")
    assert script_src == f"script-src 'self' 'nonce-{nonce}'"
    assert "worker-src 'self' blob:" in _directives(redoc)
    assert redoc.content.decode().count(f'<script nonce="{nonce}">') == 2


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/", "/healthz"])
def test_it_denies_devices_and_keeps_the_other_security_headers(db, client, path):
    response = client.get(path)
    policy = {
        part.split("=")[0].strip(): part.split("=")[1] for part in response["Permissions-Policy"].split(",")
    }
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert policy[feature] == "()", feature
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def _no_store(response) -> bool:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_it_lets_nothing_keep_an_api_answer_to_a_token(api_as, officer, system_a):
    client = api_as(officer)
    for path in ("/api/v1/", "/api/v1/ai-systems/", f"/api/v1/ai-systems/{system_a.slug}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _no_store(response), (path, response.get("Cache-Control"))
    refused = client.get("/api/v1/ai-systems/no-such-system/")
    assert refused.status_code == 404 and _no_store(refused)


def test_it_lets_nothing_keep_an_api_answer_to_a_session(client, officer):
    client.force_login(officer)
    response = client.get("/api/v1/ai-systems/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert _no_store(response)


@pytest.mark.usefixtures("evidence_dir", "team_a")
def test_it_lets_nothing_keep_an_evidence_download(api_as, engineer):
    client = api_as(engineer)
    created = post_file(client).json()
    response, _ = download(client, created["id"])
    assert response.status_code == 200
    assert _no_store(response)


def test_it_leaves_caching_of_anonymous_answers_alone(db, client):
    assert "Cache-Control" not in client.get("/healthz")
    assert "no-store" not in client.get("/api/v1/").get("Cache-Control", "")  # 401 or 403, no data


# --- Every kind of HTML page in a browser, under the policy ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_renders_every_kind_of_page_in_a_browser_without_a_policy_violation(
    live_server, officer, system_a
):
    pages = [
        ("/admin/", "#content-main"),
        ("/admin/governance/aisystem/", "#result_list"),  # Django's change list: inline styles
        ("/admin/governance/aisystem/add/", "#aisystem_form"),
        (f"/admin/governance/aisystem/{system_a.pk}/change/", "#aisystem_form"),
        ("/admin/governance/aisystem/?q=nothing-matches", "#changelist"),
        ("/api/v1/ai-systems/", ".response-info"),  # the browsable API
        ("/no-such-page/", "#content"),  # the error page in the admin's look
    ]
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.goto("/admin/login/?next=/admin/")
        log_in(tab, officer)
        for path, selector in pages:
            tab.goto(path)
            tab.wait_for_selector(selector)
            tab.wait_for_load_state("networkidle")
            assert browser.csp_violations == [], path
        context.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("evidence_dir")
def test_it_opens_an_evidence_packs_report_from_its_folder_under_its_own_policy(
    tmp_path, iso, auditor, team_a
):
    from tests.factories import AISystemFactory
    from tests.governance.pack_helpers import build_and_extract

    AISystemFactory(owning_team=team_a, name="<script>alert(1)</script>")
    _manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    report = folder / "report.html"
    assert "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none';" in report.read_text()
    with chromium() as browser:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(report.as_uri())
        tab.wait_for_selector("h1:has-text('Verity evidence pack')")
        assert tab.locator("svg").count() >= 2  # the charts draw
        assert browser.csp_violations == []
        context.close()


def test_it_lets_nothing_keep_the_page_that_shows_a_new_token_secret(client, officer, engineer):
    client.force_login(officer)
    response = client.post(
        "/admin/governance/apitoken/add/", {"user": engineer.pk, "name": "payments CI", "scope": "read"}
    )
    assert response.status_code == 200 and b"token-secret" in response.content
    assert _no_store(response)
