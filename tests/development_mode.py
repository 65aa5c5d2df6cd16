"""Pytest plugin, loaded with ``-p`` (pyproject.toml's addopts): the suite runs in development mode.

pytest-django imports the settings before any conftest.py is read, so the switch is set here, in
the environment, where the processes the tests start (Celery workers, a child pytest) inherit it
too. Tests that start gunicorn give it production settings of its own (``bench.server.django_env``).
"""

import os

os.environ["VERITY_ENV"] = "development"
