"""Request middleware: body size limit, control characters in URLs, and the change-history context."""

import re
import uuid

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, JsonResponse

from governance.change_context import pop_context, push_context

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestBodyLimitMiddleware:
    """Refuse oversized non-multipart bodies with 413 before anything reads them.

    Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only for form data; DRF's JSON parser reads the
    raw stream, so without this a client could post a body of any size.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.VERITY_MAX_JSON_BODY_BYTES
        content_type = request.META.get("CONTENT_TYPE", "")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not request.META.get("CONTENT_LENGTH"):
            # WSGI servers hand Django an empty body for chunked uploads; refusing beats
            # answering 200 to a write that silently did nothing.
            return JsonResponse(
                {"status": 411, "code": "length_required", "detail": "Send a Content-Length header."},
                status=411,
            )
        if length > limit and not content_type.startswith("multipart/"):
            return JsonResponse(
                {
                    "status": 413,
                    "code": "request_too_large",
                    "detail": f"Request body is {length} bytes; the limit is {limit} bytes.",
                },
                status=413,
            )
        return self.get_response(request)


# No route has a control character; PostgreSQL's text refuses NUL, which reached slug lookups.
_PATH_CONTROL = re.compile("[\x00-\x1f\x7f]")
# Query values may hold tab and line breaks (a search for pasted text); no other control character.
_QUERY_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
QUERY_CONTROL_MESSAGE = (
    "Control characters (U+0000 to U+001F but tab and line breaks, U+007F) are not allowed."
)


class ControlCharacterMiddleware:
    """A path with a control character (``/api/v1/teams/a%00b/``) names nothing: 404 before any
    view reads it. A query parameter with one is a 400 (in the API's error shape, naming the
    parameter, under ``/api/``). Both rules hold for every page and endpoint, so none of them may
    pass such text on to the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = request.path_info.startswith("/api/")
        if _PATH_CONTROL.search(request.path_info):
            if not api:
                raise Http404("No such page.")
            return JsonResponse(
                {
                    "status": 404,
                    "code": "not_found",
                    "detail": "Not found: the path holds a control character.",
                },
                status=404,
            )
        errors = {
            _PATH_CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", name): [QUERY_CONTROL_MESSAGE]
            for name, values in request.GET.lists()
            if any(_QUERY_CONTROL.search(text) for text in (name, *values))
        }
        if errors and not api:
            raise BadRequest(f"{', '.join(errors)}: {QUERY_CONTROL_MESSAGE}")  # the admin's search
        if errors:
            return JsonResponse(
                {"status": 400, "code": "invalid", "detail": "Invalid input.", "errors": errors}, status=400
            )
        return self.get_response(request)


class ChangeContextMiddleware:
    """Attribute every write in a request to its user, surface and request id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.META.get("HTTP_X_REQUEST_ID", "")
        if not _SAFE_REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        request.request_id = request_id
        path = request.path_info
        source = "admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "web"
        token = push_context(
            source=source,
            correlation_id=request_id,
            reason=request.META.get("HTTP_X_CHANGE_REASON", "")[:500],
            request=request,
        )
        try:
            response = self.get_response(request)
        finally:
            pop_context(token)
        response["X-Request-ID"] = request_id
        return response
