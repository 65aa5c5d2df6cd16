"""The API's documentation pages (Swagger UI and ReDoc), served entirely by Verity, and what the
schema takes its descriptions from.

The scripts come from drf-spectacular-sidecar's static files and the pages link no outside font
or script. A Content-Security-Policy keeps the browser on this host as well: ReDoc's bundle shows
its vendor's logo from a CDN, which the policy blocks (ReDoc then hides the image).
"""

from drf_spectacular.plumbing import get_lib_doc_excludes
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Both UIs run inline scripts and styles of their own and build images from data: URLs; ReDoc
# indexes the schema for search in a worker made from a blob: URL.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class _SameHostOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerView(_SameHostOnly, SpectacularSwaggerView):
    """Swagger UI at ``/api/docs/``."""


class RedocView(_SameHostOnly, SpectacularRedocView):
    """ReDoc at ``/api/redoc/``."""


def doc_excludes() -> list[type]:
    """Classes whose docstrings the schema does not use as descriptions (``GET_LIB_DOC_EXCLUDES``):
    drf-spectacular's own list, and the shared bases of ``governance.api.base``. Their docstrings
    say how a serializer or view works; a component or view without a docstring of its own gets
    no description rather than one of those."""
    from governance.api import base, idempotency

    return [
        *get_lib_doc_excludes(),
        base.RejectUnknownFieldsMixin,
        base.Serializer,
        base.ModelSerializer,
        base.QuerySerializer,
        base.BuiltFieldsCache,
        base.FastRepresentation,
        base.RefuseUnknownQueryParametersMixin,
        base.APIView,
        base.GenericViewSet,
        base.ReadOnlyModelViewSet,
        base.ModelViewSet,
        base.ServiceModelViewSet,
        idempotency.IdempotentPostMixin,
    ]
