"""The Celery app and its beat schedule (exactly one beat process runs it)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("verity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Scans look for due work by time range, so a run missed while the worker or the broker was down
# is caught up by the next one; the outbox's dedupe keys keep a second beat from sending twice.
app.conf.beat_schedule = {
    "heartbeat": {"task": "governance.tasks.heartbeat", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "governance.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "scan-reviews": {"task": "governance.tasks.scan_reviews", "schedule": 300.0},
    "scan-evidence-expiry": {"task": "governance.tasks.scan_evidence_expiry", "schedule": 3600.0},
    "scan-incident-clocks": {"task": "incidents.tasks.scan_incident_clocks", "schedule": 300.0},
    "deliver-due-notifications": {"task": "governance.tasks.deliver_due", "schedule": 60.0},
    "send-daily-digests": {"task": "governance.tasks.send_digests", "schedule": 900.0},
    "seal-audit-chain": {"task": "governance.tasks.seal_audit_chain", "schedule": 30.0},
    "anchor-audit-head": {"task": "governance.tasks.anchor_audit_head", "schedule": 300.0},
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
