"""The notification outbox: writing rows (idempotently, by dedupe key, per the recipients'
preferences) and the users' own settings. Delivery lives in ``governance.services.delivery``.

(Interface; see the docstrings.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from governance.models import Notification, NotificationPreference, User, WebhookEndpoint

DEFAULT_CHANNELS = ("email", "in_app")


def enqueue(
    *,
    kind: str,
    recipients: Iterable[User],
    subject_type: str,
    subject_id: str,
    subject_label: str,
    key: str,
    payload: Mapping | None = None,
    now: datetime | None = None,
) -> int:
    """Write the outbox rows for one event: for each recipient, one row per channel their
    preference for ``kind`` names (``DEFAULT_CHANNELS`` without a preference), plus one webhook row
    per active endpoint of theirs subscribed to ``kind``. The dedupe key of each row is
    ``f"{key}:{channel}:u{user_id}"`` or ``f"{key}:webhook:e{endpoint_id}"``; a row whose key
    exists is skipped (``ON CONFLICT DO NOTHING``). Digest preferences set ``in_digest``. Returns
    how many rows were written. Delivery is enqueued on Celery after commit."""
    raise NotImplementedError


def enqueue_from_sql(*, kind: str, source_sql: str, params: list, now: datetime | None = None) -> int:
    """Set-based ``enqueue`` for scans: ``source_sql`` selects ``(user_id, subject_type, subject_id,
    subject_label, key, payload::jsonb)`` rows; they are expanded by channel and endpoint as in
    ``enqueue`` and inserted in one statement. Returns how many rows were written."""
    raise NotImplementedError


def set_preference(*, actor: User, kind: str, channels: list[str], digest: bool) -> NotificationPreference:
    """The actor's own channels for ``kind`` and whether to bundle them into the daily digest."""
    raise NotImplementedError


def create_webhook_endpoint(
    *, actor: User, name: str, url: str, kinds: list[str]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the actor's and its signing secret (returned once, never shown again)."""
    raise NotImplementedError


def rotate_webhook_secret(*, actor: User, endpoint: WebhookEndpoint) -> str:
    """A new signing secret for the endpoint (returned once); owner or officer only."""
    raise NotImplementedError


def retry_notification(*, actor: User, notification: Notification) -> Notification:
    """Officers: put a failed or dead row back to pending, due now (attempts kept)."""
    raise NotImplementedError


def mark_read(*, actor: User, notification: Notification) -> Notification:
    """The recipient marks an in-app notification read."""
    raise NotImplementedError
