"""Debian's Chromium driven by Playwright, for the admin pages that matter.

Run ``scripts/ensure_browser.py`` first (``make test`` does) so that /usr/bin/chromium exists;
Playwright's own browser downloads are not used.

Every page opened in a context of ``chromium()``'s browser reports what the site's
Content-Security-Policy refused; ``browser.csp_violations`` lists them, and leaving ``chromium()``
with any fails the test that was using it.
"""

from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
    " --disable-background-networking --disable-component-update --disable-sync"
).split()
PASSWORD = "correct-horse-battery"  # what tests.factories.UserFactory sets
# Playwright's init scripts run whatever the page's policy says; this one makes every refusal a
# console message, besides the one Chromium writes itself.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}`);
});
"""


def _is_violation(text: str) -> bool:
    return "CSP violation" in text or "Content Security Policy" in text


def _watch_policy_violations(browser) -> list[str]:
    violations: list[str] = []
    new_context = browser.new_context

    def new_watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.add_init_script(_REPORT_VIOLATIONS)
        context.on(
            "console",
            lambda message: (
                _is_violation(message.text)
                and violations.append(f"{message.page.url if message.page else ''}: {message.text}")
            ),
        )
        return context

    browser.new_context = new_watched_context
    return violations


@contextmanager
def chromium():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `python scripts/ensure_browser.py` (make test does).")
    # Playwright's sync API keeps an event loop on this thread; the ORM calls made by the tests
    # and their fixtures are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            browser.csp_violations = _watch_policy_violations(browser)
            try:
                yield browser
            finally:
                browser.close()
            if browser.csp_violations:
                pytest.fail("Content-Security-Policy violations:\n" + "\n".join(browser.csp_violations))


def log_in(page, user):
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(user.username)
