"""Plain Django views: the health probe, the error pages and the locked sign-in page.

Errors under ``/api/`` answer JSON in the API's error shape (``{"status", "code", "detail"}``);
every other path gets a page in the admin's look. Django calls these only with ``DEBUG`` off (always in
production; in development with ``DJANGO_DEBUG=false``); with it on, it shows its own diagnostic pages.
"""

import math

from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

API_PREFIX = "/api/"


def healthz(request):
    """Liveness and database reachability, for load balancers and `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _api_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"status": status, "code": code, "detail": detail}, status=status)


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
    if _is_api(request):
        return _api_error(404, "not_found", "No endpoint at this address; GET /api/v1/ lists them.")
    return _page(request, "404.html", 404, title="Page not found", request_path=request.path)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error(403, "permission_denied", str(exception) or "You may not do this.")
    return _page(request, "403.html", 403, title="Not allowed", reason=str(exception))


def server_error(request: HttpRequest) -> HttpResponse:
    """The page of an unhandled error. It reads nothing from the database (which may be what
    failed) and runs no context processors."""
    if _is_api(request):
        request_id = getattr(request, "request_id", "")
        detail = "Server error; it has been logged."
        if request_id:
            detail += f" Quote request id {request_id} when you report it."
        return _api_error(500, "server_error", detail)
    context = _admin_look(title="Server error", request_id=getattr(request, "request_id", ""))
    return HttpResponse(loader.render_to_string("500.html", context), status=500)


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
