"""Delivery on real Celery workers and a real Redis broker: exactly once, also when a worker is
killed mid-send, and failures recorded rather than raised.

Each test starts its own worker process (tests.worker.Worker) on the test database, with a short
lease and backoff, e-mail written to files in a temporary directory, and webhooks sent to a
receiver in this process. The beat is played by the test: it sends ``deliver_due`` itself.
"""

import datetime
import email
import time

import pytest
from django.utils import timezone

from governance.choices import NotificationChannel, NotificationKind, NotificationStatus
from governance.models import Notification
from governance.services import delivery
from tests.factories import (
    AISystemFactory,
    NotificationFactory,
    ReviewFactory,
    UserFactory,
    WebhookEndpointFactory,
)
from tests.worker import Answer, WebhookReceiver, Worker, wait_for

pytestmark = pytest.mark.integration

LEASE_SECONDS = 2
WEBHOOK_TIMEOUT_SECONDS = 1


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def mail_dir(tmp_path):
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def worker(transactional_db, mail_dir):
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "VERITY_NOTIFICATION_LEASE_SECONDS": str(LEASE_SECONDS),
        "VERITY_NOTIFICATION_BACKOFF_SECONDS": "0.5",
        "VERITY_NOTIFICATION_BACKOFF_CAP_SECONDS": "1",
        "VERITY_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS),
    }
    worker = Worker(env)
    yield worker
    worker.stop()
    worker.purge()


def sent_emails(mail_dir) -> list[email.message.Message]:
    """Every message the file-based backend wrote (one file per connection, messages separated
    by a line of 79 dashes)."""
    messages = []
    for path in sorted(mail_dir.iterdir()):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk))
    return messages


def webhook_row(endpoint, **fields) -> Notification:
    return NotificationFactory(
        recipient=None,
        endpoint=endpoint,
        channel=NotificationChannel.WEBHOOK,
        kind=NotificationKind.REVIEW_DUE,
        status=NotificationStatus.PENDING,
        sent_at=None,
        next_attempt_at=timezone.now(),
        **fields,
    )


def statuses(*rows) -> list[str]:
    return [Notification.objects.get(pk=row.pk).status for row in rows]


def test_it_sends_a_review_falling_due_as_exactly_one_email_and_one_signed_webhook(
    worker, receiver, mail_dir
):
    owner = UserFactory(email="owner@example.com")
    endpoint = WebhookEndpointFactory(owner=owner, url=receiver.url("/hook"))
    system = AISystemFactory(name="Refund assistant", business_owner=owner)
    review = ReviewFactory(system=system, due_at=timezone.now() + datetime.timedelta(days=6))
    # Scheduled ten days ago, so the 7-day reminder has fallen due (and the 30-day one never will).
    type(review).objects.filter(pk=review.pk).update(created_at=timezone.now() - datetime.timedelta(days=10))
    worker.start()

    written = worker.call("governance.tasks.scan_reviews")

    assert written["review_due"] == 3  # e-mail, in-app and the owner's webhook
    rows = Notification.objects.filter(subject_type="governance.review", subject_id=str(review.pk))
    wait_for(lambda: set(rows.values_list("status", flat=True)) == {"sent"}, message="all rows sent")
    # A second scan and a sweep change nothing: the reminder goes out once.
    assert worker.call("governance.tasks.scan_reviews")["review_due"] == 0
    assert worker.call("governance.tasks.deliver_due") == 0

    (message,) = sent_emails(mail_dir)
    assert message["To"] == "owner@example.com"
    assert message["Subject"] == "[Verity] Review falling due: Refund assistant"
    assert message["Message-ID"] == f"<notification-{rows.get(channel='email').pk}@localhost>"
    (call,) = receiver.to("/hook")
    assert delivery.verify_signature(endpoint.secret, call.headers["Verity-Signature"], call.body)
    assert call.delivery_id == str(rows.get(channel="webhook").pk)
    assert call.json()["subject"]["label"] == "Refund assistant"
    assert rows.get(channel="in_app").status == "sent"


def test_a_worker_killed_mid_delivery_leaves_the_row_to_be_delivered_exactly_once(worker, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.script("/slow", Answer(hold=True), Answer(status=200)))
    row = webhook_row(endpoint)
    worker.start()

    worker.send("governance.tasks.deliver_notification", row.pk)
    assert receiver.arrived.wait(timeout=20), "the first attempt never reached the receiver"
    worker.kill()  # in the middle of the POST: no answer read, nothing recorded
    receiver.release()

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.lease_until is not None

    # Within the lease the sweep leaves the row alone (asked with the clock set inside the lease:
    # a restarted worker may take longer than the lease to come up on a busy machine).
    assert delivery.take_due(now=row.lease_until - datetime.timedelta(seconds=1)) == []
    worker.start()
    time.sleep(max(0.0, (row.lease_until - timezone.now()).total_seconds()) + 0.2)
    assert worker.call("governance.tasks.deliver_due") == 1
    wait_for(lambda: statuses(row) == ["sent"], message="the row sent after the restart")

    row.refresh_from_db()
    assert row.attempts == 2
    calls = receiver.to("/slow")
    assert len(calls) == 2  # the killed attempt had reached the receiver
    assert receiver.deliveries("/slow") == {str(row.pk)}  # ... with the same delivery id: one delivery
    assert all(
        delivery.verify_signature(endpoint.secret, c.headers["Verity-Signature"], c.body) for c in calls
    )
    assert calls[0].body == calls[1].body


def test_a_bad_url_a_500_and_a_timeout_end_as_failures_with_retries(worker, receiver):
    nowhere = WebhookEndpointFactory(url="http://127.0.0.1:9/hook")  # discard port: nothing listens
    broken = WebhookEndpointFactory(url=receiver.script("/broken", Answer(status=500)))
    slow = WebhookEndpointFactory(url=receiver.script("/slow", Answer(delay=WEBHOOK_TIMEOUT_SECONDS + 2)))
    rows = [webhook_row(nowhere), webhook_row(broken), webhook_row(slow)]
    worker.start()

    for row in rows:
        worker.send("governance.tasks.deliver_notification", row.pk)
    wait_for(lambda: statuses(*rows) == ["failed"] * 3, timeout=30, message="three failed rows")

    for row in rows:
        row.refresh_from_db()
        assert row.attempts == 1
        assert row.next_attempt_at > row.created_at
        assert row.lease_until is None
    assert rows[0].last_error.startswith("Webhook not reached: ConnectionRefusedError")
    assert rows[1].last_error == "Webhook answered HTTP 500"
    assert "timed out" in rows[2].last_error
    assert worker.alive
    assert worker.call("governance.tasks.heartbeat")["database"]

    # The sweep retries each one after its backoff; they stay in the outbox, failed, with the count.
    def retried():
        worker.call("governance.tasks.deliver_due")
        return all(Notification.objects.get(pk=row.pk).attempts >= 2 for row in rows)

    wait_for(retried, timeout=40, interval=0.5, message="a second attempt of each row")
    # An attempt is counted when its row is claimed, before its request leaves: wait for the
    # requests, then for the rows to be released failed again.
    wait_for(
        lambda: len(receiver.to("/broken")) >= 2 and len(receiver.to("/slow")) >= 2,
        timeout=30,
        message="the second requests at the receiver",
    )

    def failed_again():
        released = Notification.objects.filter(pk__in=[row.pk for row in rows], lease_until__isnull=True)
        return statuses(*rows) == ["failed"] * 3 and released.count() == 3

    wait_for(failed_again, timeout=30, message="failed again")
    assert worker.alive


def test_two_workers_handed_the_same_rows_again_and_again_send_each_once(worker, receiver, mail_dir):
    endpoint = WebhookEndpointFactory(url=receiver.script("/hook", Answer(delay=0.1)))
    hooks = [webhook_row(endpoint) for _ in range(8)]
    mails = [
        NotificationFactory(
            recipient=UserFactory(),
            channel=NotificationChannel.EMAIL,
            status=NotificationStatus.PENDING,
            sent_at=None,
            next_attempt_at=timezone.now(),
        )
        for _ in range(8)
    ]
    second = Worker(worker.env, queue=worker.queue)
    try:
        worker.start()
        second.start()
        for _ in range(3):  # duplicated task messages, as after a redelivery or a double enqueue
            for row in hooks + mails:
                worker.send("governance.tasks.deliver_notification", row.pk)
            worker.send("governance.tasks.deliver_due")
        wait_for(lambda: set(statuses(*hooks, *mails)) == {"sent"}, timeout=30, message="all rows sent")
        # Let the duplicates still queued run out before counting.
        wait_for(lambda: worker.call("governance.tasks.deliver_due") == 0, message="an idle sweep")
        assert worker.alive and second.alive
    finally:
        second.stop()

    assert len(receiver.to("/hook")) == len(hooks)
    assert receiver.deliveries("/hook") == {str(row.pk) for row in hooks}
    message_ids = [message["Message-ID"] for message in sent_emails(mail_dir)]
    assert sorted(message_ids) == sorted(f"<notification-{row.pk}@localhost>" for row in mails)
    assert {Notification.objects.get(pk=row.pk).attempts for row in hooks + mails} == {1}
