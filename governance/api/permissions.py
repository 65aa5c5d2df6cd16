from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions

from governance.choices import TokenScope


class _RoleModelPermissions(DjangoModelPermissions):
    """Django model permissions, with ``view`` required for reads too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def _queryset(self, view):
        # Only the model matters here; the view's get_queryset() builds the scoped, annotated
        # query, which would be built again for the actual read.
        return view.queryset


class RoleAndScopePermission(BasePermission):
    """Authenticated; the role grants the action on the model; a read-only token only reads.

    Object scope is not checked here: views fetch through ``visible_to(user)``, so an object
    outside the caller's scope is a 404 before any object permission is asked.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth
        if (
            request.method not in SAFE_METHODS
            and getattr(token, "scope", TokenScope.WRITE) != TokenScope.WRITE
        ):
            self.message = "This token is read-only."
            return False
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True
        return _RoleModelPermissions().has_permission(request, view)
