from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import roles
        from incidents import checks  # noqa: F401  (registers the start-up checks)
        from incidents.packs import register as register_pack_sections
        from incidents.roles import PERMISSIONS

        roles.declare(self.label, PERMISSIONS)
        register_pack_sections()
