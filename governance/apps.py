from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import roles
        from governance.change_context import install_on_connection

        roles.declare(self.label, roles.PERMISSIONS)
        connection_created.connect(install_on_connection, dispatch_uid="verity_change_context")
        # After every app's migrate (not only governance's): other apps' permissions are created
        # by their own post_migrate, and roles include them.
        post_migrate.connect(_sync_roles, dispatch_uid="verity_sync_roles")


def _sync_roles(sender, using="default", **kwargs) -> None:
    """Every migrate brings the role groups in line with the apps' declared permissions."""
    from django.contrib.auth.models import Group, Permission

    from governance.roles import apply_role_permissions

    apply_role_permissions(Group, Permission)
