"""Evidence pack builds that never hang: the lease, the take-over, the sweep and its bound, retries,
and idempotent requests (in this process; tests/governance/test_pack_workers.py kills real workers).
"""

import datetime

import pytest
from django.utils import timezone

from governance.choices import TokenScope
from governance.models import ChangeEvent, EvidencePack
from governance.services import pack_builds, pack_queue
from tests.factories import FrameworkFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/evidence-packs/"
Status = EvidencePack.Status


@pytest.fixture
def framework(db):
    return FrameworkFactory(code="iso-iec-42001", version="2023")


@pytest.fixture(autouse=True)
def pack_settings(settings):
    settings.VERITY_PACK_LEASE_SECONDS = 60
    settings.VERITY_PACK_MAX_ATTEMPTS = 2
    settings.VERITY_PACK_BUILD_TIMEOUT_SECONDS = 3600


def queued(user, framework) -> EvidencePack:
    return pack_builds.request_pack(actor=user, frameworks=[framework])


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


# --- Lease, take-over, sweep ------------------------------------------------------------------


def test_a_build_holds_its_pack_and_a_second_message_changes_nothing(auditor, framework):
    pack = queued(auditor, framework)
    held = pack_queue.claim(pack_id=pack.pk)
    pack.refresh_from_db()
    assert (pack.status, pack.attempts) == (Status.BUILDING, 1)
    assert pack.lease_until > timezone.now() and pack.started_at is not None
    assert pack_queue.claim(pack_id=pack.pk) is None  # the lease is live
    assert pack_queue.finish(held, status=Status.READY)
    pack.refresh_from_db()
    assert (pack.status, pack.lease_until) == (Status.READY, None)


def test_a_message_for_a_pack_whose_request_rolled_back_does_nothing(auditor, framework):
    assert pack_queue.claim(pack_id=987654) is None
    assert pack_builds.run_pack(pack_id=987654) is None


def test_a_redelivered_build_takes_over_once_the_lease_expired_and_fences_the_dead_one(auditor, framework):
    pack = queued(auditor, framework)
    dead = pack_queue.claim(pack_id=pack.pk)
    taken = pack_queue.claim(pack_id=pack.pk, now=later(61))
    assert taken is not None and taken.attempt == 2
    # The first build, had it lived on, records nothing: the pack is the second build's now.
    assert not pack_queue.finish(dead, status=Status.READY)
    assert pack_queue.finish(taken, status=Status.READY)
    pack.refresh_from_db()
    assert (pack.status, pack.attempts) == (Status.READY, 2)


def test_the_sweep_queues_a_dead_build_again_then_fails_it_when_its_attempts_are_used_up(auditor, framework):
    pack = queued(auditor, framework)
    pack_queue.claim(pack_id=pack.pk)
    assert pack_queue.sweep(now=later(30)) == {"failed": 0, "requeued": 0, "sent": 0}  # lease live

    assert pack_queue.sweep(now=later(61)) == {"failed": 0, "requeued": 1, "sent": 1}
    pack.refresh_from_db()
    assert (pack.status, pack.attempts, pack.lease_until) == (Status.QUEUED, 1, None)

    pack_queue.claim(pack_id=pack.pk, now=later(62))  # the second build dies as well
    assert pack_queue.sweep(now=later(200))["failed"] == 1
    pack.refresh_from_db()
    assert (pack.status, pack.attempts) == (Status.FAILED, 2)
    assert "stopped without finishing twice" in pack.error and pack.finished_at is not None


def test_a_redelivered_build_fails_a_pack_whose_attempts_are_used_up(auditor, framework):
    pack = queued(auditor, framework)
    pack_queue.claim(pack_id=pack.pk)
    pack_queue.claim(pack_id=pack.pk, now=later(61))
    assert pack_queue.claim(pack_id=pack.pk, now=later(200)) is None
    pack.refresh_from_db()
    assert pack.status == Status.FAILED and "VERITY_PACK_MAX_ATTEMPTS" in pack.error


def test_the_sweep_fails_a_pack_past_its_bound_even_while_its_worker_beats(auditor, framework, settings):
    settings.VERITY_PACK_BUILD_TIMEOUT_SECONDS = 600
    pack = queued(auditor, framework)
    held = pack_queue.claim(pack_id=pack.pk)
    assert pack_queue.sweep(now=later(599))["failed"] == 0
    EvidencePack.objects.filter(pk=pack.pk).update(lease_until=later(10_000))  # a live heartbeat
    assert pack_queue.sweep(now=later(601))["failed"] == 1
    pack.refresh_from_db()
    assert pack.status == Status.FAILED and "within 600 seconds" in pack.error
    assert not pack_queue.finish(held, status=Status.READY)  # the late build changes nothing
    pack.refresh_from_db()
    assert pack.status == Status.FAILED


def test_the_sweep_sends_again_a_queued_pack_whose_message_was_lost(auditor, framework):
    pack = queued(auditor, framework)
    assert pack_queue.sweep(now=later(30))["sent"] == 0  # sent a moment ago
    assert pack_queue.sweep(now=later(61))["sent"] == 1
    pack.refresh_from_db()
    assert pack.status == Status.QUEUED and pack.queued_at > timezone.now() + datetime.timedelta(seconds=60)


def test_heartbeats_and_resends_stay_out_of_the_change_history(auditor, framework):
    pack = queued(auditor, framework)
    held = pack_queue.claim(pack_id=pack.pk)
    events = ChangeEvent.objects.filter(table_name="governance_evidencepack", object_pk=str(pack.pk))
    before = events.count()
    assert pack_queue._renew(held)
    assert events.count() == before
    pack_queue.finish(held, status=Status.FAILED, error="Boom.")
    assert events.count() == before + 1


# --- Retry ------------------------------------------------------------------------------------


def failed(user) -> EvidencePack:
    return EvidencePack.objects.create(
        requested_by=user, status=Status.FAILED, error="Stopped.", attempts=3, started_at=timezone.now()
    )


def test_a_failed_pack_is_retried_through_the_api_with_its_attempts_afresh(engineer, api_as):
    pack = failed(engineer)
    response = api_as(engineer).post(f"{URL}{pack.pk}/retry/", format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["attempts"], body["error"], body["started_at"]) == ("queued", 0, "", None)
    assert response["Location"] == f"http://testserver{URL}{pack.pk}/"
    again = api_as(engineer).post(f"{URL}{pack.pk}/retry/", format="json")
    assert again.status_code == 409
    assert again.json() == {
        "status": 409,
        "code": "conflict",
        "detail": "Only a failed pack can be retried; this one is queued.",
    }


def test_retry_follows_the_pack_endpoints_scope_and_roles(engineer, other_engineer, officer, api_as):
    pack = failed(engineer)
    assert api_as(other_engineer).post(f"{URL}{pack.pk}/retry/", format="json").status_code == 404
    read_only = api_as(officer, TokenScope.READ).post(f"{URL}{pack.pk}/retry/", format="json")
    assert read_only.status_code == 403
    assert api_as(engineer).post(f"{URL}{pack.pk}/retry/", {"force": True}, format="json").status_code == 400
    assert api_as(officer).post(f"{URL}{pack.pk}/retry/", format="json").status_code == 202


def test_failed_packs_are_retried_from_the_admin_and_show_why_they_failed(client, officer):
    officer.is_staff = True
    officer.save()
    client.force_login(officer)
    broken, ready = failed(officer), EvidencePack.objects.create(requested_by=officer, status=Status.READY)
    listing = client.get("/admin/governance/evidencepack/").content.decode()
    assert "Stopped." in listing
    form = {"action": "retry_packs", "_selected_action": [broken.pk, ready.pk]}
    page = client.post("/admin/governance/evidencepack/", form, follow=True).content.decode()
    assert f"Queued again: pack {broken.pk}." in page
    assert f"pack {ready.pk}: Only a failed pack can be retried; this one is ready." in page
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == (Status.QUEUED, 0)


@pytest.fixture
def broker_down():
    """This process's Celery app pointed at a port where nothing listens, then back."""
    from bench.server import free_port
    from config.celery import app

    def point_at(url):
        app.conf.broker_url = url
        app._pool = None  # the connection pool and the producers on it are built from the URL
        app.amqp._producer_pool = None

    before = app.conf.broker_url
    point_at(f"redis://127.0.0.1:{free_port()}/0")
    yield
    point_at(before)


def test_the_admin_says_no_pack_was_built_when_the_task_queue_is_down(
    client, officer, framework, broker_down
):
    officer.is_staff = True
    officer.save()
    client.force_login(officer)
    broken = failed(officer)
    form = {"action": "build_pack_for_frameworks", "_selected_action": [framework.pk]}
    page = client.post("/admin/governance/framework/", form, follow=True).content.decode()
    assert "No pack was built: The task queue is unavailable" in page
    form = {"action": "retry_packs", "_selected_action": [broken.pk]}
    page = client.post("/admin/governance/evidencepack/", form, follow=True).content.decode()
    assert f"pack {broken.pk}: The task queue is unavailable" in page
    assert list(EvidencePack.objects.values_list("pk", "status")) == [(broken.pk, Status.FAILED)]


def test_the_api_answers_503_for_a_retry_the_task_queue_cannot_take(engineer, api_as, broker_down):
    pack = failed(engineer)
    response = api_as(engineer).post(f"{URL}{pack.pk}/retry/", format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["code"] == "task_queue_unavailable"
    pack.refresh_from_db()
    assert (pack.status, pack.error, pack.attempts) == (Status.FAILED, "Stopped.", 3)


# --- Idempotent requests ----------------------------------------------------------------------


def test_the_same_key_and_body_give_the_same_pack_and_another_body_is_refused(auditor, framework, api_as):
    client = api_as(auditor)
    body = {"frameworks": ["iso-iec-42001"]}
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="pack-1")
    again = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="pack-1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert EvidencePack.objects.count() == 1

    other = client.post(URL, {**body, "start": "2026-01-01"}, format="json", HTTP_IDEMPOTENCY_KEY="pack-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert EvidencePack.objects.count() == 1
