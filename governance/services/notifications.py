"""The notification outbox: writing rows (idempotently, by dedupe key, per the recipients'
preferences) and the users' own settings. Delivery lives in ``governance.services.delivery``.

Rows are written in the transaction that decided they are due, with one ``INSERT … SELECT …
ON CONFLICT (dedupe_key) DO NOTHING``: a key names the event and the recipient, never the run
that found it, so a second scan, a second worker or a retry writes nothing new. Delivery is
requested from Celery after commit; if the broker is down the row still waits in the outbox
and the beat's ``deliver_due`` sweep sends it later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from governance import choices
from governance.exceptions import Conflict, NotAllowed
from governance.models import Notification, NotificationPreference, User, WebhookEndpoint
from governance.services.access import is_officer, require_permission
from governance.services.records import upsert

logger = logging.getLogger(__name__)

DEFAULT_CHANNELS = ("email", "in_app")
# Up to this many new rows are sent one task each; a larger batch is left to one sweep.
SINGLE_DELIVERY_LIMIT = 100
DELIVER_ONE = "governance.tasks.deliver_notification"
DELIVER_DUE = "governance.tasks.deliver_due"

_LABEL_LENGTH = Notification._meta.get_field("subject_label").max_length

# Expands ``src`` rows (one per recipient user and event) into outbox rows: one per channel of the
# user's preference for the kind (the defaults without one; none for an empty list, which also
# mutes webhooks), plus one per active webhook endpoint of theirs subscribed to the kind. A digest
# preference holds every row of the kind, on every channel, for the next daily digest.
_ENQUEUE_SQL = """
WITH src (user_id, subject_type, subject_id, subject_label, key, payload) AS (
{source}
), people AS (
    SELECT DISTINCT ON (src.key, src.user_id)
           src.user_id, src.subject_type, src.subject_id, src.subject_label, src.key, src.payload,
           pref.id IS NOT NULL AS has_pref, pref.channels, coalesce(pref.digest, false) AS digest
      FROM src
      JOIN {user} u ON u.id = src.user_id AND u.is_active
      LEFT JOIN {preference} pref ON pref.user_id = src.user_id AND pref.kind = %s
), expanded AS (
    SELECT p.user_id AS recipient_id, NULL::bigint AS endpoint_id, ch::varchar AS channel, p.subject_type,
           p.subject_id, p.subject_label, p.key || ':' || ch || ':u' || p.user_id AS dedupe_key, p.payload,
           p.digest AS in_digest
      FROM people p
     CROSS JOIN LATERAL unnest(CASE WHEN p.has_pref THEN p.channels ELSE %s::varchar[] END) AS ch
     WHERE ch <> 'webhook'
    UNION ALL
    SELECT p.user_id, e.id, 'webhook', p.subject_type, p.subject_id, p.subject_label,
           p.key || ':webhook:e' || e.id, p.payload, p.digest
      FROM people p
      JOIN {endpoint} e
        ON e.owner_id = p.user_id AND e.is_active AND e.disabled_at IS NULL
       AND (cardinality(e.kinds) = 0 OR %s = ANY(e.kinds))
     WHERE NOT p.has_pref OR cardinality(p.channels) > 0
)
INSERT INTO {notification} (
    recipient_id, endpoint_id, channel, kind, subject_type, subject_id, subject_label, dedupe_key,
    payload, status, attempts, next_attempt_at, last_error, in_digest, created_at
)
SELECT recipient_id, endpoint_id, channel, %s, subject_type, subject_id, left(subject_label, {label}),
       dedupe_key, payload, 'pending', 0,
       CASE WHEN in_digest THEN %s::timestamptz ELSE %s::timestamptz END, '', in_digest, now()
  FROM expanded
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, in_digest
"""

_ONE_EVENT_SQL = """
    SELECT user_id, %s::text AS subject_type, %s::text AS subject_id, %s::text AS subject_label,
           %s::text AS key, %s::jsonb AS payload
      FROM unnest(%s::bigint[]) AS user_id
"""


def next_digest_at(now: datetime) -> datetime:
    """The next ``VERITY_DIGEST_HOUR`` o'clock after ``now`` in the local time zone."""
    tz = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(tz)
    hour = settings.VERITY_DIGEST_HOUR
    for days in (0, 1, 2):  # two days ahead covers a skipped hour at a clock change
        at = datetime.combine(local.date() + timedelta(days=days), time(hour), tzinfo=tz)
        if at > local:
            return at
    raise AssertionError("unreachable")


def _send_after_commit(ids: list[int]) -> None:
    def send() -> None:
        try:
            if len(ids) <= SINGLE_DELIVERY_LIMIT:
                for notification_id in ids:
                    current_app.send_task(DELIVER_ONE, args=[notification_id])
            else:
                current_app.send_task(DELIVER_DUE)
        except Exception:  # the rows are committed: the beat's deliver_due sweep sends them
            logger.warning("Could not queue delivery of %d notification(s)", len(ids), exc_info=True)

    if ids:
        transaction.on_commit(send)


def _insert(*, kind: str, source_sql: str, params: list, now: datetime | None) -> int:
    now = now or timezone.now()
    sql = _ENQUEUE_SQL.format(
        source=source_sql,
        user=User._meta.db_table,
        preference=NotificationPreference._meta.db_table,
        endpoint=WebhookEndpoint._meta.db_table,
        notification=Notification._meta.db_table,
        label=_LABEL_LENGTH,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, kind, list(DEFAULT_CHANNELS), kind, kind, next_digest_at(now), now])
        rows = cursor.fetchall()
    _send_after_commit([row_id for row_id, in_digest in rows if not in_digest])
    return len(rows)


@transaction.atomic(savepoint=False)  # one statement: a savepoint would only add round trips
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
    user_ids = sorted({user.pk for user in recipients if user is not None})
    if not user_ids:
        return 0
    params = [
        subject_type,
        str(subject_id),
        subject_label,
        key,
        json.dumps(dict(payload or {}), cls=DjangoJSONEncoder),
        user_ids,
    ]
    return _insert(kind=kind, source_sql=_ONE_EVENT_SQL, params=params, now=now)


@transaction.atomic(savepoint=False)
def enqueue_from_sql(*, kind: str, source_sql: str, params: list, now: datetime | None = None) -> int:
    """Set-based ``enqueue`` for scans: ``source_sql`` selects ``(user_id, subject_type, subject_id,
    subject_label, key, payload::jsonb)`` rows; they are expanded by channel and endpoint as in
    ``enqueue`` and inserted in one statement. Returns how many rows were written.

    ``source_sql`` uses ``%s`` placeholders only (its ``params`` come first); a recipient listed
    twice for one key, or an inactive user, gets nothing extra.
    """
    return _insert(kind=kind, source_sql=source_sql, params=list(params), now=now)


def _check_kind(kind: str) -> None:
    if kind not in choices.NotificationKind.values:
        raise ValidationError({"kind": f"Unknown kind of notification: {kind!r}."})


@transaction.atomic
def set_preference(*, actor: User, kind: str, channels: list[str], digest: bool) -> NotificationPreference:
    """The actor's own channels for ``kind`` and whether to bundle them into the daily digest.

    An empty list stops this kind for the actor altogether, webhooks included; webhook endpoints
    choose their kinds themselves, so ``webhook`` is not a channel here.
    """
    require_permission(actor, "add_notificationpreference")
    _check_kind(kind)
    channels = list(channels or [])
    allowed = [choices.NotificationChannel.EMAIL, choices.NotificationChannel.IN_APP]
    if any(channel not in allowed for channel in channels):
        raise ValidationError(
            {"channels": "Choose from e-mail and in-app; webhook endpoints choose their own kinds."}
        )
    if len(set(channels)) != len(channels):
        raise ValidationError({"channels": "Name each channel once."})
    preference, _ = upsert(
        NotificationPreference, {"user": actor, "kind": kind}, {"channels": channels, "digest": bool(digest)}
    )
    return preference


@transaction.atomic
def retry_notification(
    *, actor: User, notification: Notification, now: datetime | None = None
) -> Notification:
    """Officers: put a failed or dead row back to pending, due now (attempts kept)."""
    if not is_officer(actor):
        raise NotAllowed("Only governance officers retry notifications.")
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    retryable = (choices.NotificationStatus.FAILED, choices.NotificationStatus.DEAD)
    if notification.status not in retryable:
        raise Conflict(
            f"Only failed or dead notifications are retried; this one is {notification.status}.",
            field="status",
        )
    notification.status = choices.NotificationStatus.PENDING
    notification.next_attempt_at = now or timezone.now()
    notification.lease_until = None
    notification.save(update_fields=["status", "next_attempt_at", "lease_until"])
    _send_after_commit([notification.pk])
    return notification


@transaction.atomic
def mark_read(*, actor: User, notification: Notification, now: datetime | None = None) -> Notification:
    """The recipient marks an in-app notification read (again: no change)."""
    if actor is None or notification.recipient_id != actor.pk:
        raise NotAllowed("Only its recipient marks a notification read.")
    if notification.channel != choices.NotificationChannel.IN_APP:
        raise Conflict("Only in-app notifications are marked read.", field="channel")
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )
    notification.refresh_from_db(fields=["read_at"])
    return notification
