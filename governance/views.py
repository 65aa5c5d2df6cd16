"""Plain Django views: the health probe, the error pages and the locked sign-in page.

Errors under ``/api/`` and of ``/healthz`` answer JSON in the API's error shape
(``{"status", "code", "detail"}``); every other path gets a page in the admin's look. Django calls
the handlers only with ``DEBUG`` off (always in production; in development with
``DJANGO_DEBUG=false``); with it on, it shows its own diagnostic pages, which
``governance.middleware.ErrorResponseMiddleware`` replaces with JSON under the API. A database
outage is a 503 (``outage``) on every path, whatever ``DEBUG`` says.
"""

import math

from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from governance.api.errors import OUTAGE_DETAIL, error_response, outage_headers

# Paths whose clients are programs: every error of theirs is JSON.
JSON_PREFIXES = ("/api/", "/healthz")


def healthz(request):
    """Liveness and database reachability, for load balancers and `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(JSON_PREFIXES)


def _admin_look(**context) -> dict:
    """What the admin's base template needs for its header; no database read."""
    return {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "is_nav_sidebar_enabled": False,
        **context,
    }


def _page(request: HttpRequest, template: str, status: int, **context) -> HttpResponse:
    """An error page extending the admin's base template, with the user tools when signed in."""
    signed_in = hasattr(request, "user") and admin.site.has_permission(request)
    context = _admin_look(has_permission=signed_in, **context)
    return HttpResponse(loader.render_to_string(template, context, request=request), status=status)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return error_response(404, "not_found", "No endpoint at this address; GET /api/v1/ lists them.")
    return _page(request, "404.html", 404, title="Page not found", request_path=request.path)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return error_response(403, "permission_denied", str(exception) or "You may not do this.")
    return _page(request, "403.html", 403, title="Not allowed", reason=str(exception))


def server_error(request: HttpRequest) -> HttpResponse:
    """The page of an unhandled error. It reads nothing from the database (which may be what
    failed) and runs no context processors."""
    if is_api(request):
        return api_server_error(request)
    context = _admin_look(title="Server error", request_id=getattr(request, "request_id", ""))
    return HttpResponse(loader.render_to_string("500.html", context), status=500)


def api_server_error(request: HttpRequest) -> JsonResponse:
    """A 500 that names the request id to quote and nothing of what failed."""
    request_id = getattr(request, "request_id", "")
    detail = "Server error; it has been logged."
    if request_id:
        detail += f" Quote request id {request_id} when you report it."
    return error_response(500, "server_error", detail)


def outage(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After`` while the database is unreachable; like ``server_error`` it
    reads nothing from the database."""
    if is_api(request):
        return error_response(503, "service_unavailable", OUTAGE_DETAIL, headers=outage_headers())
    context = _admin_look(title="Temporarily unavailable", request_id=getattr(request, "request_id", ""))
    return HttpResponse(loader.render_to_string("503.html", context), status=503, headers=outage_headers())


def sign_in_locked(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The answer to a sign-in while django-axes holds the account locked (``AXES_LOCKOUT_CALLABLE``):
    429 with ``Retry-After``, saying how long to wait and whom to ask. The refused attempt itself
    starts the cool-off again, so the wait is the whole cool-off."""
    from governance.services.sign_in import cool_off

    seconds = int(cool_off().total_seconds())
    response = _page(
        request,
        "sign_in_locked.html",
        429,
        title="Sign-in temporarily locked",
        username=(credentials or {}).get("username") or "",
        failure_limit=settings.AXES_FAILURE_LIMIT,
        minutes=math.ceil(seconds / 60),
    )
    response["Retry-After"] = str(seconds)
    return response
