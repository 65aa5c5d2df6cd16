"""``Idempotency-Key`` on POST (IETF httpapi draft), exercised on POST /api/v1/ai-systems/."""

from __future__ import annotations

import datetime
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.test import APIClient

from governance.api import inventory
from governance.choices import TokenScope
from governance.models import AISystem, ChangeEvent, Evidence, IdempotencyRecord
from governance.services import idempotency, tokens
from governance.tasks.idempotency import purge_idempotency_keys
from tests.factories import system_payload
from tests.governance.evidence_helpers import FIELDS, make_pdf, raw_multipart
from tests.http import post_json

URL = "/api/v1/ai-systems/"
HEADER = "Idempotency-Key"
PAYLOAD = system_payload(slug="keyed", name="Keyed")


class ServiceUnavailable(APIException):
    status_code = 503
    default_detail = "Try again later."


def post(client, payload=PAYLOAD, key="key-1", url=URL):
    return client.post(url, payload, format="json", headers={HEADER: key})


def record_for(client, key="key-1", **fields) -> IdempotencyRecord:
    """A record as ``begin()`` leaves it for ``client``'s token, for the request ``post()`` sends."""
    now = timezone.now()
    values = {
        "client": f"token:{client.token.pk}",
        "key": key,
        "method": "POST",
        "path": URL,
        "fingerprint": idempotency.body_fingerprint(
            json.dumps(PAYLOAD).encode(), content_type="application/json"
        ),
        "created_at": now,
        "claimed_at": now,
        "expires_at": now + idempotency.KEY_LIFETIME,
        **fields,
    }
    return IdempotencyRecord.objects.create(**values)


# --- Replays --------------------------------------------------------------------------------


def test_it_replays_the_first_response_with_the_same_status_and_body(api_as, officer, team_a):
    client = api_as(officer)

    first = post(client)
    # The same JSON object, keys in another order and spaced differently, is the same request.
    reordered = json.dumps(dict(reversed(PAYLOAD.items())), indent=2)
    again = client.generic("POST", URL, reordered, content_type="application/json", headers={HEADER: "key-1"})

    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert AISystem.objects.filter(slug="keyed").count() == 1
    # Bookkeeping, not a governance fact: the key table keeps no change history.
    assert not ChangeEvent.objects.filter(table_name=IdempotencyRecord._meta.db_table).exists()


def test_it_replays_a_validation_error_too(api_as, officer, team_a):
    client = api_as(officer)
    invalid = {**PAYLOAD, "risk_tier": "extreme"}

    first = post(client, invalid)
    again = post(client, invalid)
    corrected = post(client, PAYLOAD)  # a different body needs a new key

    assert first.status_code == 400
    assert again.status_code == 400
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert corrected.status_code == 422
    assert not AISystem.objects.exists()


def test_it_accepts_the_drafts_quoted_string_form_of_the_key(api_as, officer, team_a):
    client = api_as(officer)

    first = post(client, key='"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    again = post(client, key="8e03978e-40d5-43e8-bc93-6894a57f9324")

    assert first.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get().key == "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_it_replays_a_multipart_upload_sent_with_another_boundary(api_as, engineer, team_a, evidence_dir):
    client = api_as(engineer)
    body, content_type = raw_multipart(FIELDS, "report.pdf", make_pdf())
    other_body = body.replace(b"verity-test-boundary-5f1c", b"another-boundary-9d2e")
    other_type = content_type.replace("verity-test-boundary-5f1c", "another-boundary-9d2e")

    first = client.generic(
        "POST", "/api/v1/evidence/", body, content_type=content_type, headers={HEADER: "up"}
    )
    again = client.generic(
        "POST", "/api/v1/evidence/", other_body, content_type=other_type, headers={HEADER: "up"}
    )

    assert first.status_code == 201, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Evidence.objects.count() == 1


# --- Refusals -------------------------------------------------------------------------------


def test_it_answers_422_when_a_key_is_reused_for_another_payload_or_endpoint(api_as, officer, team_a):
    client = api_as(officer)
    post(client)

    other_payload = post(client, {**PAYLOAD, "name": "Renamed"})
    other_endpoint = post(client, {"slug": "team-z", "name": "Team Z"}, url="/api/v1/teams/")

    assert other_payload.status_code == 422
    assert other_payload.json()["code"] == "idempotency_key_reused"
    assert "different request body" in other_payload.json()["detail"]
    assert other_endpoint.status_code == 422
    assert "POST /api/v1/ai-systems/" in other_endpoint.json()["detail"]
    assert AISystem.objects.get(slug="keyed").name == "Keyed"


def test_it_answers_409_with_retry_after_while_the_first_request_is_in_flight(api_as, officer, team_a):
    client = api_as(officer)
    record_for(client)

    response = post(client)

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "status": 409,
        "code": "idempotency_key_in_flight",
        "detail": "A request with this Idempotency-Key is still being processed; retry shortly.",
    }
    assert not AISystem.objects.exists()


def test_it_takes_over_a_stale_in_flight_key_whose_request_died(api_as, officer, team_a):
    client = api_as(officer)
    long_ago = timezone.now() - idempotency.STALE_AFTER - datetime.timedelta(seconds=1)
    record_for(client, claimed_at=long_ago)

    response = post(client)

    assert response.status_code == 201
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", '"unterminated\\"'])
def test_it_answers_400_to_a_malformed_key(api_as, officer, team_a, key):
    response = post(api_as(officer), key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not AISystem.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_it_uses_up_no_key_on_a_request_it_refuses_before_the_view(api_as, officer, auditor, team_a):
    refused = post(api_as(auditor))

    assert refused.status_code == 403
    assert not IdempotencyRecord.objects.exists()


# --- Clients and expiry ---------------------------------------------------------------------


def test_it_keeps_keys_apart_per_client(api_as, client, officer, engineer, team_a):
    mine, another_token = api_as(officer), api_as(officer)
    client.force_login(engineer)  # a session user has keys of their own too

    first = post(mine, system_payload(slug="one"))
    second = post(another_token, system_payload(slug="two"))
    third = client.post(
        URL, system_payload(slug="three"), content_type="application/json", headers={HEADER: "key-1"}
    )

    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 201]
    assert "Idempotent-Replayed" not in second and "Idempotent-Replayed" not in third
    assert set(AISystem.objects.values_list("slug", flat=True)) == {"one", "two", "three"}
    assert set(IdempotencyRecord.objects.values_list("client", flat=True)) == {
        f"token:{mine.token.pk}",
        f"token:{another_token.token.pk}",
        f"user:{engineer.pk}",
    }


def test_it_ignores_an_expired_key_and_the_purge_deletes_it(api_as, officer, team_a):
    client = api_as(officer)
    yesterday = timezone.now() - idempotency.KEY_LIFETIME - datetime.timedelta(seconds=1)
    record_for(client, fingerprint="0" * 64, state="completed", response_status=201, expires_at=yesterday)
    old = record_for(client, key="old", expires_at=yesterday)

    response = post(client)
    purged = idempotency.purge_expired()

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert purged == 1
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert IdempotencyRecord.objects.get().expires_at > timezone.now()


def test_it_purges_from_an_hourly_beat_task(api_as, officer):
    from config.celery import app

    client = api_as(officer)
    record_for(client, key="old", expires_at=timezone.now() - datetime.timedelta(seconds=1))
    record_for(client, key="fresh")

    assert purge_idempotency_keys.apply().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    entry = app.conf.beat_schedule["purge-idempotency-keys"]
    assert (entry["task"], entry["schedule"]) == (purge_idempotency_keys.name, 3600.0)


# --- Failures free the key ------------------------------------------------------------------


def test_it_stores_nothing_when_the_view_raises_and_a_retry_runs_again(api_as, officer, team_a, monkeypatch):
    client = api_as(officer)

    def crash(**kwargs):
        raise RuntimeError("database on fire")

    with monkeypatch.context() as patch:
        patch.setattr(inventory.AISystemViewSet, "create_service", staticmethod(crash))
        with pytest.raises(RuntimeError):
            post(client)
    assert not IdempotencyRecord.objects.exists()

    retried = post(client)

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_it_rolls_back_the_write_behind_a_5xx_and_frees_the_key(api_as, officer, team_a, monkeypatch):
    client = api_as(officer)
    create = inventory.AISystemViewSet.create_service

    def create_then_fail(**kwargs):
        create(**kwargs)
        raise ServiceUnavailable()

    with monkeypatch.context() as patch:
        patch.setattr(inventory.AISystemViewSet, "create_service", staticmethod(create_then_fail))
        failed = post(client)

    assert failed.status_code == 503
    assert not AISystem.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert post(client).status_code == 201


def test_it_rolls_back_the_write_behind_a_4xx_and_replays_the_4xx(api_as, officer, team_a, monkeypatch):
    client = api_as(officer)
    create = inventory.AISystemViewSet.create_service

    def create_then_refuse(**kwargs):
        create(**kwargs)
        raise ValidationError({"slug": ["Refused after the write."]})

    with monkeypatch.context() as patch:
        patch.setattr(inventory.AISystemViewSet, "create_service", staticmethod(create_then_refuse))
        refused = post(client)

    assert refused.status_code == 400
    assert not AISystem.objects.exists()
    assert not ChangeEvent.objects.filter(table_name=AISystem._meta.db_table).exists()
    replayed = post(client)
    assert (replayed.status_code, replayed.content) == (400, refused.content)
    assert replayed["Idempotent-Replayed"] == "true"
    assert not AISystem.objects.exists()


def test_it_leaves_requests_without_the_header_and_other_methods_alone(api_as, officer, system_a):
    client = api_as(officer)

    created = client.post(URL, system_payload(slug="plain"), format="json")
    patched = client.patch(f"{URL}system-a/", {"name": "Renamed"}, format="json", headers={HEADER: "k"})

    assert created.status_code == 201
    assert patched.status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_it_documents_the_header_on_every_create(client, officer):
    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()

    for path in ("/api/v1/ai-systems/", "/api/v1/teams/", "/api/v1/evidence/"):
        parameters = schema["paths"][path]["post"].get("parameters", [])
        assert {"in": "header", "name": HEADER} in [{"in": p["in"], "name": p["name"]} for p in parameters]
    assert schema["paths"]["/api/v1/ai-systems/"]["post"]["summary"] == "Register an AI system"


# --- Concurrency ----------------------------------------------------------------------------

CONCURRENT = 50


def _check_concurrent_answers(answers: list[tuple[int, dict, bytes]], retried: tuple[int, dict, bytes]):
    """Exactly one system; every answer is the original 201 (or its replay) or a 409 to retry."""
    assert AISystem.objects.filter(slug="keyed").count() == 1
    created = [body for status, _, body in answers if status == 201]
    conflicts = [headers for status, headers, _ in answers if status == 409]
    assert len(created) + len(conflicts) == CONCURRENT, sorted({status for status, _, _ in answers})
    assert created and len(set(created)) == 1
    originals = [h for status, h, _ in answers if status == 201 and h.get("Idempotent-Replayed") != "true"]
    assert len(originals) <= 1  # the one that ran (unless only its replays came back)
    assert all(headers.get("Retry-After") == "1" for headers in conflicts)
    status, headers, body = retried
    assert (status, headers.get("Idempotent-Replayed"), body) == (201, "true", created[0])
    return len(conflicts)


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_object_from_50_concurrent_posts_with_one_key(officer, team_a, monkeypatch):
    secret = tokens.issue_token(actor=None, user=officer, name="ci", scope=TokenScope.WRITE).secret
    create = inventory.AISystemViewSet.create_service
    answered = threading.Condition()
    counts = {"answered": 0}

    def create_once_the_others_answered(**kwargs):
        # Hold the first request in flight until every other one has had its answer.
        with answered:
            answered.wait_for(lambda: counts["answered"] >= CONCURRENT - 1, timeout=20)
        return create(**kwargs)

    monkeypatch.setattr(
        inventory.AISystemViewSet, "create_service", staticmethod(create_once_the_others_answered)
    )
    start = threading.Barrier(CONCURRENT)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            start.wait(timeout=30)
            response = post(client, key="concurrent")
            return response.status_code, dict(response.headers), response.content
        finally:
            with answered:
                counts["answered"] += 1
                answered.notify_all()
            connection.close()

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(pool.map(send, range(CONCURRENT)))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    retry = post(client, key="concurrent")

    conflicts = _check_concurrent_answers(answers, (retry.status_code, dict(retry.headers), retry.content))
    assert conflicts == CONCURRENT - 1  # all of them came while the first was in flight


def _send(base_url: str, secret: str, body: bytes, key: str = "real") -> tuple[int, dict, bytes]:
    return post_json(base_url, URL, secret, body, key=key)


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_object_from_50_concurrent_posts_to_a_real_server(gunicorn, officer, team_a):
    secret = tokens.issue_token(actor=None, user=officer, name="ci", scope=TokenScope.WRITE).secret
    body = json.dumps(PAYLOAD).encode()
    start = threading.Barrier(CONCURRENT)

    def warm_up(n):
        # Every worker's first request pays for imports and a database connection; without this
        # the first one to warm up finishes before the others reach the key.
        return _send(gunicorn, secret, json.dumps(system_payload(slug=f"warm-{n}")).encode(), key=f"w{n}")

    def send(_):
        start.wait(timeout=30)
        return _send(gunicorn, secret, body)

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        assert {status for status, _, _ in pool.map(warm_up, range(8))} == {201}
        answers = list(pool.map(send, range(CONCURRENT)))
    retried = _send(gunicorn, secret, body)

    _check_concurrent_answers(answers, retried)
    assert IdempotencyRecord.objects.get(key="real").state == IdempotencyRecord.State.COMPLETED


# --- The claim itself -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_never_takes_over_a_stale_claim_that_a_live_request_holds(officer):
    claim = idempotency.begin(client="user:1", key="slow", method="POST", path=URL, fingerprint="f")
    long_ago = timezone.now() - idempotency.STALE_AFTER - datetime.timedelta(seconds=1)
    IdempotencyRecord.objects.filter(pk=claim.record_id).update(claimed_at=long_ago)
    holding, finish = threading.Event(), threading.Event()

    def slow_request():
        try:
            with transaction.atomic():
                idempotency.hold(claim)
                holding.set()
                finish.wait(timeout=20)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        assert holding.wait(timeout=20)
        with pytest.raises(idempotency.KeyInFlight):
            idempotency.begin(client="user:1", key="slow", method="POST", path=URL, fingerprint="f")
    finally:
        finish.set()
        thread.join()

    taken_over = idempotency.begin(client="user:1", key="slow", method="POST", path=URL, fingerprint="f")
    assert isinstance(taken_over, idempotency.Claim)
    assert taken_over.token != claim.token
    idempotency.release(claim)  # the loser's release leaves the new claim alone
    assert IdempotencyRecord.objects.filter(claim_token=taken_over.token).exists()
