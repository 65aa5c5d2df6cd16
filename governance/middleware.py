"""Request middleware: error answers, body size limit, control characters in URLs, session
lifetime, no caching of signed-in responses, and the change-history context."""

import re
import sys
import uuid
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import BadRequest
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control

from governance import views
from governance.api.errors import error_body, error_response, is_outage
from governance.change_context import pop_context, push_context

_UNHANDLED = "_verity_unhandled_exception"


def _remember_exception(sender, request=None, **kwargs):
    """Django turns an exception from any view or middleware into a 500 where it was raised and
    only signals it; keep it on the request so ``ErrorResponseMiddleware`` can tell an outage."""
    if request is not None:
        setattr(request, _UNHANDLED, sys.exc_info()[1])


got_request_exception.connect(_remember_exception, dispatch_uid="verity_remember_exception")


class ErrorResponseMiddleware:
    """The outermost middleware: every error answer in its one shape, whatever ``DEBUG`` says.

    - A database outage raised at any stage (authentication, a middleware, the view) answers
      503 with ``Retry-After``: JSON under the API, a page elsewhere (``views.outage``).
    - Under ``/api/`` and ``/healthz``, an error response that is not JSON (Django's debug
      pages, its 400/404/405/500 pages) becomes the API's JSON error shape.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_outage(getattr(request, _UNHANDLED, None)):
            return _replace(request, response, views.outage(request))
        if response.status_code >= 400 and views.is_api(request) and not _is_json(response):
            return _replace(request, response, _as_json_error(request, response))
        return response


# The replacement's own: its body's description and whether it may be retried.
_OWN_HEADERS = {"content-type", "content-length", "retry-after", "allow"}


def _replace(request, original, replacement):
    """The replacement answer, keeping the headers the inner middleware set on the original
    (security policies, caching, the request id)."""
    for name, value in original.headers.items():
        if name.lower() not in _OWN_HEADERS and name not in replacement.headers:
            replacement[name] = value
    if request_id := getattr(request, "request_id", ""):
        replacement["X-Request-ID"] = request_id
    return replacement


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _as_json_error(request, response):
    status = response.status_code
    if status >= 500:
        return views.api_server_error(request) if status == 500 else _plain(status)
    if status == 404:
        return views.page_not_found(request, None)
    answer = _plain(status)
    if allow := response.get("Allow"):
        answer["Allow"] = allow
    return answer


def _plain(status: int) -> JsonResponse:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status HTTP does not name
        phrase = "Error"
    return error_response(status, phrase.lower().replace(" ", "_").replace("-", "_"), f"{phrase}.")


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
            return error_response(411, "length_required", "Send a Content-Length header.")
        if length > limit and not content_type.startswith("multipart/"):
            return error_response(
                413, "request_too_large", f"Request body is {length} bytes; the limit is {limit} bytes."
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
            return error_response(404, "not_found", "Not found: the path holds a control character.")
        errors = {
            _PATH_CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", name): [QUERY_CONTROL_MESSAGE]
            for name, values in request.GET.lists()
            if any(_QUERY_CONTROL.search(text) for text in (name, *values))
        }
        if errors and not api:
            raise BadRequest(f"{', '.join(errors)}: {QUERY_CONTROL_MESSAGE}")  # the admin's search
        if errors:
            return JsonResponse(error_body(400, "invalid", "Invalid input.", errors), status=400)
        return self.get_response(request)


# When the session's user signed in (a POSIX timestamp), for the absolute session lifetime.
SIGNED_IN_AT = "verity_signed_in_at"


@receiver(user_logged_in, dispatch_uid="verity_session_signed_in_at")
def _stamp_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = timezone.now().timestamp()


class SessionLifetimeMiddleware:
    """Sign out a session ``VERITY_SESSION_MAX_SECONDS`` after its sign-in, however active it is.

    The idle timeout needs no code: every request saves the session (``SESSION_SAVE_EVERY_REQUEST``),
    which then expires ``SESSION_COOKIE_AGE`` after the last one. A signed-in session without a
    stamp (signed in before this existed) is stamped on its next request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        # Only a request with a session cookie can be signed in; others leave the session untouched.
        if settings.SESSION_COOKIE_NAME in request.COOKIES and SESSION_KEY in session:
            now = timezone.now().timestamp()
            signed_in_at = session.get(SIGNED_IN_AT)
            if not isinstance(signed_in_at, int | float):
                session[SIGNED_IN_AT] = now
            elif now - signed_in_at > settings.VERITY_SESSION_MAX_SECONDS:
                logout(request)
        return self.get_response(request)


class NoStoreWhenSignedInMiddleware:
    """No browser or proxy keeps a response to a signed-in user, by session or API token: it holds
    register data or evidence. The API's authentication sets the request's user for this too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)  # keeps what a view added
        return response


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
