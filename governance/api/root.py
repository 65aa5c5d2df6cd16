"""``GET /api/v1/``: every endpoint of the API, read from the URL configuration itself.

The list is whatever the routers and URL modules register under ``/api/v1/``, so an endpoint
added anywhere appears here without being written down twice. Only addresses without
parameters are listed (a collection, not its items); the keys are those addresses relative to
``/api/v1/``, the values absolute URLs.
"""

from __future__ import annotations

import functools

from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf
from django.urls.resolvers import RegexPattern, RoutePattern
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from governance.api import base

API_PREFIX = "api/v1/"


def _route_text(pattern) -> str | None:
    """The literal text a pattern matches, or None when it takes parameters."""
    if isinstance(pattern, RoutePattern):
        return None if pattern.converters else str(pattern)
    if isinstance(pattern, RegexPattern):
        if pattern.regex.groups:
            return None
        text = str(pattern).removeprefix("^").removesuffix("$")
        return None if any(char in text for char in "\\.*+?[](){}|") else text
    return None


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        text = _route_text(entry.pattern)
        if text is None:
            continue
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + text)
        else:
            yield prefix + text


@functools.lru_cache(maxsize=8)
def _endpoints(resolver) -> tuple[str, ...]:
    found = {route for route in _walk(resolver.url_patterns) if route.startswith(API_PREFIX)}
    found.discard(API_PREFIX)
    return tuple(found)


def api_endpoints() -> dict[str, str]:
    """Each parameterless address under ``/api/v1/``, keyed by its path without the prefix and
    the trailing slash, e.g. ``{"incidents": "api/v1/incidents/", "soa/export": …}``."""
    routes = _endpoints(get_resolver(get_urlconf()))
    return dict(sorted((route.removeprefix(API_PREFIX).rstrip("/"), route) for route in routes))


class ApiRootView(base.APIView):
    """The API's index. Public, like the schema: it lists addresses, not data."""

    permission_classes = [AllowAny]

    @extend_schema(
        summary="Every endpoint of the API",
        description=(
            "Each collection and computed endpoint under /api/v1/ (not single items), keyed by its "
            "path relative to /api/v1/, with its absolute URL. No token needed."
        ),
        responses={200: {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}},
    )
    def get(self, request):
        prefix = get_script_prefix()
        return Response(
            {name: request.build_absolute_uri(prefix + route) for name, route in api_endpoints().items()}
        )
