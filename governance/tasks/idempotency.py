"""Housekeeping of stored ``Idempotency-Key`` replies: a thin wrapper around
``governance.services.idempotency``."""

from celery import shared_task

from governance.services import idempotency


@shared_task(name="governance.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete expired Idempotency-Key records (hourly, from beat); returns how many went."""
    return idempotency.purge_expired()
