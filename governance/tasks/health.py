"""The heartbeat: proves the beat → broker → worker → database path works end to end."""

from celery import shared_task
from django.db import connection


@shared_task(name="governance.tasks.heartbeat")
def heartbeat() -> dict:
    """Beat, every minute; also what the test workers are asked first, to know they are up."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), current_database()")
        now, database = cursor.fetchone()
    return {"time": now.isoformat(), "database": database}
