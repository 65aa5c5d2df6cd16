"""API rate limits: per token, per address for anonymous requests, and per address for failed
authentication.

The rates are ``settings.VERITY_API_RATES`` (from the environment, docs/deployment.md), read on
each request; the counts live in the default cache, which every web process shares. A refusal is
DRF's ``Throttled``, which ``governance.api.errors`` answers 429 in the one error shape with
``Retry-After``.

DRF checks throttles after permissions, so an anonymous request to an endpoint that needs a token
is refused 401 before any throttle runs. Failed authentication therefore has its own counter:
``governance.api.errors`` notes every 401 here, and the API's view bases
(``RefuseFailingAddressesMixin``) refuse every request from an address that is over its budget,
before they authenticate it.

The limits fail open: when the cache server cannot be reached, a request is let through and a
warning logged, so an outage of the counters does not take the API down with it (a database
outage still answers 503, governance.middleware).
"""

import functools
import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from governance.client_address import client_address
from governance.models import ApiToken

logger = logging.getLogger(__name__)


def _fail_open(method):
    """Run a throttle step; if the cache cannot be reached, log it and let the request through."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RedisError as error:
            logger.warning("Rate limit %r not applied: the cache is unreachable (%s)", self.scope, error)
            return True

    return guarded


class _RateThrottle(SimpleRateThrottle):
    allow_request = _fail_open(SimpleRateThrottle.allow_request)

    def get_rate(self):
        return settings.VERITY_API_RATES[self.scope]

    def get_ident(self, request):
        return client_address(request)


class TokenRateThrottle(_RateThrottle):
    """Authenticated requests, counted per API token (per user for a browser session)."""

    scope = "token"

    def get_cache_key(self, request, view):
        if not request.user.is_authenticated:
            return None
        auth = request.auth
        ident = f"token-{auth.pk}" if isinstance(auth, ApiToken) else f"user-{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(_RateThrottle):
    """Anonymous requests to the endpoints that take them (the API root), counted per address."""

    scope = "anonymous"

    def get_cache_key(self, request, view):
        if request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FailedAuthenticationThrottle(_RateThrottle):
    """401s per address: checked before authentication, counted after a failure."""

    scope = "failed-authentication"

    def _load(self, request) -> None:
        self.key = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    @_fail_open
    def refuse_if_over(self, request) -> None:
        self._load(request)
        if len(self.history) >= self.num_requests:
            # Under the limit again when the oldest failure that still counts leaves the window.
            wait = self.history[self.num_requests - 1] + self.duration - self.now
            raise Throttled(wait=wait, detail="Too many failed authentications from this address.")

    @_fail_open
    def record_failure(self, request) -> None:
        self._load(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


def refuse_if_failing(request) -> None:
    """Raise ``Throttled`` if the request's address has failed authentication too often lately."""
    FailedAuthenticationThrottle().refuse_if_over(request)


class RefuseFailingAddressesMixin:
    """For the API's view bases: an address over its failed-authentication budget is answered 429
    before its credentials are looked at, a valid token included."""

    def initial(self, request, *args, **kwargs):
        refuse_if_failing(request)
        super().initial(request, *args, **kwargs)


def record_failed_authentication(request) -> None:
    """Count a 401 against the request's address."""
    FailedAuthenticationThrottle().record_failure(request)
