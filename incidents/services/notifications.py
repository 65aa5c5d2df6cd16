"""The one seam through which incident services ask for people to be told about something.

Services call :func:`request_notification`; nothing is delivered here. Once the writing
transaction commits, the request is announced on the :data:`notification_requested` signal, whose
receivers (added by the notifications work) persist and deliver it. A rolled-back write therefore
never notifies anyone.

Kinds in use:

- ``sev1``: an incident was reported as, or raised to, SEV1;
- ``serious_incident``: an incident was flagged as a serious incident (EU AI Act Art. 73).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

SEV1 = "sev1"
SERIOUS_INCIDENT = "serious_incident"

notification_requested = Signal()
"""Sent after commit with ``kind`` (str), ``incident`` (Incident) and ``reason`` (str)."""


def request_notification(*, kind: str, incident, reason: str) -> None:
    """Announce, once the current transaction commits, that ``incident`` needs a ``kind`` notification.

    The write has committed by then, so a failing receiver is logged rather than turning the
    caller's successful write into an error.
    """

    def announce() -> None:
        results = notification_requested.send_robust(
            sender=type(incident), kind=kind, incident=incident, reason=reason
        )
        for receiver, outcome in results:
            if isinstance(outcome, Exception):
                logger.error(
                    "Notification receiver %r failed for %s (%s)",
                    receiver,
                    incident.reference,
                    kind,
                    exc_info=outcome,
                )

    transaction.on_commit(announce)
