"""Start-up checks: a bad service-level setting is reported by ``manage.py check``, not as a
failure when the first incident is reported."""

from django.conf import settings
from django.core.checks import Error, register

from incidents.services.clocks import sla_table


@register()
def check_incident_slas(app_configs, **kwargs):
    try:
        sla_table(getattr(settings, "VERITY_INCIDENT_SLAS", None) or None)
    except (TypeError, ValueError) as exc:
        return [
            Error(
                str(exc), hint="Fix VERITY_INCIDENT_SLAS (see docs/officers-guide.md).", id="incidents.E001"
            )
        ]
    return []
