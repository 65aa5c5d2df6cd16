"""Scans that find due reviews and expiring evidence and write their notifications to the outbox.

Thin wrappers run by the beat (see ``config/celery.py``); the work is in
``governance.services.review_scans``. A scan that fails or never runs loses nothing: the next one
looks at the same time range again.
"""

from celery import shared_task

from governance.services import review_scans


@shared_task(name="governance.tasks.scan_reviews")
def scan_reviews() -> dict:
    """Mark late reviews overdue; write due reminders, overdue notices and escalations."""
    return review_scans.scan_reviews()


@shared_task(name="governance.tasks.scan_evidence_expiry")
def scan_evidence_expiry() -> dict:
    """Write the notifications of evidence about to expire."""
    return review_scans.scan_evidence_expiry()
