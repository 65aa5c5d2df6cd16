"""A signed-in session ends after VERITY_SESSION_IDLE_MINUTES without a request, and
VERITY_SESSION_MAX_HOURS after sign-in however active it is."""

import datetime

from django.contrib.sessions.models import Session
from django.utils import timezone

from governance.middleware import SIGNED_IN_AT
from tests.browser import PASSWORD


def _session(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def _signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_it_keeps_a_session_for_thirty_idle_minutes_by_default(client, officer, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.VERITY_SESSION_MAX_SECONDS == 12 * 3600
    client.force_login(officer)
    response = client.get("/admin/")
    assert response.cookies["sessionid"]["max-age"] == 30 * 60
    expires_in = _session(client).expire_date - timezone.now()
    assert datetime.timedelta(minutes=29) < expires_in <= datetime.timedelta(minutes=30)


def test_it_renews_the_idle_timeout_with_every_request(client, officer):
    client.force_login(officer)
    Session.objects.filter(pk=_session(client).pk).update(
        expire_date=timezone.now() + datetime.timedelta(minutes=1)
    )
    assert _signed_in(client)
    assert _session(client).expire_date - timezone.now() > datetime.timedelta(minutes=29)


def test_it_signs_out_a_session_that_sat_idle_past_the_timeout(client, officer):
    client.force_login(officer)
    Session.objects.filter(pk=_session(client).pk).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get("/api/v1/ai-systems/").status_code in (401, 403)


def test_it_stamps_the_sign_in_time_on_the_session(client, officer):
    before = timezone.now().timestamp()
    response = client.post("/admin/login/", {"username": officer.username, "password": PASSWORD})
    assert response.status_code == 302  # signed in through the real sign-in page (axes watches it)
    assert before <= client.session[SIGNED_IN_AT] <= timezone.now().timestamp()


def _signed_in_hours_ago(client, hours: float) -> None:
    session = client.session
    session[SIGNED_IN_AT] = (timezone.now() - datetime.timedelta(hours=hours)).timestamp()
    session.save()


def test_it_keeps_an_active_session_until_the_absolute_limit(client, officer):
    client.force_login(officer)
    _signed_in_hours_ago(client, 11.9)
    assert _signed_in(client)


def test_it_signs_out_an_active_session_at_the_absolute_limit(client, officer):
    client.force_login(officer)
    _signed_in_hours_ago(client, 12.1)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get("/api/v1/ai-systems/").status_code in (401, 403)


def test_it_limits_a_session_from_before_the_stamp_from_its_next_request(client, officer):
    client.force_login(officer)
    session = client.session
    del session[SIGNED_IN_AT]
    session.save()
    assert _signed_in(client)
    assert isinstance(client.session[SIGNED_IN_AT], float)


def test_it_takes_both_limits_from_the_environment(tmp_path):
    from tests.governance.test_roles_and_settings import BARE, PRODUCTION, _settings

    configured = _settings(
        {**BARE, **PRODUCTION, "VERITY_SESSION_IDLE_MINUTES": "15", "VERITY_SESSION_MAX_HOURS": "8"},
        "SESSION_COOKIE_AGE",
        "SESSION_SAVE_EVERY_REQUEST",
        "VERITY_SESSION_MAX_SECONDS",
    )
    assert configured == {
        "SESSION_COOKIE_AGE": 15 * 60,
        "SESSION_SAVE_EVERY_REQUEST": True,
        "VERITY_SESSION_MAX_SECONDS": 8 * 3600,
    }
