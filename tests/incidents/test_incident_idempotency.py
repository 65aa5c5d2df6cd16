"""Retries of incident reports against a real server: one Idempotency-Key, one incident."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from governance.choices import TokenScope
from governance.services import tokens
from incidents.models import Incident
from tests.factories import AISystemFactory, incident_payload
from tests.http import post_json

CONCURRENT = 50
URL = "/api/v1/incidents/"


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_incident_from_50_concurrent_posts_with_one_key(gunicorn, engineer, team_a):
    AISystemFactory(slug="target", owning_team=team_a)
    secret = tokens.issue_token(actor=None, user=engineer, name="ci", scope=TokenScope.WRITE).secret
    body = json.dumps(incident_payload(title="Retried report")).encode()
    start = threading.Barrier(CONCURRENT)

    def warm_up(n):
        # Each worker's first request pays for imports and a connection; warm them all first.
        warm = json.dumps(incident_payload(title=f"warm-up {n}")).encode()
        return post_json(gunicorn, URL, secret, warm, key=f"warm-{n}")[0]

    def send(_):
        start.wait(timeout=30)
        return post_json(gunicorn, URL, secret, body, key="one-report")

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        assert set(pool.map(warm_up, range(8))) == {201}
        answers = list(pool.map(send, range(CONCURRENT)))

    assert Incident.objects.filter(title="Retried report").count() == 1
    created = {answer_body for status, _, answer_body in answers if status == 201}
    conflicts = [headers for status, headers, _ in answers if status == 409]
    assert len(created) == 1, "every 201 is the original or its byte-for-byte replay"
    assert sum(1 for status, _, _ in answers if status == 201) + len(conflicts) == CONCURRENT
    assert all(headers.get("Retry-After") for headers in conflicts)

    status, headers, retried = post_json(gunicorn, URL, secret, body, key="one-report")
    assert (status, headers.get("Idempotent-Replayed"), retried) == (201, "true", created.pop())
