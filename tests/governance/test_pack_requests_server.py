"""Requesting evidence packs from a real gunicorn whose broker is down or unwritable: 503 with
``Retry-After`` and no pack saved; once the broker is back, one Idempotency-Key gives one pack."""

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from governance.choices import Role, TokenScope
from governance.models import EvidencePack, IdempotencyRecord
from governance.services import tokens
from tests.factories import FrameworkFactory, UserFactory
from tests.http import post_json

pytestmark = pytest.mark.integration

URL = "/api/v1/evidence-packs/"
BODY = json.dumps({"frameworks": ["iso-iec-42001"]}).encode()


@pytest.fixture
def server(transactional_db, tmp_path, settings):
    """Start gunicorn with the broker named by the test; stopped at the end."""
    from bench.server import django_env, free_port, start_gunicorn, stop_gunicorn

    started = []

    def start(**broker_env) -> str:
        db = connection.settings_dict
        url = f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}" + (
            f"&port={db['PORT']}" if db["PORT"] else ""
        )
        env = django_env(url, settings.SECRET_KEY)
        env.update(VERITY_TOKEN_HMAC_KEY=settings.TOKEN_HMAC_KEY, VERITY_VAR_DIR=str(tmp_path), **broker_env)
        port = free_port()
        started.append(start_gunicorn(env, port, workers=1, log_path=tmp_path / "gunicorn.log"))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        stop_gunicorn(proc)


@pytest.fixture
def secret(transactional_db):
    FrameworkFactory(code="iso-iec-42001", version="2023")
    auditor = UserFactory(username="auditor", role=Role.AUDITOR)
    return tokens.issue_token(actor=None, user=auditor, name="ci", scope=TokenScope.WRITE).secret


def assert_unavailable(answer) -> None:
    status, headers, body = answer
    assert status == 503, body
    assert headers["Content-Type"] == "application/json"
    assert headers["Retry-After"] == "30"
    error = json.loads(body)
    assert (error["status"], error["code"]) == (503, "task_queue_unavailable")
    assert "nothing was saved" in error["detail"]


def test_an_unreachable_broker_answers_503_and_saves_no_pack(server, secret):
    from bench.server import free_port

    url = server(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there

    assert_unavailable(post_json(url, URL, secret, BODY, key="pack-1"))
    assert_unavailable(post_json(url, URL, secret, BODY, key="pack-1"))  # the retry runs afresh
    assert EvidencePack.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0  # the key was freed for the retry


def test_an_unwritable_filesystem_broker_answers_503_then_one_key_gives_one_pack(server, secret, tmp_path):
    url = server(CELERY_BROKER_URL="filesystem://")
    out = tmp_path / "broker" / "out"
    shutil.rmtree(out)  # the broker's folder gone (a volume not mounted, a clean-up gone wrong)

    assert_unavailable(post_json(url, URL, secret, BODY, key="pack-1"))
    assert EvidencePack.objects.count() == 0

    out.mkdir()
    status, _, first = post_json(url, URL, secret, BODY, key="pack-1")
    assert status == 202, first
    status, headers, again = post_json(url, URL, secret, BODY, key="pack-1")
    assert (status, headers.get("Idempotent-Replayed"), again) == (202, "true", first)
    other = json.dumps({"frameworks": ["iso-iec-42001"], "start": "2026-01-01"}).encode()
    status, _, refused = post_json(url, URL, secret, other, key="pack-1")
    assert (status, json.loads(refused)["code"]) == (422, "idempotency_key_reused")

    (pack,) = EvidencePack.objects.all()
    assert (pack.pk, pack.status) == (json.loads(first)["id"], "queued")
    assert len(list(out.iterdir())) == 1  # its one build message, waiting for a worker


def test_concurrent_retries_with_one_key_queue_one_pack(gunicorn, secret):
    """A client that retries impatiently: 20 requests with one key at once, on 4 server processes."""
    start = threading.Barrier(20)

    def send(_):
        start.wait(timeout=30)
        return post_json(gunicorn, URL, secret, BODY, key="impatient")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))

    assert EvidencePack.objects.count() == 1
    accepted = {body for status, _, body in answers if status == 202}
    assert len(accepted) == 1, "every 202 is the first answer or its replay"
    assert {status for status, _, _ in answers} <= {202, 409}
    assert all(headers.get("Retry-After") for status, headers, _ in answers if status == 409)
