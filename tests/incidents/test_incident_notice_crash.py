"""A SEV1 notice survives a process that dies between the commit and its after-commit callbacks.

A separate Django process reports a SEV1 incident against the test database and kills itself
(``os._exit``) in the first after-commit callback, before the delivery kick or anything else
registered after it can run. The notice and the review were written in the report's own
transaction, so they are there; the normal delivery path (a real Celery worker running the beat's
``deliver_due`` sweep) then sends the notice exactly once.
"""

import os
import subprocess
import sys

import pytest

from governance.choices import Role
from governance.models import Notification, Review
from incidents.models import Incident
from tests.factories import AISystemFactory, UserFactory, WebhookEndpointFactory
from tests.governance.test_delivery_worker import sent_emails
from tests.worker import REDIS_URL, ROOT, WebhookReceiver, Worker, database_url, wait_for

pytestmark = pytest.mark.integration

DIED_IN_THE_HOOK = 86

# Run as ``python -c <SCRIPT> <username> <system slug> <exit code>``.
SCRIPT = """
import datetime, os, sys
import django

django.setup()
from django.db import transaction
from django.utils import timezone

from governance.models import AISystem, User
from incidents.services import incidents

actor = User.objects.get(username=sys.argv[1])
system = AISystem.objects.get(slug=sys.argv[2])
with transaction.atomic():
    # Registered before the report's own callbacks, so it runs first once the report commits:
    # the process dies after the commit and before any after-commit callback.
    transaction.on_commit(lambda: os._exit(int(sys.argv[3])))
    incident, _ = incidents.create_incident(
        actor=actor,
        data={
            "system": system,
            "title": "Dosage assistant advised a tenfold dose",
            "severity": "SEV1",
            "source": "api",
            "occurred_at": timezone.now() - datetime.timedelta(minutes=30),
        },
    )
    print(incident.reference, flush=True)
sys.exit(0)  # not reached: the callback ends the process
"""


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def worker(transactional_db, tmp_path):
    mail = tmp_path / "mail"
    mail.mkdir()
    worker = Worker(
        {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(mail)}
    )
    worker.mail_dir = mail
    yield worker
    worker.stop()
    worker.purge()


def _report_and_die(username: str, slug: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        # Anything the dying process might still queue goes to the test broker, never elsewhere.
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, username, slug, str(DIED_IN_THE_HOOK)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_sev1_notice_is_delivered_once_after_the_process_dies_between_commit_and_callback(worker, receiver):
    officer = UserFactory(username="chief", role=Role.OFFICER, email="chief@example.com")
    endpoint = WebhookEndpointFactory(owner=officer, url=receiver.url("/pager"))
    system = AISystemFactory(
        slug="dosage", name="Dosage assistant", business_owner=None, technical_owner=None
    )

    died = _report_and_die("chief", "dosage")

    assert died.returncode == DIED_IN_THE_HOOK, died.stderr
    reference = died.stdout.strip()
    incident = Incident.objects.get(reference=reference)  # committed before the process died
    rows = Notification.objects.filter(kind="sev1", subject_id=str(incident.pk))
    assert sorted(rows.values_list("channel", "status")) == [
        ("email", "pending"),
        ("in_app", "pending"),
        ("webhook", "pending"),
    ], "written with the incident, not by a callback that never ran"
    assert Review.objects.filter(system=system, reason=f"SEV1 incident {reference}").exists()
    assert receiver.received == [], "the delivery kick died with the process"

    # The normal delivery path: the beat's sweep on a real worker.
    worker.start()
    assert worker.call("governance.tasks.deliver_due") >= 1
    wait_for(lambda: set(rows.values_list("status", flat=True)) == {"sent"}, message="the SEV1 notice sent")
    assert worker.call("governance.tasks.deliver_due") == 0, "nothing left to send"

    (call,) = receiver.to("/pager")
    assert call.delivery_id == str(rows.get(endpoint=endpoint).pk)
    assert call.json()["payload"]["reference"] == reference
    (message,) = sent_emails(worker.mail_dir)
    assert message["To"] == "chief@example.com" and reference in message["Subject"]
    assert list(rows.values_list("attempts", flat=True)) == [1, 1, 1]
