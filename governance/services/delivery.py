"""Delivery of outbox rows: e-mail, signed webhooks and in-app, with leases, retries and digests.

One delivery of one row runs in three steps:

1. **claim**, in its own short transaction: one ``UPDATE`` takes a lease on the row (and counts the
   attempt) if it is pending or failed and nobody else holds a live lease;
2. **send**, outside any transaction, so no database lock is held while a mail server or a webhook
   receiver takes its time;
3. **record** the outcome (sent, failed with a next attempt, or dead), only while still holding
   the lease.

A worker killed between 1 and 3 leaves the lease behind. Once it expires, the due sweep finds the
row again and another worker sends it with the *same* delivery id (the ``Verity-Delivery`` header
of a webhook, the ``Message-ID`` of an e-mail), so a receiver that saw the first attempt drops the
repeat. That is how "never lost, never twice" holds across retries, two workers and killed ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import smtplib
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from governance.choices import NotificationChannel, NotificationKind, NotificationStatus
from governance.models import Notification, WebhookEndpoint
from governance.services import pinned_http, webhooks

logger = logging.getLogger(__name__)

Status = NotificationStatus
RETRYABLE_STATUSES = (Status.PENDING, Status.FAILED)
# A delay is drawn between (1 - JITTER) and 1 times the exponential step, so retries of many rows
# that failed together (one receiver down) spread out instead of arriving again all at once.
JITTER = 0.2
SIGNATURE_HEADER = "Verity-Signature"
DELIVERY_HEADER = "Verity-Delivery"
SIGNATURE_TOLERANCE_SECONDS = 300
_ERROR_LIMIT = 1000


# --- Settings -------------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=settings.VERITY_NOTIFICATION_LEASE_SECONDS)


def backoff_delay(attempts: int, *, rand: float | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: ``base * 2**(attempts - 1)``
    seconds, capped, then shortened by up to ``JITTER`` at random."""
    base = settings.VERITY_NOTIFICATION_BACKOFF_SECONDS
    cap = settings.VERITY_NOTIFICATION_BACKOFF_CAP_SECONDS
    step = min(base * 2 ** min(max(attempts - 1, 0), 40), cap)
    draw = random.random() if rand is None else rand
    return timedelta(seconds=step * (1 - JITTER * draw))


# --- Outcomes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one send attempt came to: ``sent``, ``retry`` (worth trying again) or ``permanent``
    (the same request would be refused again)."""

    result: str
    error: str = ""
    # A permanent refusal by a webhook receiver counts toward disabling its endpoint.
    endpoint_refused: bool = False


SENT = Outcome("sent")


def _retry(error: str) -> Outcome:
    return Outcome("retry", error[:_ERROR_LIMIT])


def _permanent(error: str, *, endpoint_refused: bool = False) -> Outcome:
    return Outcome("permanent", error[:_ERROR_LIMIT], endpoint_refused)


# --- Webhook signing ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the endpoint's secret."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Verity-Signature`` value: ``t=<unix seconds>,v1=<hex signature>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now=None
) -> bool:
    """What a receiver does: the signature matches and its timestamp is recent (against replays)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, sign(secret, timestamp, body))


def webhook_body(notification: Notification) -> bytes:
    """The JSON a webhook receives; the same bytes on every attempt of the row."""
    document = {
        "delivery_id": str(notification.pk),
        "kind": notification.kind,
        "subject": {
            "type": notification.subject_type,
            "id": notification.subject_id,
            "label": notification.subject_label,
        },
        "payload": notification.payload,
        "created_at": notification.created_at.isoformat(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the signed POST into a GET elsewhere; the 3xx is reported instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _send_webhook(notification: Notification) -> Outcome:
    endpoint = notification.endpoint
    if endpoint.disabled_at is not None or not endpoint.is_active:
        reason = endpoint.disabled_reason or "switched off by its owner"
        return _permanent(f"The webhook endpoint is disabled ({reason}).")
    try:
        # Resolved and checked once; the request goes to these addresses, not to a fresh lookup.
        addresses = webhooks.pinned_addresses(endpoint.url)
    except webhooks.AddressRefused as refused:
        if refused.unresolved:  # DNS failures pass; the next attempt looks the name up again
            return _retry(f"Webhook not reached: {refused.message}")
        return _permanent(f"Not sent: {refused.message}", endpoint_refused=True)
    opener = pinned_http.pinned_opener(addresses, _NoRedirects)
    body = webhook_body(notification)
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Verity-Webhooks/1",
            SIGNATURE_HEADER: signature_header(endpoint.secret, body),
            DELIVERY_HEADER: str(notification.pk),
        },
    )
    try:
        with opener.open(request, timeout=settings.VERITY_WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(1024)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        detail = exc.read(200).decode(errors="replace") if exc.fp else ""
        return _classify_status(status, detail)
    except ValueError as exc:  # not a URL urllib can open at all
        return _permanent(f"Invalid webhook URL: {exc}", endpoint_refused=True)
    except (urllib.error.URLError, HTTPException, OSError) as exc:  # timeouts are OSErrors too
        reason = getattr(exc, "reason", exc)
        return _retry(f"Webhook not reached: {type(reason).__name__}: {reason}")
    return _classify_status(status, "")


def _classify_status(status: int, detail: str) -> Outcome:
    if 200 <= status < 300:
        return SENT
    error = f"Webhook answered HTTP {status}" + (f": {detail.strip()}" if detail.strip() else "")
    if status in (408, 429) or status >= 500:
        return _retry(error)
    return _permanent(error, endpoint_refused=True)


# --- E-mail ---------------------------------------------------------------------------------------


def message_id(notification: Notification) -> str:
    """A Message-ID derived from the row, the same on every attempt, so mail systems and readers
    can recognise a repeat."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "verity.localhost"
    return f"<notification-{notification.pk}@{domain}>"


def _email_context(notification: Notification) -> dict:
    return {
        "notification": notification,
        "recipient": notification.recipient,
        "kind_label": notification.get_kind_display(),
        "subject_label": notification.subject_label,
        "payload": notification.payload,
        "items": notification.payload.get("items", [])
        if notification.kind == NotificationKind.DIGEST
        else [],
    }


def render_email(notification: Notification) -> EmailMultiAlternatives:
    """The message for one row, from ``templates/emails/<kind>.txt`` and ``.html`` (or the generic
    ``notification`` templates for a kind without its own)."""
    context = _email_context(notification)
    names = [f"emails/{notification.kind}", "emails/notification"]
    text = render_to_string([f"{name}.txt" for name in names], context)
    html = render_to_string([f"{name}.html" for name in names], context)
    label = notification.subject_label or notification.subject_id
    subject = f"[Verity] {context['kind_label']}: {label}".replace("\n", " ")[:200]
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[notification.recipient.email],
        headers={"Message-ID": message_id(notification), DELIVERY_HEADER: str(notification.pk)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _send_email(notification: Notification) -> Outcome:
    recipient = notification.recipient
    if recipient is None or not recipient.email:
        return _permanent("The recipient has no e-mail address.")
    message = render_email(notification)
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        return _permanent(f"The mail server refused the recipient: {exc.recipients}")
    except (smtplib.SMTPException, OSError) as exc:
        return _retry(f"E-mail not sent: {type(exc).__name__}: {exc}")
    return SENT


def _send(notification: Notification) -> Outcome:
    try:
        if notification.channel == NotificationChannel.WEBHOOK:
            return _send_webhook(notification)
        if notification.channel == NotificationChannel.EMAIL:
            return _send_email(notification)
        # In-app: being marked sent is what puts it in the recipient's unread list.
        return SENT
    except Exception as exc:  # a bug or a broken template must not lose the row
        logger.exception("Delivering notification %s failed", notification.pk)
        return _retry(f"{type(exc).__name__}: {exc}")


# --- Claim, deliver, record -----------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    notification_id: int
    attempts: int
    lease_until: datetime


_CLAIM_SQL = """
UPDATE governance_notification
   SET lease_until = %(lease_until)s, attempts = attempts + 1
 WHERE id = %(id)s
   AND status IN ('pending', 'failed')
   AND NOT in_digest
   AND (lease_until IS NULL OR lease_until < %(now)s)
RETURNING attempts, lease_until
"""


@transaction.atomic
def claim(*, notification_id: int, now: datetime) -> Claim | None:
    """Take the lease on a row that is waiting to be sent and count the attempt; ``None`` if it
    is sent, dead, waiting for a digest or held by another delivery."""
    params = {"id": notification_id, "now": now, "lease_until": now + _lease()}
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        row = cursor.fetchone()
    return None if row is None else Claim(notification_id, row[0], row[1])


@transaction.atomic
def record(*, held: Claim, notification: Notification, outcome: Outcome, now: datetime) -> str:
    """Write the outcome of an attempt and release the lease; returns the row's new status.

    Nothing is written if the lease was lost (it expired and another delivery took the row): that
    delivery owns the row now.
    """
    changes: dict = {"lease_until": None}
    if outcome.result == "sent":
        changes.update(status=Status.SENT, sent_at=now, last_error="")
    elif outcome.result == "retry" and held.attempts < settings.VERITY_NOTIFICATION_MAX_ATTEMPTS:
        changes.update(status=Status.FAILED, last_error=outcome.error)
        changes["next_attempt_at"] = now + backoff_delay(held.attempts)
    else:
        error = outcome.error
        if outcome.result == "retry":
            error = f"Gave up after {held.attempts} attempts. Last error: {error}"
        changes.update(status=Status.DEAD, last_error=error[:_ERROR_LIMIT])
    updated = Notification.objects.filter(
        pk=held.notification_id, lease_until=held.lease_until, attempts=held.attempts
    ).update(**changes)
    if not updated:
        logger.warning("Notification %s: lease lost before its outcome was recorded", held.notification_id)
        return "lease_lost"
    if notification.endpoint_id is not None:
        _count_endpoint_outcome(notification.endpoint_id, outcome, now)
    return changes["status"]


def _count_endpoint_outcome(endpoint_id: int, outcome: Outcome, now: datetime) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if outcome.result == "sent":
        endpoints.filter(consecutive_failures__gt=0).update(consecutive_failures=0)
    elif outcome.endpoint_refused:
        limit = settings.VERITY_WEBHOOK_DISABLE_AFTER
        reaches_limit = Q(disabled_at__isnull=True, consecutive_failures__gte=limit - 1)
        reason = f"Disabled after {limit} refused deliveries in a row; last: {outcome.error}"[:500]
        endpoints.update(
            consecutive_failures=F("consecutive_failures") + 1,
            disabled_at=Case(When(reaches_limit, then=Value(now)), default=F("disabled_at")),
            disabled_reason=Case(When(reaches_limit, then=Value(reason)), default=F("disabled_reason")),
            updated_at=now,
        )


def deliver(notification_id: int, *, now: datetime | None = None) -> str:
    """Send one outbox row and record the result; returns ``sent``, ``failed``, ``dead``,
    ``skipped`` (not ours to send now) or ``lease_lost``.

    Not atomic on purpose: the claim and the record are each their own short transaction and the
    send happens between them, outside any transaction. Failures of the channel are recorded on
    the row (with a next attempt, or dead after ``VERITY_NOTIFICATION_MAX_ATTEMPTS``); they are
    never raised.
    """
    started = now or timezone.now()
    held = claim(notification_id=notification_id, now=started)
    if held is None:
        return "skipped"
    notification = (
        Notification.objects.select_related("recipient", "endpoint").filter(pk=notification_id).first()
    )
    if notification is None:  # deleted since the claim, with its recipient or endpoint
        return "skipped"
    outcome = _send(notification)
    # Backoff counts from the end of the attempt (a timeout can take a while); a given ``now``
    # (tests) is used as it is.
    finished = now or timezone.now()
    return record(held=held, notification=notification, outcome=outcome, now=finished)


# --- The due sweep --------------------------------------------------------------------------------

_DUE_SQL = """
UPDATE governance_notification
   SET next_attempt_at = %(later)s
 WHERE id IN (
        SELECT id FROM governance_notification
         WHERE status IN ('pending', 'failed')
           AND NOT in_digest
           AND next_attempt_at <= %(now)s
           AND (lease_until IS NULL OR lease_until < %(now)s)
         ORDER BY next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED)
RETURNING id
"""


@transaction.atomic
def take_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """One batch of rows due for an attempt (pending or failed, their time come, no live lease).

    Their next attempt is pushed one lease ahead, so concurrent or later sweeps skip them while the
    deliveries they are handed to are queued; if such a delivery is lost, the row is due again
    after that. ``SKIP LOCKED`` lets sweeps running at once split the rows between them.
    """
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, {"now": now, "later": now + _lease(), "limit": limit})
        return sorted(row[0] for row in cursor.fetchall())


# --- Daily digests --------------------------------------------------------------------------------


def digest_time_has_come(now: datetime) -> bool:
    """Whether today's digests may go out: the local hour has reached ``VERITY_DIGEST_HOUR``."""
    return timezone.localtime(now).hour >= settings.VERITY_DIGEST_HOUR


def _digest_key(day, channel: str, recipient_id: int | None, endpoint_id: int | None) -> str:
    owner = f"e{endpoint_id}" if channel == NotificationChannel.WEBHOOK else f"u{recipient_id}"
    return f"digest:{day.isoformat()}:{channel}:{owner}"


def _digest_item(row: Notification) -> dict:
    return {
        "id": row.pk,
        "kind": row.kind,
        "kind_label": row.get_kind_display(),
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "subject_label": row.subject_label,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
    }


@transaction.atomic
def bundle_digests(*, now: datetime | None = None, limit: int = 5000) -> list[int]:
    """Bundle the rows waiting for a digest into one digest row per recipient (or endpoint) and
    channel, once the digest hour has come; returns the new digest rows' ids.

    The bundled rows are marked sent, pointing at their digest; the digest row is then delivered
    (and retried) like any other. One digest per recipient, channel and local day: rows that
    arrive after today's digest wait for tomorrow's.
    """
    now = now or timezone.now()
    if not digest_time_has_come(now):
        return []
    day = timezone.localtime(now).date()
    waiting = (
        Notification.objects.select_for_update(skip_locked=True)
        .filter(in_digest=True, digest__isnull=True, status__in=RETRYABLE_STATUSES)
        .exclude(kind=NotificationKind.DIGEST)
        .order_by("id")[:limit]
    )
    groups: dict[tuple, list[Notification]] = defaultdict(list)
    for row in waiting:
        groups[(row.channel, row.recipient_id, row.endpoint_id)].append(row)
    keys = {group: _digest_key(day, *group) for group in groups}
    sent_today = set(
        Notification.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True)
    )
    digests = []
    for (channel, recipient_id, endpoint_id), rows in groups.items():
        key = keys[(channel, recipient_id, endpoint_id)]
        if key in sent_today:
            continue
        subject_type, subject_id = (
            ("governance.webhookendpoint", endpoint_id)
            if channel == NotificationChannel.WEBHOOK
            else ("governance.user", recipient_id)
        )
        digest = Notification.objects.create(
            recipient_id=recipient_id,
            endpoint_id=endpoint_id,
            channel=channel,
            kind=NotificationKind.DIGEST,
            subject_type=subject_type,
            subject_id=str(subject_id),
            subject_label=f"{len(rows)} notification{'s' if len(rows) != 1 else ''} of {day:%d %B %Y}",
            dedupe_key=key,
            payload={"date": day.isoformat(), "items": [_digest_item(row) for row in rows]},
            next_attempt_at=now,
        )
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Status.SENT, sent_at=now, digest=digest, lease_until=None
        )
        digests.append(digest.pk)
    return digests
