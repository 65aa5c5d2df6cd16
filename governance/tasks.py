"""Celery tasks of the governance app: thin wrappers, the work lives in services."""

from celery import shared_task
from django.db import connection


@shared_task(name="governance.tasks.heartbeat")
def heartbeat() -> dict:
    """Proves the beat → broker → worker → database path works end to end."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), current_database()")
        now, database = cursor.fetchone()
    return {"time": now.isoformat(), "database": database}
