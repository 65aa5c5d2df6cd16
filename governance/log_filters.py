"""Logging filters named in ``settings.LOGGING``."""

import logging

from django.core.exceptions import PermissionDenied


class PermissionDeniedWithoutTraceback(logging.Filter):
    """Keep Django's one-line "Forbidden (Permission denied)" warning, drop its traceback.

    Django logs a refused request on ``django.request`` with the ``PermissionDenied`` attached,
    so every 403 in the admin wrote a traceback as if something had broken. A refusal is the
    permission system working; the line says who was refused where.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info, tuple) and isinstance(exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
