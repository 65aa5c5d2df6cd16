"""The WSGI application, sending its Celery tasks to one test worker's queue.

The docs examples test runs gunicorn with this module, so that an evidence pack requested over
HTTP is built by the worker that test started (``tests/worker.py``), and by no other.
"""

import os

from config.celery import app as celery_app
from config.wsgi import application

celery_app.conf.task_default_queue = os.environ["VERITY_TEST_QUEUE"]

__all__ = ["application"]
