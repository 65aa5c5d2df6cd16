from django.apps import AppConfig
from django.db.backends.signals import connection_created


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance.change_context import install_on_connection

        connection_created.connect(install_on_connection, dispatch_uid="verity_change_context")
