"""The locked sign-in page and an officer unlocking the account, in a real browser (Debian's
Chromium, Playwright) at 1440x900. Screenshots: /tmp/verity-sign-in-locked.png and
/tmp/verity-sign-in-unlock.png."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from governance.choices import Role
from tests.browser import PASSWORD, chromium, log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOCKED_SCREENSHOT = Path("/tmp/verity-sign-in-locked.png")
UNLOCK_SCREENSHOT = Path("/tmp/verity-sign-in-unlock.png")


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _submit(page, username, password):
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation() as navigation:
        page.click("input[type=submit]")
    return navigation.value


def test_a_locked_out_user_is_told_to_wait_and_an_officer_unlocks_them(new_page, officer):
    erin = UserFactory(username="erin", role=Role.ENGINEER)
    page = new_page()
    page.goto("/admin/login/?next=/admin/")
    answers = [_submit(page, "erin", f"guess-{n}") for n in range(10)]
    assert [a.status for a in answers] == [200] * 9 + [429]
    expect(page).to_have_title("Sign-in temporarily locked | Verity")
    expect(page.locator("#sign-in-locked")).to_contain_text("This account is temporarily locked for erin")
    expect(page.locator("#sign-in-locked")).to_contain_text("ask a governance officer to unlock")
    page.screenshot(path=str(LOCKED_SCREENSHOT), full_page=True)

    # The right password is refused while the lock lasts.
    page.click("text=Back to the sign-in page")
    assert _submit(page, "erin", PASSWORD).status == 429
    expect(page.locator("#sign-in-locked")).to_be_visible()

    desk = new_page()
    log_in(desk, officer)
    desk.goto("/admin/governance/user/?sign_in=locked")
    row = desk.locator("#result_list tbody tr", has_text="erin")
    expect(desk.locator("#result_list tbody tr")).to_have_count(1)
    expect(row.locator("td.field-sign_in")).to_contain_text("Locked until")
    row.locator("input.action-select").check()
    desk.select_option("select[name=action]", "unlock_sign_in")
    desk.screenshot(path=str(UNLOCK_SCREENSHOT), full_page=True)
    desk.click("button[name=index]")
    expect(desk.locator(".messagelist .success")).to_contain_text("Unlocked sign-in for erin")
    desk.goto("/admin/governance/user/")
    unlocked = desk.locator("#result_list tbody tr", has_text="erin").locator("td.field-sign_in")
    expect(unlocked).to_have_text("—")

    page.goto("/admin/login/?next=/admin/")
    assert _submit(page, "erin", PASSWORD).status == 200
    expect(page.locator("#user-tools")).to_contain_text(erin.username)
