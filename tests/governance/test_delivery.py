"""Delivery of outbox rows: signing, backoff, outcomes, endpoint disabling, leases, the sweep, digests.

Webhooks go to a real HTTP server on a loopback port (tests.worker.WebhookReceiver); e-mail to
Django's in-memory outbox.
"""

import datetime
import socket

import pytest
from django.core import mail
from django.utils import timezone

from governance.choices import NotificationChannel, NotificationKind, NotificationStatus
from governance.models import Notification
from governance.services import delivery
from governance.tasks.delivery import deliver_due, send_digests
from tests.factories import NotificationFactory, UserFactory, WebhookEndpointFactory
from tests.worker import Answer, WebhookReceiver

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _delivery_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.VERITY_NOTIFICATION_MAX_ATTEMPTS = 4
    settings.VERITY_NOTIFICATION_LEASE_SECONDS = 60
    settings.VERITY_NOTIFICATION_BACKOFF_SECONDS = 10
    settings.VERITY_NOTIFICATION_BACKOFF_CAP_SECONDS = 100
    settings.VERITY_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.VERITY_WEBHOOK_DISABLE_AFTER = 3
    settings.VERITY_DIGEST_HOUR = 7


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def pending(**fields) -> Notification:
    fields.setdefault("status", NotificationStatus.PENDING)
    fields.setdefault("sent_at", None)
    fields.setdefault("next_attempt_at", NOW)
    return NotificationFactory(**fields)


def webhook_row(url: str, **fields) -> Notification:
    endpoint = fields.pop("endpoint", None) or WebhookEndpointFactory(url=url)
    return pending(channel=NotificationChannel.WEBHOOK, endpoint=endpoint, recipient=None, **fields)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Signing and backoff --------------------------------------------------------------------------


def test_it_signs_the_timestamp_and_body_so_receivers_can_verify():
    body = b'{"kind":"review_due"}'
    header = delivery.signature_header("whsec_x", body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert delivery.verify_signature("whsec_x", header, body, now=1_700_000_010)
    assert not delivery.verify_signature("whsec_x", header, body + b" ", now=1_700_000_010)
    assert not delivery.verify_signature("whsec_other", header, body, now=1_700_000_010)
    assert not delivery.verify_signature("whsec_x", header, body, now=1_700_000_000 + 3600)  # replayed
    assert not delivery.verify_signature("whsec_x", "v1=abc", body)


def test_it_backs_off_exponentially_with_jitter_and_a_cap():
    assert delivery.backoff_delay(1, rand=0) == datetime.timedelta(seconds=10)
    assert delivery.backoff_delay(2, rand=0) == datetime.timedelta(seconds=20)
    assert delivery.backoff_delay(4, rand=0) == datetime.timedelta(seconds=80)
    assert delivery.backoff_delay(5, rand=0) == datetime.timedelta(seconds=100)  # capped
    assert delivery.backoff_delay(50, rand=0) == datetime.timedelta(seconds=100)
    assert delivery.backoff_delay(2, rand=1) == datetime.timedelta(seconds=16)  # at most 20 % shorter
    draws = {delivery.backoff_delay(3) for _ in range(20)}
    assert all(datetime.timedelta(seconds=32) <= d <= datetime.timedelta(seconds=40) for d in draws)
    assert len(draws) > 1


# --- Webhooks -------------------------------------------------------------------------------------


def test_it_posts_a_signed_webhook_with_a_stable_delivery_id(receiver):
    row = webhook_row(receiver.url("/ok"), kind=NotificationKind.REVIEW_DUE, payload={"due_at": "2026-03-09"})

    assert delivery.deliver(row.pk, now=NOW) == "sent"

    (request,) = receiver.to("/ok")
    assert request.headers["Content-Type"] == "application/json"
    assert request.delivery_id == str(row.pk)
    assert delivery.verify_signature(row.endpoint.secret, request.headers["Verity-Signature"], request.body)
    document = request.json()
    assert document["delivery_id"] == str(row.pk)
    assert document["kind"] == "review_due"
    assert document["subject"] == {"type": row.subject_type, "id": row.subject_id, "label": row.subject_label}
    assert document["payload"] == {"due_at": "2026-03-09"}
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at, row.lease_until) == ("sent", 1, NOW, None)
    assert row.last_error == ""


def test_it_sends_a_sent_row_never_again(receiver):
    row = webhook_row(receiver.url("/ok"))
    assert delivery.deliver(row.pk, now=NOW) == "sent"
    assert delivery.deliver(row.pk, now=NOW + datetime.timedelta(hours=1)) == "skipped"
    assert len(receiver.to("/ok")) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(status=500), "HTTP 500"),
        (Answer(status=503), "HTTP 503"),
        (Answer(status=429), "HTTP 429"),
        (Answer(status=408), "HTTP 408"),
        (Answer(delay=2), "timed out"),
    ],
)
def test_it_records_a_retryable_failure_with_a_next_attempt(receiver, answer, error):
    row = webhook_row(receiver.script("/flaky", answer))

    assert delivery.deliver(row.pk, now=NOW) == "failed"

    row.refresh_from_db()
    assert row.status == "failed"
    assert row.attempts == 1
    assert error in row.last_error
    assert row.lease_until is None
    assert NOW + datetime.timedelta(seconds=8) <= row.next_attempt_at <= NOW + datetime.timedelta(seconds=10)
    row.endpoint.refresh_from_db()
    assert row.endpoint.consecutive_failures == 0  # only refusals count toward disabling


def test_it_retries_a_url_where_nothing_listens():
    row = webhook_row(f"http://127.0.0.1:{free_port()}/hook")
    assert delivery.deliver(row.pk, now=NOW) == "failed"
    row.refresh_from_db()
    assert "Webhook not reached" in row.last_error
    assert row.next_attempt_at > NOW


def test_it_retries_with_growing_delays_and_gives_up_after_the_last_attempt(receiver):
    row = webhook_row(receiver.script("/down", Answer(status=502)))
    now = NOW
    delays = []
    for attempt in range(1, 5):
        status = delivery.deliver(row.pk, now=now)
        row.refresh_from_db()
        assert row.attempts == attempt
        if attempt < 4:
            assert status == "failed"
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert status == "dead"
    assert row.status == "dead"
    assert row.last_error.startswith("Gave up after 4 attempts. Last error: Webhook answered HTTP 502")
    assert delays[0] < delays[1] < delays[2]
    assert len(receiver.to("/down")) == 4
    assert delivery.deliver(row.pk, now=now + datetime.timedelta(days=1)) == "skipped"


def test_it_treats_a_refusal_as_permanent_and_disables_the_endpoint_after_repeats(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.script("/gone", Answer(status=410)))
    rows = [webhook_row("", endpoint=endpoint) for _ in range(4)]

    assert delivery.deliver(rows[0].pk, now=NOW) == "dead"
    rows[0].refresh_from_db()
    assert rows[0].attempts == 1
    assert rows[0].last_error == "Webhook answered HTTP 410"
    endpoint.refresh_from_db()
    assert (endpoint.consecutive_failures, endpoint.disabled_at) == (1, None)

    assert delivery.deliver(rows[1].pk, now=NOW) == "dead"
    assert delivery.deliver(rows[2].pk, now=NOW) == "dead"
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 3
    assert endpoint.disabled_at == NOW
    assert endpoint.disabled_reason.startswith("Disabled after 3 refused deliveries in a row")

    # A disabled endpoint is not called again.
    assert delivery.deliver(rows[3].pk, now=NOW) == "dead"
    rows[3].refresh_from_db()
    assert rows[3].last_error.startswith("The webhook endpoint is disabled")
    assert len(receiver.to("/gone")) == 3


def test_a_success_resets_the_count_of_refusals(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.script("/moody", Answer(status=404), Answer(status=200)))
    delivery.deliver(webhook_row("", endpoint=endpoint).pk, now=NOW)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1
    assert delivery.deliver(webhook_row("", endpoint=endpoint).pk, now=NOW) == "sent"
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_it_does_not_follow_redirects(receiver):
    row = webhook_row(receiver.script("/moved", Answer(status=301)))
    assert delivery.deliver(row.pk, now=NOW) == "dead"
    row.refresh_from_db()
    assert "HTTP 301" in row.last_error


# --- E-mail and in-app ----------------------------------------------------------------------------


def test_it_sends_an_email_from_the_kind_templates_with_a_stable_message_id():
    user = UserFactory(email="ada@example.com")
    row = pending(
        recipient=user,
        channel=NotificationChannel.EMAIL,
        kind=NotificationKind.REVIEW_DUE,
        subject_label="Refund assistant",
        payload={"due_at": "9 March 2026"},
    )

    assert delivery.deliver(row.pk, now=NOW) == "sent"

    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "[Verity] Review falling due: Refund assistant"
    assert "The review of Refund assistant falls due on 9 March 2026." in message.body
    assert message.extra_headers["Message-ID"] == f"<notification-{row.pk}@localhost>"
    assert message.extra_headers["Verity-Delivery"] == str(row.pk)
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Review of Refund assistant falling due" in html


def test_a_kind_without_templates_of_its_own_uses_the_generic_ones():
    row = pending(
        channel=NotificationChannel.EMAIL, kind=NotificationKind.DIGEST, subject_label="x", payload={}
    )
    row.kind = "unknown_kind"  # as if a kind were added without templates
    message = delivery.render_email(row)
    assert "x" in message.body


def test_a_recipient_without_an_email_address_is_dead_with_a_clear_error():
    row = pending(recipient=UserFactory(email=""), channel=NotificationChannel.EMAIL)
    assert delivery.deliver(row.pk, now=NOW) == "dead"
    row.refresh_from_db()
    assert row.last_error == "The recipient has no e-mail address."
    assert mail.outbox == []


def test_a_failing_mail_server_is_a_retryable_failure(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 1
    row = pending(channel=NotificationChannel.EMAIL)
    assert delivery.deliver(row.pk, now=NOW) == "failed"
    row.refresh_from_db()
    assert row.last_error.startswith("E-mail not sent: ConnectionRefusedError")


def test_in_app_delivery_marks_the_row_sent_so_it_shows_as_unread():
    row = pending(channel=NotificationChannel.IN_APP)
    assert delivery.deliver(row.pk, now=NOW) == "sent"
    assert list(Notification.objects.unread_in_app(row.recipient)) == [row]


# --- Leases ---------------------------------------------------------------------------------------


def test_a_live_lease_keeps_a_second_delivery_away_until_it_expires(receiver):
    row = webhook_row(receiver.url("/ok"))
    held = delivery.claim(notification_id=row.pk, now=NOW)  # a worker that then dies mid-send
    assert held.attempts == 1
    assert held.lease_until == NOW + datetime.timedelta(seconds=60)

    assert delivery.deliver(row.pk, now=NOW + datetime.timedelta(seconds=30)) == "skipped"
    assert delivery.take_due(now=NOW + datetime.timedelta(seconds=30)) == []
    assert receiver.received == []

    later = NOW + datetime.timedelta(seconds=61)
    assert delivery.take_due(now=later) == [row.pk]
    assert delivery.deliver(row.pk, now=later) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    # The late worker's outcome is not recorded over the row it no longer holds.
    assert delivery.record(held=held, notification=row, outcome=delivery.SENT, now=later) == "lease_lost"
    assert [request.delivery_id for request in receiver.received] == [str(row.pk)]


# --- The due sweep --------------------------------------------------------------------------------


def test_the_sweep_takes_due_rows_once_and_skips_the_others():
    due = pending(next_attempt_at=NOW - datetime.timedelta(minutes=5))
    failed = pending(status=NotificationStatus.FAILED, attempts=2, next_attempt_at=NOW)
    not_yet = pending(next_attempt_at=NOW + datetime.timedelta(seconds=1))
    being_sent = pending(next_attempt_at=NOW, lease_until=NOW + datetime.timedelta(seconds=5))
    pending(next_attempt_at=NOW, in_digest=True)  # waits for the digest
    NotificationFactory(status=NotificationStatus.SENT, next_attempt_at=NOW)
    NotificationFactory(status=NotificationStatus.DEAD, next_attempt_at=NOW)

    assert delivery.take_due(now=NOW) == sorted([due.pk, failed.pk])
    # Handed out: pushed one lease ahead, so the next sweep does not hand them out again.
    later = delivery.take_due(now=NOW + datetime.timedelta(seconds=59))
    assert later == sorted([not_yet.pk, being_sent.pk])
    due.refresh_from_db()
    assert due.next_attempt_at == NOW + datetime.timedelta(seconds=60)
    assert delivery.take_due(now=NOW + datetime.timedelta(seconds=61)) == sorted([due.pk, failed.pk])


def test_the_sweep_task_hands_each_due_row_to_a_delivery(monkeypatch):
    rows = [pending(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1)) for _ in range(3)]
    queued = []
    monkeypatch.setattr("governance.tasks.delivery.deliver_notification.delay", queued.append)
    monkeypatch.setattr("governance.tasks.delivery.SWEEP_BATCH", 2)
    assert deliver_due() == 3
    assert sorted(queued) == sorted(row.pk for row in rows)


# --- Digests --------------------------------------------------------------------------------------


def test_it_bundles_waiting_rows_into_one_digest_per_recipient_and_channel_once_a_day():
    ada, bob = UserFactory(email="ada@example.com"), UserFactory()
    early = datetime.datetime(2026, 3, 2, 6, 59, tzinfo=datetime.UTC)
    for label in ("Review A", "Review B"):
        pending(recipient=ada, channel=NotificationChannel.EMAIL, in_digest=True, subject_label=label)
    bobs = pending(recipient=bob, channel=NotificationChannel.EMAIL, in_digest=True)
    pending(recipient=ada, channel=NotificationChannel.EMAIL)  # not for the digest

    assert delivery.bundle_digests(now=early) == []

    at_seven = early + datetime.timedelta(minutes=1)
    ids = delivery.bundle_digests(now=at_seven)

    assert len(ids) == 2
    adas = Notification.objects.get(pk__in=ids, recipient=ada)
    assert adas.kind == "digest"
    assert adas.channel == "email"
    assert adas.status == "pending"
    assert adas.dedupe_key == f"digest:2026-03-02:email:u{ada.pk}"
    assert adas.subject_label == "2 notifications of 02 March 2026"
    assert [item["subject_label"] for item in adas.payload["items"]] == ["Review A", "Review B"]
    bundled = Notification.objects.filter(digest=adas)
    assert bundled.count() == 2
    assert set(bundled.values_list("status", flat=True)) == {"sent"}
    bobs.refresh_from_db()
    assert bobs.status == "sent" and bobs.digest_id in ids

    # One digest a day: what arrives later waits for tomorrow's.
    late = pending(recipient=ada, channel=NotificationChannel.EMAIL, in_digest=True, subject_label="Review C")
    assert delivery.bundle_digests(now=at_seven + datetime.timedelta(hours=3)) == []
    tomorrow = delivery.bundle_digests(now=at_seven + datetime.timedelta(days=1))
    assert len(tomorrow) == 1
    late.refresh_from_db()
    assert late.digest_id == tomorrow[0]

    # The digest is delivered like any other row, from the digest templates.
    assert delivery.deliver(adas.pk, now=at_seven) == "sent"
    (message,) = mail.outbox
    assert message.subject == "[Verity] Daily digest: 2 notifications of 02 March 2026"
    assert "- Review falling due: Review A" in message.body
    assert "- Review falling due: Review B" in message.body


def test_the_digest_task_delivers_the_digests_it_writes(monkeypatch, settings):
    settings.VERITY_DIGEST_HOUR = 0
    pending(channel=NotificationChannel.EMAIL, in_digest=True)
    queued = []
    monkeypatch.setattr("governance.tasks.delivery.deliver_notification.delay", queued.append)
    assert send_digests() == 1
    assert Notification.objects.get(pk=queued[0]).kind == "digest"
    assert send_digests() == 0
