"""Celery tasks of the governance app, one module per domain: thin wrappers (ids in), the work
lives in services.

Celery's autodiscovery imports this package, so it imports every module to register its tasks.
Task names are part of the deployment (the beat schedule in ``config/celery.py``, queued
messages, ``send_task`` callers) and stay ``governance.tasks.<task>`` whichever module holds the
task: each sets ``name=`` explicitly.
"""

from governance.tasks import audit, delivery, health, idempotency, packs, reviews

__all__ = ["audit", "delivery", "health", "idempotency", "packs", "reviews"]
