"""The site's root, its error pages and what a refused request logs.

The suite runs in development mode, but pytest-django turns DEBUG off for every test, as production
always has it: Django then calls the site's handlers.
"""

import logging

import pytest
from django.test import Client
from django.urls import path

from config import urls as site_urls

pytestmark = pytest.mark.urls(__name__)


def _boom(request):
    raise RuntimeError("a bug")


# The site's URLconf and handlers, plus views that fail, under /api/ and elsewhere.
urlpatterns = [*site_urls.urlpatterns, path("api/v1/boom/", _boom), path("boom/", _boom)]
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
