"""API rate limits: per token, per address for anonymous requests and for failed authentication,
answered 429 in the one error shape with Retry-After; counted in a cache every web process shares."""

import urllib.error
import urllib.request

import pytest
from rest_framework.test import APIClient

from governance.choices import TokenScope
from governance.services import tokens
from tests.conftest import REDIS_URL

SYSTEMS = "/api/v1/ai-systems/"


def _rates(settings, **rates):
    settings.VERITY_API_RATES = {**settings.VERITY_API_RATES, **rates}


def _assert_throttled(response):
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["status"] == 429 and body["code"] == "throttled", body
    assert body["detail"].startswith("Request was throttled") or "failed authentications" in body["detail"]
    return body


def test_it_refuses_the_11th_request_of_a_token_over_a_rate_of_10_a_minute(settings, api_as, officer):
    _rates(settings, token="10/min")
    client = api_as(officer)
    statuses = [client.get(SYSTEMS).status_code for _ in range(10)]
    assert statuses == [200] * 10
    body = _assert_throttled(client.get(SYSTEMS))
    assert "Expected available in" in body["detail"]
    assert int(client.get(SYSTEMS)["Retry-After"]) <= 60


def test_it_counts_each_token_on_its_own(settings, api_as, officer):
    _rates(settings, token="3/min")
    first, second = api_as(officer), api_as(officer)
    assert [first.get(SYSTEMS).status_code for _ in range(3)] == [200] * 3
    _assert_throttled(first.get(SYSTEMS))
    assert [second.get(SYSTEMS).status_code for _ in range(3)] == [200] * 3
    _assert_throttled(second.get(SYSTEMS))


def test_it_limits_anonymous_requests_per_address(settings, db):
    _rates(settings, anonymous="3/min")
    client = APIClient()
    assert [client.get("/api/v1/", REMOTE_ADDR="203.0.113.7").status_code for _ in range(3)] == [200] * 3
    _assert_throttled(client.get("/api/v1/", REMOTE_ADDR="203.0.113.7"))
    assert client.get("/api/v1/", REMOTE_ADDR="203.0.113.8").status_code == 200


def test_it_refuses_an_address_that_keeps_sending_bad_tokens(settings, api_as, officer):
    _rates(settings, **{"failed-authentication": "10/min"})
    guesser = APIClient(REMOTE_ADDR="203.0.113.9")
    answers = [guesser.get(SYSTEMS, HTTP_AUTHORIZATION=f"Bearer vrt_g{n}_x").status_code for n in range(30)]
    assert answers[:10] == [401] * 10
    assert answers[10:] == [429] * 20
    _assert_throttled(guesser.get(SYSTEMS, HTTP_AUTHORIZATION="Bearer vrt_guess_again"))
    # Even a valid token is refused from that address until the window passes; elsewhere it works.
    valid = api_as(officer)
    _assert_throttled(valid.get(SYSTEMS, REMOTE_ADDR="203.0.113.9"))
    assert valid.get(SYSTEMS, REMOTE_ADDR="203.0.113.10").status_code == 200


def test_it_counts_requests_without_credentials_as_failed_authentication(settings, db):
    _rates(settings, **{"failed-authentication": "5/min"})
    client = APIClient(REMOTE_ADDR="203.0.113.11")
    assert [client.get(SYSTEMS).status_code for _ in range(5)] == [401] * 5
    _assert_throttled(client.get(SYSTEMS))


def test_it_reads_the_client_address_from_the_proxy_header_only_when_configured(settings, db):
    _rates(settings, anonymous="2/min")

    def from_client(address):
        # Every request reaches Django from the proxy's address.
        return APIClient().get("/api/v1/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=address).status_code

    # Not configured: the header is the client's own claim and is ignored, so all count as one.
    assert [from_client(f"198.51.100.{n}") for n in range(3)] == [200, 200, 429]

    settings.VERITY_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    assert [from_client("198.51.100.20") for _ in range(3)] == [200, 200, 429]
    assert from_client("198.51.100.21") == 200
    # The right-most entry is the one the proxy added; what the client put before it is not trusted.
    assert from_client("198.51.100.20, 198.51.100.22") == 200
    assert from_client("198.51.100.23, 198.51.100.20") == 429


@pytest.fixture(params=["database cache (the default)", "Redis"])
def gunicorn_env(request):
    cache_url = REDIS_URL if request.param == "Redis" else "dbcache://verity_cache"
    return {"VERITY_API_RATE_TOKEN": "10/min", "CACHE_URL": cache_url}


def _get(base_url, secret):
    request = urllib.request.Request(base_url + SYSTEMS, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_it_holds_a_token_to_its_rate_across_every_gunicorn_worker(gunicorn, officer):
    secret = tokens.issue_token(actor=None, user=officer, name="ci", scope=TokenScope.READ).secret
    answers = [_get(gunicorn, secret) for _ in range(24)]
    # Four processes with counts of their own would let up to 40 through.
    assert [status for status, _ in answers] == [200] * 10 + [429] * 14
    assert all(int(headers["Retry-After"]) >= 1 for _, headers in answers[10:])


def test_it_lets_requests_through_and_warns_when_the_cache_is_unreachable(settings, api_as, officer, caplog):
    """The counters fail open: a cache outage must not take the API down with it."""
    from bench.server import free_port

    _rates(settings, token="1/min", **{"failed-authentication": "1/min"})
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    client = api_as(officer)
    assert [client.get(SYSTEMS).status_code for _ in range(3)] == [200] * 3
    guesser = APIClient()
    assert [guesser.get(SYSTEMS, HTTP_AUTHORIZATION="Bearer vrt_g_x").status_code for _ in range(3)] == [
        401
    ] * 3
    assert "the cache is unreachable" in caplog.text
