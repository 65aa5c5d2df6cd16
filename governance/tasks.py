"""Celery tasks of the governance app: thin wrappers, the work lives in services.

Review and evidence scans live in ``governance.review_tasks``, notification delivery in
``governance.delivery_tasks``; both are imported here so Celery's autodiscovery registers them.
"""

from celery import shared_task
from django.db import connection

import governance.pack_tasks  # noqa: F401 - registers build_evidence_pack
from governance import audit_tasks, delivery_tasks, review_tasks  # noqa: F401 - registers their tasks
from governance.services import idempotency


@shared_task(name="governance.tasks.heartbeat")
def heartbeat() -> dict:
    """Proves the beat → broker → worker → database path works end to end."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), current_database()")
        now, database = cursor.fetchone()
    return {"time": now.isoformat(), "database": database}


@shared_task(name="governance.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete expired Idempotency-Key records (hourly, from beat); returns how many went."""
    return idempotency.purge_expired()
