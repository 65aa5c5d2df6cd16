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
        from incidents.services import notification_receivers as receivers
        from incidents.services.notifications import notification_requested

        roles.declare(self.label, PERMISSIONS)
        notification_requested.connect(receivers.write_outbox_rows, dispatch_uid="incidents.outbox_rows")
        notification_requested.connect(
            receivers.require_review_for_sev1, dispatch_uid="incidents.sev1_review"
        )
        register_pack_sections()
