"""Notification preferences, webhook endpoints (secrets shown once) and the in-app inbox over the API."""

import pytest

from governance.models import IdempotencyRecord, NotificationPreference, WebhookEndpoint
from tests.factories import NotificationFactory, WebhookEndpointFactory
from tests.queries import steady_state_queries

PREFERENCES = "/api/v1/notification-preferences/"
WEBHOOKS = "/api/v1/webhook-endpoints/"
NOTIFICATIONS = "/api/v1/notifications/"
ENDPOINT = {"name": "CI alerts", "url": "https://ci.example.com/hooks/verity", "kinds": ["review_overdue"]}


# --- Preferences ----------------------------------------------------------------------------------


def test_it_lists_every_kind_with_the_defaults(api_as, engineer):
    response = api_as(engineer).get(PREFERENCES)
    assert response.status_code == 200, response.content
    rows = {row["kind"]: row for row in response.json()}
    assert "review_due" in rows and "serious_incident" in rows
    assert rows["review_due"] == {
        "kind": "review_due",
        "channels": ["email", "in_app"],
        "digest": False,
        "default": True,
    }


def test_it_sets_a_preference_by_kind(api_as, engineer):
    client = api_as(engineer)
    response = client.put(
        f"{PREFERENCES}review_due/", {"channels": ["in_app"], "digest": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"kind": "review_due", "channels": ["in_app"], "digest": True, "default": False}
    assert client.get(f"{PREFERENCES}review_due/").json()["channels"] == ["in_app"]
    preference = NotificationPreference.objects.get(user=engineer)
    assert (preference.kind, preference.channels, preference.digest) == ("review_due", ["in_app"], True)

    muted = client.put(f"{PREFERENCES}review_due/", {"channels": []}, format="json")
    assert muted.json()["channels"] == []
    assert NotificationPreference.objects.filter(user=engineer).count() == 1


def test_it_shows_each_caller_only_their_own_preferences(api_as, engineer, officer, auditor):
    api_as(engineer).put(f"{PREFERENCES}sev1/", {"channels": []}, format="json")
    officers = {row["kind"]: row for row in api_as(officer).get(PREFERENCES).json()}
    assert officers["sev1"]["default"] is True
    # An auditor reads only, yet chooses how to be told.
    mine = api_as(auditor).put(f"{PREFERENCES}sev1/", {"channels": ["email"]}, format="json")
    assert mine.status_code == 200, mine.content


@pytest.mark.parametrize(
    "kind,body,code,field",
    [
        ("review_due", {"channels": ["sms"]}, 400, "channels"),
        ("review_due", {"channels": ["webhook"]}, 400, "channels"),
        ("review_due", {"channels": "email"}, 400, "channels"),
        ("review_due", {"digest": True}, 400, "channels"),
        ("review_due", {"channels": ["email"], "digest": "often"}, 400, "digest"),
        ("no_such_kind", {"channels": ["email"]}, 404, None),
    ],
)
def test_it_answers_bad_preferences_with_field_messages(api_as, engineer, kind, body, code, field):
    response = api_as(engineer).put(f"{PREFERENCES}{kind}/", body, format="json")
    assert response.status_code == code, response.content
    if field:
        assert field in response.json()["errors"]
    assert not NotificationPreference.objects.exists()


def test_it_refuses_preference_writes_with_a_read_only_token(api_as, engineer):
    response = api_as(engineer, scope="read").put(f"{PREFERENCES}sev1/", {"channels": []}, format="json")
    assert response.status_code == 403


# --- Webhook endpoints ----------------------------------------------------------------------------


def test_it_shows_the_webhook_secret_exactly_once(api_as, engineer):
    client = api_as(engineer)
    created = client.post(WEBHOOKS, ENDPOINT, format="json")

    assert created.status_code == 201, created.content
    assert set(created["Cache-Control"].split(", ")) == {"no-store", "private"}
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert body["owner"] == "engineer"
    assert body["kinds"] == ["review_overdue"]
    assert body["is_active"] is True
    assert WebhookEndpoint.objects.get().secret == secret

    detail = client.get(f"{WEBHOOKS}{body['id']}/")
    listed = client.get(WEBHOOKS)
    patched = client.patch(f"{WEBHOOKS}{body['id']}/", {"name": "Renamed"}, format="json")
    for response in (detail, listed, patched):
        assert response.status_code == 200, response.content
        assert secret not in response.content.decode()
        assert "secret" not in response.content.decode()


def test_it_never_replays_a_secret(api_as, engineer):
    client = api_as(engineer)
    first = client.post(WEBHOOKS, ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
    replay = client.post(WEBHOOKS, ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")

    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert first.json()["secret"]
    assert replay.json()["secret"] is None
    assert replay.json()["id"] == first.json()["id"]
    assert WebhookEndpoint.objects.count() == 1
    stored = IdempotencyRecord.objects.get()
    assert first.json()["secret"].encode() not in bytes(stored.response_body)


def test_it_rotates_a_secret_and_shows_the_new_one_once(api_as, engineer):
    client = api_as(engineer)
    created = client.post(WEBHOOKS, ENDPOINT, format="json").json()
    rotated = client.post(f"{WEBHOOKS}{created['id']}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="rotate-1")
    replay = client.post(f"{WEBHOOKS}{created['id']}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="rotate-1")

    assert rotated.status_code == 200, rotated.content
    assert set(rotated["Cache-Control"].split(", ")) == {"no-store", "private"}
    new = rotated.json()["secret"]
    assert new != created["secret"]
    assert WebhookEndpoint.objects.get().secret == new
    assert replay.json() == {"id": created["id"], "secret": None}
    assert new not in client.get(f"{WEBHOOKS}{created['id']}/").content.decode()


def test_it_updates_and_deletes_an_endpoint(api_as, engineer):
    client = api_as(engineer)
    endpoint = WebhookEndpointFactory(owner=engineer, is_active=False, consecutive_failures=5)
    url = f"{WEBHOOKS}{endpoint.pk}/"

    patched = client.patch(
        url, {"url": "https://new.example.com/hook", "kinds": [], "is_active": True}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["url"] == "https://new.example.com/hook"
    assert patched.json()["kinds"] == []
    assert patched.json()["is_active"] is True
    assert patched.json()["consecutive_failures"] == 0
    secret = endpoint.secret
    endpoint.refresh_from_db()
    assert endpoint.secret == secret

    assert client.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_it_scopes_endpoints_to_their_owner(api_as, engineer, other_engineer, officer):
    mine = WebhookEndpointFactory(owner=engineer)
    theirs = WebhookEndpointFactory(owner=other_engineer)
    client = api_as(engineer)

    assert [row["id"] for row in client.get(WEBHOOKS).json()["results"]] == [mine.pk]
    assert client.get(f"{WEBHOOKS}{theirs.pk}/").status_code == 404
    assert client.patch(f"{WEBHOOKS}{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"{WEBHOOKS}{theirs.pk}/").status_code == 404
    assert client.post(f"{WEBHOOKS}{theirs.pk}/rotate-secret/").status_code == 404
    assert {row["id"] for row in api_as(officer).get(WEBHOOKS).json()["results"]} == {mine.pk, theirs.pk}
    theirs.refresh_from_db()
    assert theirs.name != "x"


def test_it_refuses_webhook_endpoints_to_auditors(api_as, auditor, engineer):
    endpoint = WebhookEndpointFactory(owner=engineer)
    client = api_as(auditor)
    assert client.get(WEBHOOKS).status_code == 403
    assert client.post(WEBHOOKS, ENDPOINT, format="json").status_code == 403
    assert client.post(f"{WEBHOOKS}{endpoint.pk}/rotate-secret/").status_code == 403
    assert client.delete(f"{WEBHOOKS}{endpoint.pk}/").status_code == 403
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({**ENDPOINT, "url": "not a url"}, "url"),
        ({**ENDPOINT, "url": "ftp://files.example.com/hook"}, "url"),
        ({**ENDPOINT, "name": ""}, "name"),
        ({**ENDPOINT, "kinds": ["everything"]}, "kinds"),
        ({**ENDPOINT, "kinds": "review_due"}, "kinds"),
        ({"url": ENDPOINT["url"]}, "name"),
        ({**ENDPOINT, "url": "https://" + "a" * 1000 + ".example.com"}, "url"),
    ],
)
def test_it_answers_bad_endpoints_with_field_messages(api_as, engineer, body, field):
    response = api_as(engineer).post(WEBHOOKS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_it_answers_a_bad_patch_with_field_messages(api_as, engineer):
    endpoint = WebhookEndpointFactory(owner=engineer)
    client = api_as(engineer)
    for body, field in [({"url": "javascript:alert(1)"}, "url"), ({"is_active": "sometimes"}, "is_active")]:
        response = client.patch(f"{WEBHOOKS}{endpoint.pk}/", body, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"]
    assert client.put(f"{WEBHOOKS}{endpoint.pk}/", ENDPOINT, format="json").status_code == 405


# --- In-app notifications -------------------------------------------------------------------------


def test_it_lists_the_callers_own_in_app_notifications(api_as, engineer, other_engineer):
    unread = NotificationFactory(recipient=engineer)
    read = NotificationFactory(recipient=engineer, read_at="2026-01-01T00:00:00Z")
    NotificationFactory(recipient=engineer, channel="email", dedupe_key="mail")
    NotificationFactory(recipient=engineer, status="pending", sent_at=None)
    NotificationFactory(recipient=other_engineer)
    client = api_as(engineer)

    assert [row["id"] for row in client.get(NOTIFICATIONS).json()["results"]] == [read.pk, unread.pk]
    assert [row["id"] for row in client.get(f"{NOTIFICATIONS}?unread=true").json()["results"]] == [unread.pk]
    assert [row["id"] for row in client.get(f"{NOTIFICATIONS}?unread=false").json()["results"]] == [read.pk]
    assert client.get(f"{NOTIFICATIONS}?unread=perhaps").status_code == 400


def test_it_marks_a_notification_read(api_as, engineer, auditor):
    mine = NotificationFactory(recipient=engineer)
    client = api_as(engineer)

    response = client.post(f"{NOTIFICATIONS}{mine.pk}/read/")
    again = client.post(f"{NOTIFICATIONS}{mine.pk}/read/")

    assert response.status_code == 200, response.content
    assert response.json()["unread"] is False
    assert again.status_code == 200
    assert again.json()["read_at"] == response.json()["read_at"]
    assert client.get(f"{NOTIFICATIONS}?unread=true").json()["results"] == []
    auditors = NotificationFactory(recipient=auditor)
    assert api_as(auditor).post(f"{NOTIFICATIONS}{auditors.pk}/read/").status_code == 200


def test_it_hides_other_peoples_notifications(api_as, engineer, other_engineer, officer):
    theirs = NotificationFactory(recipient=other_engineer)
    for client in (api_as(engineer), api_as(officer)):
        assert client.get(f"{NOTIFICATIONS}{theirs.pk}/").status_code == 404
        assert client.post(f"{NOTIFICATIONS}{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_it_refuses_marking_read_with_a_read_only_token(api_as, engineer):
    mine = NotificationFactory(recipient=engineer)
    assert api_as(engineer, scope="read").post(f"{NOTIFICATIONS}{mine.pk}/read/").status_code == 403
    assert api_as(engineer).post(NOTIFICATIONS, {}, format="json").status_code == 403


# --- Query counts ---------------------------------------------------------------------------------


def test_it_lists_notifications_and_endpoints_in_constant_queries(api_as, engineer):
    client = api_as(engineer)
    counts = []
    for batch in (10, 40):
        NotificationFactory.create_batch(batch, recipient=engineer)
        WebhookEndpointFactory.create_batch(batch, owner=engineer)
        inbox, notes = steady_state_queries(client, f"{NOTIFICATIONS}?page_size=50&unread=true")
        hooks, endpoints = steady_state_queries(client, f"{WEBHOOKS}?page_size=50")
        prefs, _ = steady_state_queries(client, PREFERENCES)
        assert len(notes["results"]) == len(endpoints["results"]) == (10 if batch == 10 else 50)
        counts.append((inbox, hooks, prefs))
    assert counts[0] == counts[1], counts
