"""``Idempotency-Key`` on POST, for any DRF view: the HTTP side of ``governance.services.idempotency``.

With the header, a POST runs at most once per client and key:

- same key, same request → the first response again, byte for byte, with ``Idempotent-Replayed: true``
  (client errors included: a retry of an invalid request is just as invalid);
- same key, different body, method or path → 422;
- same key while the first request still runs → 409 with ``Retry-After``;
- a malformed key → 400.

The key is claimed after authentication, permission and throttle checks (a refused request
uses up no key), and the view then runs in one transaction with the stored response, so the
write and its replay commit together. A response that is not replayed (5xx, 409, 429) or an
exception rolls that transaction back and frees the key for a retry. Without the header
nothing changes.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.http import HttpResponse, RawPostDataException
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException

from governance.models import ApiToken
from governance.services import idempotency

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes the POST safe to retry: a repeat with the same key and body within 24 hours gets "
        "the first response again (with `Idempotent-Replayed: true`) instead of writing twice. "
        "1–255 printable ASCII characters, e.g. a UUID; keys are per API token. The same key with "
        "another body answers 422; while the first request still runs, 409 with `Retry-After`."
    ),
)


class InvalidIdempotencyKey(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_idempotency_key"
    default_detail = "Idempotency-Key must be 1 to 255 printable ASCII characters."


class IdempotencyKeyInFlight(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_flight"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."

    def __init__(self, retry_after: int):
        super().__init__()
        self.wait = retry_after  # the error handler turns it into Retry-After


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used for a different request."


class _Replay(Exception):
    """Raised from ``initial()`` to answer with a stored response instead of running the view."""

    def __init__(self, response: HttpResponse):
        super().__init__("replay")
        self.response = response


def client_of(request) -> str | None:
    """Whose key it is: the API token when there is one, else the (session) user.

    None for an anonymous caller: anonymous requests share no identity to keep keys apart by,
    so their keys are ignored rather than letting one caller replay another's response.
    """
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    if request.user is not None and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None


def request_fingerprint(request) -> str:
    """SHA-256 of the request body in canonical form (see the service's fingerprint functions)."""
    if request.content_type.startswith("multipart/"):
        return _form_fingerprint(request)
    try:
        body = request.body
    except RawPostDataException:  # a form that something already parsed
        return _form_fingerprint(request)
    return idempotency.body_fingerprint(body, content_type=request.content_type)


def _form_fingerprint(request) -> str:
    fields = [(name, value) for name in request.POST for value in request.POST.getlist(name)]
    files = []
    for name in request.FILES:
        for upload in request.FILES.getlist(name):
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
            files.append((name, upload.name or "", upload.content_type or "", digest.hexdigest()))
    return idempotency.form_fingerprint(fields=fields, files=files)


def replayed_response(stored: idempotency.StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, headers=stored.headers)
    if "Content-Type" not in stored.headers:
        del response["Content-Type"]  # HttpResponse adds text/html; the original had none
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotentPostMixin:
    """Honours ``Idempotency-Key`` on every POST a DRF view answers (``create`` and POST actions).

    Put it before the DRF base class: ``class MyViewSet(IdempotentPostMixin, ModelViewSet)``.
    The view must not stream its POST responses, and must not run under ``ATOMIC_REQUESTS``.
    """

    @extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def create(self, request, *args, **kwargs):
        # Only here to document the header on every create; no docstring, so the operation
        # keeps the view's description.
        return super().create(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raw_key = request.headers.get(HEADER)
        handler = getattr(self, "post", None)
        client = client_of(request) if request.method == "POST" else None
        if raw_key is None or handler is None or client is None:
            return
        try:
            key = idempotency.parse_key(raw_key)
        except idempotency.InvalidKey as exc:
            raise InvalidIdempotencyKey(str(exc)) from exc
        try:
            outcome = idempotency.begin(
                client=client,
                key=key,
                method=request.method,
                path=request.path,
                fingerprint=request_fingerprint(request),
            )
        except idempotency.KeyInFlight as exc:
            raise IdempotencyKeyInFlight(exc.retry_after) from exc
        except idempotency.KeyMismatch as exc:
            raise IdempotencyKeyReused(exc.message) from exc
        if isinstance(outcome, idempotency.StoredResponse):
            raise _Replay(replayed_response(outcome))
        # DRF looks the handler up after initial(): run it under the claim.
        self.post = functools.partial(self._run_claimed, outcome, handler)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def _run_claimed(self, claim: idempotency.Claim, handler, request, *args, **kwargs):
        """Run the view and store its response in one transaction; free the key if not stored.

        A view that raises has its writes rolled back with that transaction; its error response
        is then stored in a second one. (A savepoint around the view would spare that, but
        would cost every successful request two more round trips.)
        """
        try:
            try:
                with transaction.atomic():
                    self._hold(claim)
                    response = handler(request, *args, **kwargs)
                    response, stored = self._store(claim, request, response, *args, **kwargs)
            except IdempotencyKeyInFlight:
                raise
            except Exception as exc:
                response = self.handle_exception(exc)  # re-raises what it cannot answer
                with transaction.atomic():
                    self._hold(claim)
                    response, stored = self._store(claim, request, response, *args, **kwargs)
        except BaseException:
            _release(claim)
            raise
        if not stored:
            _release(claim)
        return response

    @staticmethod
    def _hold(claim: idempotency.Claim) -> None:
        try:
            idempotency.hold(claim)
        except idempotency.KeyInFlight as exc:
            raise IdempotencyKeyInFlight(exc.retry_after) from exc

    def _store(self, claim: idempotency.Claim, request, response, *args, **kwargs):
        """The rendered response and whether it was stored for replay (if not, roll back)."""
        response = self.finalize_response(request, response, *args, **kwargs)
        if getattr(response, "streaming", False):
            raise ImproperlyConfigured("An idempotent POST cannot stream its response.")
        if hasattr(response, "render"):
            response.render()
        stored = idempotency.complete(
            claim, status=response.status_code, headers=response.headers, body=response.content
        )
        if not stored:
            transaction.set_rollback(True)
        return response, stored


def _release(claim: idempotency.Claim) -> None:
    """Free the key; if the database is gone too, the claim goes stale and is taken over later."""
    try:
        idempotency.release(claim)
    except DatabaseError:
        logger.exception("Could not release idempotency record %s", claim.record_id)
