"""The API's documentation pages (Swagger UI and ReDoc), served entirely by Verity, and what the
schema takes its descriptions from.

The scripts come from drf-spectacular-sidecar's static files and the pages link no outside font
or script. The site's Content-Security-Policy (``CONTENT_SECURITY_POLICY`` in the settings) keeps
the browser on this host; these pages widen it only for what the two UIs need.
"""

from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.plumbing import get_lib_doc_excludes
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


# Swagger UI's start-up script is a file of its own (the split view serves it at ``?script``), so
# no inline script runs; its bundle does not load its vendor's logo from a CDN.
@method_decorator(csp_update({"img-src": ["data:"]}), name="dispatch")
class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI at ``/api/docs/``."""


# ReDoc starts from one inline script carrying the page's nonce (templates/drf_spectacular/
# redoc.html) and indexes the schema for search in a worker made from a blob: URL.
@method_decorator(csp_update({"script-src": [NONCE], "worker-src": [SELF, "blob:"]}), name="dispatch")
class RedocView(SpectacularRedocView):
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
