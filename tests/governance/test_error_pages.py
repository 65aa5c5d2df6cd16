"""The site's root, its error pages and what a refused request logs.

The suite runs in development mode, but pytest-django turns DEBUG off for every test, as production
always has it: Django then calls the site's handlers.
"""

import logging

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from django.urls import path

from config import urls as site_urls

pytestmark = pytest.mark.urls(__name__)


def _boom(request):
    raise RuntimeError("a bug")


def _database_gone(request):
    raise OperationalError('connection to server at "10.0.0.5", port 5432 failed: Connection refused')


class _ConnectionLostMiddleware:
    """Fails the way a middleware reading the session or user does when the database went away."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise InterfaceError("connection already closed")


# The site's URLconf and handlers, plus views that fail, under /api/ and elsewhere.
urlpatterns = [
    *site_urls.urlpatterns,
    path("api/v1/boom/", _boom),
    path("boom/", _boom),
    path("api/v1/database-gone/", _database_gone),
    path("database-gone/", _database_gone),
]
handler403, handler404, handler500 = site_urls.handler403, site_urls.handler404, site_urls.handler500


def _assert_admin_look(html: str):
    assert "admin/css/base.css" in html
    assert "Verity governance register" in html  # the admin's header


def test_it_sends_the_site_root_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_it_answers_an_unknown_page_in_the_admin_look_without_listing_url_patterns(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    _assert_admin_look(html)
    assert "There is no page at <code>/no-such-page/</code>" in html
    assert "URL patterns" not in html and "api/schema/" not in html  # Django's debug page lists them


def test_it_answers_an_unknown_api_address_in_json(client):
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": 404,
        "code": "not_found",
        "detail": "No endpoint at this address; GET /api/v1/ lists them.",
    }


def test_it_answers_a_server_error_in_the_admin_look_with_the_request_id():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", HTTP_X_REQUEST_ID="req-123")
    assert response.status_code == 500
    html = response.content.decode()
    _assert_admin_look(html)
    assert "The error has been logged" in html
    assert "<code>req-123</code>" in html
    assert "a bug" not in html and "Traceback" not in html


def test_it_answers_a_server_error_under_the_api_in_json():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom/", HTTP_X_REQUEST_ID="req-456")
    assert response.status_code == 500
    assert response.json() == {
        "status": 500,
        "code": "server_error",
        "detail": "Server error; it has been logged. Quote request id req-456 when you report it.",
    }


def test_it_answers_a_refused_admin_page_in_the_admin_look(client, auditor):
    client.force_login(auditor)
    response = client.get("/admin/governance/aisystem/add/")  # auditors only read
    assert response.status_code == 403
    html = response.content.decode()
    _assert_admin_look(html)
    assert "Your role does not allow this page or action." in html
    assert 'id="user-tools"' in html  # still signed in: the header keeps the user's links


def test_it_logs_a_refused_request_as_one_warning_without_a_traceback(client, auditor, caplog):
    client.force_login(auditor)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/admin/governance/aisystem/add/")
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Forbidden (Permission denied): /admin/governance/aisystem/add/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_it_still_logs_a_server_error_with_its_traceback(caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        client.get("/boom/")
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback" in caplog.text


def _assert_api_outage(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "status": 503,
        "code": "service_unavailable",
        "detail": "The service is temporarily unavailable; retry after the time in Retry-After.",
    }
    assert "10.0.0.5" not in response.content.decode()


@pytest.mark.parametrize("debug", [False, True])
def test_it_answers_a_database_outage_under_the_api_with_503_and_retry_after(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/v1/database-gone/", HTTP_X_REQUEST_ID="r-1")
    _assert_api_outage(response)
    assert response["X-Request-ID"] == "r-1"


@pytest.mark.parametrize("debug", [False, True])
def test_it_answers_a_database_outage_in_a_middleware_with_503(settings, debug):
    settings.DEBUG = debug
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._ConnectionLostMiddleware"]
    client = Client(raise_request_exception=False)
    _assert_api_outage(client.get("/healthz"))
    _assert_api_outage(client.get("/api/v1/"))
    page = client.get("/admin/")
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert "temporarily unavailable" in page.content.decode()


@pytest.mark.parametrize("debug", [False, True])
def test_it_answers_a_database_outage_on_a_page_with_a_503_page(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/database-gone/", HTTP_X_REQUEST_ID="r-2")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    _assert_admin_look(html)
    assert "The register is temporarily unavailable" in html and "<code>r-2</code>" in html
    assert "10.0.0.5" not in html and "Traceback" not in html


def test_it_answers_api_errors_in_json_with_debug_on_too(settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    missing = client.get("/api/v1/no-such-endpoint/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    failed = client.get("/api/v1/boom/", HTTP_X_REQUEST_ID="req-789")
    assert failed.status_code == 500
    assert failed.json() == {
        "status": 500,
        "code": "server_error",
        "detail": "Server error; it has been logged. Quote request id req-789 when you report it.",
    }
    assert "a bug" not in failed.content.decode()


def test_it_keeps_debug_pages_for_html_paths_in_development(settings):
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert "RuntimeError" in response.content.decode()  # Django's diagnostic page


def test_it_answers_an_unsupported_method_under_the_api_in_json(api_as, officer):
    response = api_as(officer).delete("/api/v1/")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {
        "status": 405,
        "code": "method_not_allowed",
        "detail": 'Method "DELETE" not allowed.',
    }
