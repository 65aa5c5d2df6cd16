"""Celery tasks of the incidents app, one module per domain: thin wrappers (ids in), the work
lives in services.

Celery's autodiscovery imports this package, so it imports every module to register its tasks.
Task names stay ``incidents.tasks.<task>`` whichever module holds the task: each sets ``name=``.
"""

from incidents.tasks import clocks

__all__ = ["clocks"]
