"""The Celery app and its beat schedule (exactly one beat process runs it)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("verity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A run the workers do not start before it expires is dropped, not queued behind others: while the
# workers are down, beat still sends every entry on time, and without an expiry a long outage would
# come back to hours of identical sweeps run one after the other. Expiring a little before the
# next run is due (90 % of the interval) drops only runs that the next one makes redundant.
EXPIRES_SHARE = 0.9


def _every(seconds: float, task: str) -> dict:
    """A beat entry that runs ``task`` every ``seconds`` and expires before the next run is due."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * EXPIRES_SHARE}}


# Scans look for due work by time range, so a run missed while the worker or the broker was down
# (or dropped as expired) is caught up by the next one; the outbox's dedupe keys keep a second beat
# from sending twice.
app.conf.beat_schedule = {
    "heartbeat": _every(60.0, "governance.tasks.heartbeat"),
    "purge-idempotency-keys": _every(3600.0, "governance.tasks.purge_idempotency_keys"),
    "scan-reviews": _every(300.0, "governance.tasks.scan_reviews"),
    "scan-evidence-expiry": _every(3600.0, "governance.tasks.scan_evidence_expiry"),
    "scan-incident-clocks": _every(300.0, "incidents.tasks.scan_incident_clocks"),
    "deliver-due-notifications": _every(60.0, "governance.tasks.deliver_due"),
    "send-daily-digests": _every(900.0, "governance.tasks.send_digests"),
    "seal-audit-chain": _every(30.0, "governance.tasks.seal_audit_chain"),
    "anchor-audit-head": _every(300.0, "governance.tasks.anchor_audit_head"),
    "sweep-evidence-packs": _every(60.0, "governance.tasks.sweep_evidence_packs"),
}


@task_prerun.connect
def _enter_task_change_context(task=None, task_id=None, **_):
    """Attribute every write a task makes to that task in the change history."""
    from governance.change_context import push_context

    task.request._verity_context_token = push_context(source=f"task:{task.name}", correlation_id=task_id)


@task_postrun.connect
def _leave_task_change_context(task=None, **_):
    from governance.change_context import pop_context

    token = getattr(task.request, "_verity_context_token", None)
    if token is not None:
        pop_context(token)
