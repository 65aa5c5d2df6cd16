from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from governance.services import tokens


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer vrt_<prefix>_<secret>``; request.auth is the ApiToken."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(_("Malformed Authorization header: use 'Bearer <token>'."))
        try:
            token = tokens.authenticate(parts[1].decode("ascii"))
        except (tokens.TokenRejected, UnicodeDecodeError) as exc:
            raise AuthenticationFailed(str(exc) or "Invalid token.") from exc
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="verity"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.BearerTokenAuthentication"
    name = "BearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "vrt_<prefix>_<secret>"}
