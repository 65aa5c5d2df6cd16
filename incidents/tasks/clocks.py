"""The incident clock scan: a thin wrapper around ``incidents.services.clock_scans``."""

from celery import shared_task

from incidents.services import clock_scans


@shared_task(name="incidents.tasks.scan_incident_clocks")
def scan_incident_clocks() -> dict:
    """Beat, every five minutes: notify breached SLAs and Art. 73 reports due within a day."""
    return clock_scans.scan_incident_clocks()
