"""The OpenAPI schema's error responses: one ``Error`` component, and per operation the statuses
it can answer, derived from what the view is (its method, whether it names an item, whether it
takes a token, its parsers, throttles and idempotency) rather than listed view by view.

The statuses mirror where each error comes from: ``governance.api.errors`` (the shape, 400, 404,
409, 503), the permission and authentication classes (401, 403), ``RequestBodyLimitMiddleware``
(411, 413), the parsers (415), ``governance.api.idempotency`` (409, 422) and the throttles (429).
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny
from rest_framework.viewsets import ViewSetMixin

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API: the status again, a stable code and a message for people.",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status of the response.", "example": 400},
        "code": {
            "type": "string",
            "description": "What went wrong, for programs: `invalid`, `not_found`, `conflict`, …",
            "example": "invalid",
        },
        "detail": {
            "type": "string",
            "description": "What went wrong, for people.",
            "example": "Invalid input.",
        },
        "errors": {
            "type": "object",
            "description": (
                "On validation errors (400) only: the messages of each field that was refused "
                "(`non_field_errors` for the request as a whole); a nested field's messages nest."
            ),
            "additionalProperties": {
                "anyOf": [
                    {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "object"}, {"type": "array"}]},
                    },
                    {"type": "object"},
                ]
            },
            "example": {"severity": ['"SEV9" is not a valid choice.']},
        },
    },
    "required": ["status", "code", "detail"],
}
ERROR_COMPONENT = ResolvedComponent(
    name="Error", type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object="Error"
)

_RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
}
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_WRITE_METHODS = _BODY_METHODS | {"DELETE"}

# status → (description, response headers)
_ERRORS = {
    400: ("Invalid input: the field messages are in `errors`, or a query parameter is unknown.", {}),
    401: ("No token, or the token is unknown, revoked or expired.", {}),
    403: ("The token's role, scope or team does not allow this.", {}),
    404: (
        "No such item (or one the request names), it is not visible to the token's teams, "
        "or the cursor is not one this list issued.",
        {},
    ),
    409: (
        "The write conflicts with the current state, or the Idempotency-Key is still in use.",
        _RETRY_AFTER,
    ),
    411: ("A chunked body without Content-Length.", {}),
    413: ("The body is larger than the limit.", {}),
    415: ("The body is not JSON (or, where the endpoint takes one, a multipart upload).", {}),
    422: ("The Idempotency-Key was first used for another request.", {}),
    429: ("Too many requests; retry after Retry-After seconds.", _RETRY_AFTER),
    503: ("The database is unavailable; retry after Retry-After seconds.", _RETRY_AFTER),
}


def error_statuses(view, method: str, path: str, *, paginated: bool) -> list[int]:
    """The error statuses an operation can answer with."""
    # Imported here: DRF imports this module while the view modules are still loading.
    from governance.api.idempotency import IdempotentPostMixin

    public = all(isinstance(permission, AllowAny) for permission in view.get_permissions())
    statuses = {400, 503}
    if not public:
        statuses |= {401, 403}
    # An item route, or a computed endpoint that names what it reads in its query (a framework,
    # a system): either can name something that is not there or not visible.
    # A list pages with signed cursors: one the server did not issue is a 404.
    if "{" in path or not isinstance(view, ViewSetMixin) or paginated:
        statuses.add(404)
    if method in _WRITE_METHODS:
        statuses.add(409)
    if method in _BODY_METHODS:
        statuses |= {411, 413, 415}
    if method == "POST" and isinstance(view, IdempotentPostMixin):
        statuses.add(422)
    if view.get_throttles():
        statuses.add(429)
    return sorted(statuses)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema plus the error responses of each operation."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        registry.register_on_missing(ERROR_COMPONENT)
        content = {"application/json": {"schema": ERROR_COMPONENT.ref}}
        responses = operation.setdefault("responses", {})
        paginated = self._is_list_view() and self._get_paginator() is not None
        for status in error_statuses(self.view, method, path, paginated=paginated):
            description, headers = _ERRORS[status]
            response = {"description": description, "content": content}
            if headers:
                response["headers"] = headers
            responses.setdefault(str(status), response)
        return operation
