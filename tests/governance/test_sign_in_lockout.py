"""Admin sign-in lockout (django-axes): 10 failed logins of one username from one address lock it
for the cool-off, the right password included; an officer unlocks it; API tokens are not affected."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from governance.choices import Role
from governance.services import sign_in
from tests.browser import PASSWORD
from tests.factories import UserFactory

LOGIN = "/admin/login/?next=/admin/"
USERS = "/admin/governance/user/"


@pytest.fixture
def erin(db):
    return UserFactory(username="erin", role=Role.ENGINEER)


def _sign_in(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client, username, times, **extra):
    return [_sign_in(client, username, f"wrong-{n}", **extra) for n in range(times)]


def _assert_locked_page(response, username="erin"):
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    page = response.content.decode()
    assert "This account is temporarily locked" in page and username in page
    assert "ask a governance officer to unlock your account" in page
    assert "Try again in 15 minutes" in page


def test_it_locks_an_account_after_10_failed_sign_ins_and_refuses_the_right_password(erin):
    client = Client()
    answers = _fail(client, "erin", 10)
    assert [r.status_code for r in answers[:9]] == [200] * 9  # the login form with its error
    assert "Please enter the correct username and password" in answers[8].content.decode()
    _assert_locked_page(answers[9])

    _assert_locked_page(_sign_in(client, "erin", PASSWORD))
    assert not _signed_in(client)


def test_an_officer_unlocks_the_account_and_then_the_right_password_works(erin, officer):
    client = Client()
    _fail(client, "erin", 10)
    assert sign_in.with_lock_ends(type(erin).objects.filter(pk=erin.pk)).get().sign_in_locked_until

    desk = Client()
    desk.force_login(officer)
    listed = desk.get(USERS, {"sign_in": "locked"}).content.decode()
    assert "erin" in listed and "Locked until" in listed
    done = desk.post(USERS, {"action": "unlock_sign_in", "_selected_action": [erin.pk]}, follow=True)
    assert "Unlocked sign-in for erin" in done.content.decode()
    assert not AccessAttempt.objects.filter(username="erin").exists()

    signed_in = _sign_in(client, "erin", PASSWORD)
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert _signed_in(client)


def test_it_offers_no_unlocking_to_those_who_may_not_change_users(erin, engineer, auditor):
    _fail(Client(), "erin", 10)
    for person in (engineer, auditor):
        client = Client()
        client.force_login(person)
        refused = client.post(USERS, {"action": "unlock_sign_in", "_selected_action": [erin.pk]})
        assert refused.status_code in (200, 302, 403)
        assert AccessAttempt.objects.filter(username="erin").exists(), person.username
    with pytest.raises(sign_in.NotAllowed):
        sign_in.unlock(actor=engineer, user=erin)


def test_it_locks_the_username_only_from_the_address_that_failed(erin):
    _fail(Client(), "erin", 10, REMOTE_ADDR="203.0.113.5")
    _assert_locked_page(_sign_in(Client(), "erin", PASSWORD, REMOTE_ADDR="203.0.113.5"))
    # The attacker's address cannot lock the real user out from elsewhere.
    elsewhere = Client()
    assert _sign_in(elsewhere, "erin", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302
    assert _signed_in(elsewhere)


def test_failures_against_other_usernames_lock_only_those(erin):
    client = Client()
    for name in ("olivia", "pavel", "hana"):
        _fail(client, name, 10)
    assert _sign_in(client, "erin", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(erin):
    client = Client()
    _fail(client, "erin", 10)
    AccessAttempt.objects.filter(username="erin").update(
        attempt_time=AccessAttempt.objects.get(username="erin").attempt_time - sign_in.cool_off()
    )
    assert _sign_in(client, "erin", PASSWORD).status_code == 302


def test_the_reset_command_unlocks_a_username(erin):
    client = Client()
    _fail(client, "erin", 10)
    call_command("axes_reset_username", "erin")
    assert _sign_in(client, "erin", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_failures_before_it(erin):
    client = Client()
    _fail(client, "erin", 9)
    assert _sign_in(client, "erin", PASSWORD).status_code == 302
    again = Client()
    assert [r.status_code for r in _fail(again, "erin", 9)] == [200] * 9


def test_api_tokens_of_a_locked_account_keep_working(erin, api_as):
    _fail(Client(), "erin", 10)
    assert api_as(erin).get("/api/v1/ai-systems/").status_code == 200


def test_it_locks_by_the_proxy_header_address_when_configured(settings, erin):
    settings.VERITY_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    _fail(Client(), "erin", 10, HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)
    assert AccessAttempt.objects.get(username="erin").ip_address == "203.0.113.5"
    _assert_locked_page(_sign_in(Client(), "erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy))
    assert (
        _sign_in(Client(), "erin", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 302
    )
