"""One JSON shape for every API error.

``{"status": 400, "code": "invalid", "detail": "…", "errors": {"field": ["message"]}}``;
``errors`` appears on validation errors only. Django ``ValidationError``s from services and
domain errors (``Conflict``, ``NotAllowed``) are translated here, so views stay thin. A database
outage is a 503 with ``Retry-After``, here for DRF views and in
``governance.middleware.ErrorResponseMiddleware`` for everything else.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from governance.api import throttling
from governance.exceptions import Conflict, NotAllowed, Unavailable

logger = logging.getLogger(__name__)

# The database is unreachable, went away mid-request or gave up on a statement (a deadlock, a
# cancelled query): nothing the client sent is wrong, and the same request may succeed later.
OUTAGE_ERRORS = (OperationalError, InterfaceError)
OUTAGE_DETAIL = "The service is temporarily unavailable; retry after the time in Retry-After."


def error_body(status: int, code: str, detail: str, errors: dict | None = None) -> dict:
    """The one error shape; ``errors`` (field → messages) only on validation errors."""
    body = {"status": status, "code": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def error_response(status: int, code: str, detail: str, headers: dict | None = None) -> JsonResponse:
    """The error shape as a plain Django response, for answers outside DRF views."""
    return JsonResponse(error_body(status, code, detail), status=status, headers=headers)


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def outage_headers() -> dict:
    return {"Retry-After": str(settings.VERITY_OUTAGE_RETRY_AFTER_SECONDS)}


def _as_field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _as_list(value) for key, value in detail.items()}
    return {"non_field_errors": _as_list(detail)}


def _as_list(value):
    if isinstance(value, dict):
        return {k: _as_list(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_list(v) if isinstance(v, dict | list) else str(v) for v in value]
    return [str(value)]


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied | NotAllowed):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Conflict):
        set_rollback()
        return Response(error_body(409, "conflict", exc.message), status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, Unavailable):
        set_rollback()
        headers = {"Retry-After": str(exc.retry_after)}
        return Response(error_body(503, exc.code, exc.message), status=503, headers=headers)
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        exc = exceptions.UnsupportedMediaType(_sent_type(context), detail=_media_type_detail(context))
    elif isinstance(exc, IntegrityError):
        # A race the validation could not see (two creates of one slug at once).
        set_rollback()
        return Response(
            error_body(409, "conflict", "The request conflicts with a concurrent change; retry."),
            status=status.HTTP_409_CONFLICT,
        )
    elif is_outage(exc):
        logger.warning("Database unavailable, answering 503: %s", exc)
        set_rollback()
        return Response(
            error_body(503, "service_unavailable", OUTAGE_DETAIL), status=503, headers=outage_headers()
        )
    if not isinstance(exc, exceptions.APIException):
        return None

    if exc.status_code == status.HTTP_401_UNAUTHORIZED and context.get("request") is not None:
        throttling.record_failed_authentication(context["request"])
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(exc.status_code, _code(exc), "Invalid input.", _as_field_errors(exc.detail))
    else:
        body = error_body(exc.status_code, _code(exc), str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def _sent_type(context) -> str:
    request = context.get("request")
    return (request.content_type or "").split(";")[0].strip() if request is not None else ""


def _media_type_detail(context) -> str:
    """Says what was sent and what to send instead: JSON, or a multipart upload where the view
    also takes one (evidence files, per-sample results)."""
    sent = _sent_type(context)
    said = f'The body was sent as "{sent}"' if sent else "The request has no Content-Type header"
    view = context.get("view")
    accepted = {parser.media_type for parser in view.get_parsers()} if view is not None else set()
    if "multipart/form-data" in accepted:
        return (
            f'{said}; send JSON with "Content-Type: application/json", '
            "or upload the file as multipart/form-data."
        )
    return f'{said}; send it as JSON with the header "Content-Type: application/json".'


def _code(exc) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code
