"""Reviews and notifications in the admin (Django test client): the review queue and its filters,
the review form, the outbox's retry action, the inbox, webhook secrets and preferences."""

import datetime

import pytest
from django.utils import timezone

from governance.models import Notification, NotificationPreference, Review, ReviewPolicy, WebhookEndpoint
from tests.factories import (
    AISystemFactory,
    NotificationFactory,
    ReviewFactory,
    ReviewPolicyFactory,
    WebhookEndpointFactory,
)

REVIEWS = "/admin/governance/review/"
OUTBOX = "/admin/governance/notification/"
INBOX = "/admin/governance/notification/inbox/"
WEBHOOKS = "/admin/governance/webhookendpoint/"
PREFERENCES = "/admin/governance/notificationpreference/"
POLICIES = "/admin/governance/reviewpolicy/"


def _days(n):
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def queue(system_a, team_a, team_b):
    """An overdue review, one due in 3 days, one in 20 days, and another team's overdue one."""
    return {
        "overdue": ReviewFactory(system=system_a, due_at=_days(-4), status="overdue"),
        "week": ReviewFactory(
            system=AISystemFactory(name="Soon system", owning_team=team_a), due_at=_days(3)
        ),
        "later": ReviewFactory(
            system=AISystemFactory(name="Later system", owning_team=team_a), due_at=_days(20)
        ),
        "theirs": ReviewFactory(
            system=AISystemFactory(name="Their system", owning_team=team_b),
            due_at=_days(-1),
            status="overdue",
        ),
    }


def _listed(client, query=""):
    response = client.get(f"{REVIEWS}?{query}")
    assert response.status_code == 200, response.content[:2000]
    return {review.pk for review in response.context["cl"].result_list}


# --- The review queue -----------------------------------------------------------------------------


def test_it_filters_the_review_queue(client, officer, queue):
    client.force_login(officer)
    ids = {name: review.pk for name, review in queue.items()}

    assert _listed(client) == set(ids.values())
    assert _listed(client, "due=due_soon") == {ids["week"]}
    assert _listed(client, "due=upcoming") == {ids["later"]}
    assert _listed(client, "due=overdue") == {ids["overdue"], ids["theirs"]}
    assert _listed(client, "status__exact=scheduled") == {ids["week"], ids["later"]}
    page = client.get(REVIEWS).content.decode()
    assert page.count('class="review-overdue"') == 2
    assert "4 d overdue" in page or "3 d overdue" in page


def test_it_shows_engineers_only_their_teams_reviews(client, engineer, queue):
    client.force_login(engineer)
    assert queue["theirs"].pk not in _listed(client)
    assert client.get(f"{REVIEWS}{queue['theirs'].pk}/change/").status_code == 302  # "does not exist"
    page = client.get(f"{REVIEWS}{queue['overdue'].pk}/change/")
    assert page.status_code == 200
    assert 'name="_complete"' not in page.content.decode()


def test_it_filters_by_outcome(client, officer, system_a):
    ReviewFactory(
        system=system_a,
        status="completed",
        outcome="suspend",
        answers={"purpose": "No", "incidents": "No"},
        signed_off_at=_days(-1),
    )
    client.force_login(officer)
    assert len(_listed(client, "outcome__exact=suspend")) == 1
    assert _listed(client, "outcome__exact=approved") == set()


# --- The review form ------------------------------------------------------------------------------


def _decision(**fields):
    return {
        "answer__purpose": "Still accurate.",
        "answer__incidents": "One, closed.",
        "outcome": "approved",
        "conditions": "",
        "waive_reason": "",
        "_complete": "Complete review",
        **fields,
    }


def test_it_asks_each_checklist_question_in_its_own_field(client, officer, system_a):
    review = ReviewFactory(system=system_a)
    client.force_login(officer)
    page = client.get(f"{REVIEWS}{review.pk}/change/").content.decode()
    assert 'name="answer__purpose"' in page
    assert 'name="answer__incidents"' in page
    assert "Is the documented purpose still accurate?" in page
    assert 'name="_complete"' in page and 'name="_waive"' in page
    assert 'name="_save"' not in page


def test_it_completes_a_review_from_the_form(client, officer, system_a):
    ReviewPolicyFactory(cadence_days=200)
    review = ReviewFactory(system=system_a)
    client.force_login(officer)

    response = client.post(f"{REVIEWS}{review.pk}/change/", _decision())

    assert response.status_code == 302, response.content.decode()[:3000]
    review.refresh_from_db()
    assert review.status == "completed"
    assert review.outcome == "approved"
    assert review.answers == {"purpose": "Still accurate.", "incidents": "One, closed."}
    assert review.signed_off_by == officer
    upcoming = Review.objects.open().get(system=system_a)
    assert upcoming.due_at.date() == _days(200).date()
    closed = client.get(f"{REVIEWS}{review.pk}/change/").content.decode()
    assert 'name="_complete"' not in closed
    assert "One, closed." in closed


def test_it_shows_the_services_refusals_on_the_form(client, officer, system_a):
    review = ReviewFactory(system=system_a)
    client.force_login(officer)

    unanswered = client.post(f"{REVIEWS}{review.pk}/change/", _decision(answer__incidents=""))
    no_conditions = client.post(
        f"{REVIEWS}{review.pk}/change/", _decision(outcome="approved_with_conditions")
    )

    assert unanswered.status_code == 200
    assert "answer__incidents" in unanswered.context["adminform"].form.errors
    assert no_conditions.status_code == 200
    assert "conditions" in no_conditions.context["adminform"].form.errors
    review.refresh_from_db()
    assert review.status == "scheduled"
    assert Review.objects.count() == 1


def test_it_waives_a_review_with_a_reason(client, officer, system_a):
    review = ReviewFactory(system=system_a)
    client.force_login(officer)
    form = _decision(waive_reason="System retired this month.")
    del form["_complete"]

    refused = client.post(f"{REVIEWS}{review.pk}/change/", {**form, "waive_reason": "", "_waive": "Waive"})
    waived = client.post(f"{REVIEWS}{review.pk}/change/", {**form, "_waive": "Waive"})

    assert refused.status_code == 200
    assert "waive_reason" in refused.context["adminform"].form.errors
    assert waived.status_code == 302
    review.refresh_from_db()
    assert (review.status, review.waived_reason) == ("waived", "System retired this month.")
    assert Review.objects.open().filter(system=system_a).exists()


def test_it_keeps_reviews_read_only_for_auditors(client, auditor, system_a):
    review = ReviewFactory(system=system_a)
    client.force_login(auditor)

    page = client.get(f"{REVIEWS}{review.pk}/change/")
    posted = client.post(f"{REVIEWS}{review.pk}/change/", _decision())

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_complete"' not in html and 'name="answer__purpose"' not in html
    assert "Is the documented purpose still accurate?" in html
    assert posted.status_code == 403
    review.refresh_from_db()
    assert review.status == "scheduled"


def test_it_edits_a_review_policy_with_its_questions(client, officer):
    client.force_login(officer)
    form = {
        "risk_tier": "high",
        "eu_ai_act_class": "high_risk",
        "cadence_days": "120",
        "reminder_lead_days": "14,3",
        "escalate_after_days": "5",
        "checklist": "purpose: Is the purpose still right?\nfria: Is the FRIA up to date?",
        "_save": "Save",
    }
    bad = client.post(f"{POLICIES}add/", {**form, "checklist": "no key here"})
    added = client.post(f"{POLICIES}add/", form)

    assert bad.status_code == 200
    assert "checklist" in bad.context["adminform"].form.errors
    assert added.status_code == 302, added.content.decode()[:3000]
    policy = ReviewPolicy.objects.get(risk_tier="high", eu_ai_act_class="high_risk")
    assert policy.cadence_days == 120
    assert policy.reminder_lead_days == [14, 3]
    assert policy.checklist == [
        {"key": "purpose", "question": "Is the purpose still right?"},
        {"key": "fria", "question": "Is the FRIA up to date?"},
    ]
    page = client.get(f"{POLICIES}{policy.pk}/change/").content.decode()
    assert "fria: Is the FRIA up to date?" in page


# --- Outbox and inbox -----------------------------------------------------------------------------


def test_it_retries_failed_deliveries_from_the_outbox(client, officer, engineer):
    failed = NotificationFactory(
        recipient=engineer,
        channel="email",
        status="dead",
        attempts=8,
        last_error="SMTP 550 mailbox unavailable",
        sent_at=None,
        next_attempt_at=_days(-1),
    )
    sent = NotificationFactory(recipient=engineer)
    client.force_login(officer)

    listing = client.get(OUTBOX).content.decode()
    response = client.post(
        OUTBOX, {"action": "retry_delivery", "_selected_action": [failed.pk, sent.pk]}, follow=True
    )

    assert "SMTP 550 mailbox unavailable" in listing
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == "pending"
    assert failed.attempts == 8
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert "queued for delivery again" in response.content.decode()


def test_it_offers_no_retry_to_engineers(client, engineer):
    mine = NotificationFactory(recipient=engineer, status="failed")
    client.force_login(engineer)
    page = client.get(OUTBOX)
    assert page.status_code == 200
    assert "retry_delivery" not in page.content.decode()
    client.post(OUTBOX, {"action": "retry_delivery", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.status == "failed"


def test_it_shows_my_unread_notifications_and_marks_them_read(client, engineer, other_engineer):
    first = NotificationFactory(recipient=engineer, subject_label="Review of Chat assistant")
    second = NotificationFactory(recipient=engineer, subject_label="Review of Scoring model")
    NotificationFactory(recipient=engineer, subject_label="Already read", read_at=timezone.now())
    NotificationFactory(recipient=other_engineer, subject_label="Someone else's")
    client.force_login(engineer)

    page = client.get(INBOX).content.decode()
    assert "Review of Chat assistant" in page and "Review of Scoring model" in page
    assert "Already read" not in page and "Someone else's" not in page
    assert "My notifications (2 unread)" in client.get(OUTBOX).content.decode()

    client.post(INBOX, {"notification": first.pk})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None

    client.post(INBOX, {"all": "1"})
    second.refresh_from_db()
    assert second.read_at is not None
    assert "Nothing unread." in client.get(INBOX).content.decode()


def test_it_cannot_mark_someone_elses_notification_read(client, engineer, other_engineer):
    theirs = NotificationFactory(recipient=other_engineer)
    client.force_login(engineer)
    client.post(INBOX, {"notification": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- Webhook endpoints and preferences ------------------------------------------------------------


def test_it_shows_a_new_webhook_secret_once(client, engineer):
    client.force_login(engineer)
    response = client.post(
        f"{WEBHOOKS}add/",
        {"name": "Pager", "url": "https://pager.example.com/verity", "kinds": ["sev1"], "_save": "Save"},
    )

    assert response.status_code == 200, response.content.decode()[:3000]
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.owner == engineer
    assert endpoint.secret in response.content.decode()
    change = client.get(f"{WEBHOOKS}{endpoint.pk}/change/").content.decode()
    listing = client.get(WEBHOOKS).content.decode()
    assert endpoint.secret not in change and endpoint.secret not in listing


def test_it_refuses_a_bad_webhook_url_on_the_form(client, engineer):
    client.force_login(engineer)
    response = client.post(
        f"{WEBHOOKS}add/", {"name": "Files", "url": "ftp://files.example.com/", "_save": "Save"}
    )
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_it_rotates_a_webhook_secret_and_shows_it_once(client, engineer, other_engineer):
    mine = WebhookEndpointFactory(owner=engineer)
    theirs = WebhookEndpointFactory(owner=other_engineer)
    old = mine.secret
    client.force_login(engineer)

    response = client.post(WEBHOOKS, {"action": "rotate_secret", "_selected_action": [mine.pk, theirs.pk]})

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.secret != old
    assert mine.secret in response.content.decode()
    assert theirs.secret not in response.content.decode()
    assert client.get(f"{WEBHOOKS}{theirs.pk}/change/").status_code == 302


def test_it_changes_a_webhook_endpoint_in_the_admin(client, engineer):
    endpoint = WebhookEndpointFactory(owner=engineer, is_active=False)
    client.force_login(engineer)
    response = client.post(
        f"{WEBHOOKS}{endpoint.pk}/change/",
        {"name": "Renamed", "url": endpoint.url, "kinds": ["review_due"], "is_active": "on", "_save": "Save"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.kinds, endpoint.is_active) == ("Renamed", ["review_due"], True)


def test_it_keeps_preferences_to_their_owner(client, engineer, officer):
    theirs = NotificationPreference.objects.create(user=officer, kind="sev1", channels=["email"])
    client.force_login(engineer)

    added = client.post(f"{PREFERENCES}add/", {"kind": "review_due", "channels": ["in_app"], "_save": "Save"})

    assert added.status_code == 302, added.content.decode()[:3000]
    mine = NotificationPreference.objects.get(user=engineer)
    assert (mine.kind, mine.channels, mine.digest) == ("review_due", ["in_app"], False)
    assert [row.pk for row in client.get(PREFERENCES).context["cl"].result_list] == [mine.pk]
    assert client.get(f"{PREFERENCES}{theirs.pk}/change/").status_code == 302
    client.force_login(officer)
    page = client.get(f"{PREFERENCES}{mine.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # officers see everyone's, change their own


def test_it_lists_the_outbox_in_constant_queries(client, officer, engineer):
    NotificationFactory.create_batch(5, recipient=engineer)
    client.force_login(officer)
    client.get(OUTBOX)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(OUTBOX)
    NotificationFactory.create_batch(40, recipient=engineer, endpoint=WebhookEndpointFactory(owner=engineer))
    with CaptureQueriesContext(connection) as large:
        client.get(OUTBOX)
    assert len(small) == len(large), (len(small), len(large))
    assert Notification.objects.count() == 45


def test_it_marks_team_leads_on_the_team_page(client, officer, engineer, team_a):
    client.force_login(officer)
    page = client.get(f"/admin/governance/team/{team_a.pk}/change/").content.decode()
    assert 'name="memberships-0-is_lead"' in page
