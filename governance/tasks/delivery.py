"""Delivery of outbox rows: one row, the due sweep, and the daily digests.

Thin wrappers around ``governance.services.delivery``. Deliveries run with late acknowledgement
(``CELERY_TASK_ACKS_LATE``): a message whose worker died is delivered again, and the row's lease
makes the repeat a no-op while the first attempt may still be running.
"""

from celery import shared_task

from governance.services import delivery

SWEEP_BATCH = 500
SWEEP_MAX_ROWS = 20_000  # per run; the next run (a minute later) carries on


@shared_task(name="governance.tasks.deliver_notification", ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    """Send one outbox row and record the outcome (failures are recorded, never raised)."""
    return delivery.deliver(notification_id)


@shared_task(name="governance.tasks.deliver_due")
def deliver_due() -> int:
    """Beat, every minute: hand every row due for an attempt to a delivery task; returns how many."""
    handed = 0
    while handed < SWEEP_MAX_ROWS:
        ids = delivery.take_due(limit=SWEEP_BATCH)  # committed: the deliveries can see the rows
        for notification_id in ids:
            deliver_notification.delay(notification_id)
        handed += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    return handed


@shared_task(name="governance.tasks.send_digests")
def send_digests() -> int:
    """Beat, every 15 minutes: once the digest hour has come, bundle each recipient's waiting rows
    into one digest per channel and deliver it; returns how many digests were written."""
    ids = delivery.bundle_digests()
    for notification_id in ids:
        deliver_notification.delay(notification_id)
    return len(ids)
