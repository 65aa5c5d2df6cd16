"""The review and evidence scans: what falls due when, who hears of it, and never twice.

Time is passed to the scans as ``now=``: a test travels by calling them with later times.
"""

import datetime
import threading
from collections import Counter

import pytest
from celery import current_app
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import choices
from governance.exceptions import Conflict, NotAllowed
from governance.models import Evidence, Notification, Review, ReviewPolicy, TeamMembership
from governance.services import notifications, review_scans, reviews, webhooks
from tests.factories import (
    AISystemFactory,
    NotificationFactory,
    ReviewFactory,
    TeamFactory,
    UserFactory,
    WebhookEndpointFactory,
)

DAY = datetime.timedelta(days=1)


@pytest.fixture
def people(db):
    """A team with a lead and a plain member, two owners and an officer."""
    team = TeamFactory(slug="scan-team")
    lead = UserFactory(username="lead", role=choices.Role.ENGINEER)
    member = UserFactory(username="member", role=choices.Role.ENGINEER)
    TeamMembership.objects.create(team=team, user=lead, is_lead=True)
    TeamMembership.objects.create(team=team, user=member)
    return {
        "team": team,
        "lead": lead,
        "member": member,
        "business": UserFactory(username="business"),
        "technical": UserFactory(username="technical", teams=[team]),
        "officer": UserFactory(username="chief-officer", role=choices.Role.OFFICER),
    }


def _review(people, *, due_in, **fields):
    system = AISystemFactory(
        owning_team=people["team"], business_owner=people["business"], technical_owner=people["technical"]
    )
    return ReviewFactory(system=system, due_at=timezone.now() + due_in, **fields)


def _low_tier_policy(**fields):
    """The low tier's policy (migration 0012 made it) with these values."""
    ReviewPolicy.objects.update_or_create(
        risk_tier="low", eu_ai_act_class="", defaults={"cadence_days": 730, **fields}
    )


def _rows(kind=None):
    rows = Notification.objects.all()
    return rows.filter(kind=kind) if kind else rows


def _keys(kind):
    return sorted(_rows(kind).values_list("dedupe_key", flat=True))


def _recipients(kind):
    return set(_rows(kind).values_list("recipient__username", flat=True))


# --- Reminders ---------------------------------------------------------------------------------


def test_it_reminds_owners_and_officers_at_each_lead_time(people):
    review = _review(people, due_in=40 * DAY)
    base = timezone.now()
    assert review_scans.scan_reviews(now=base)["review_due"] == 0
    written = review_scans.scan_reviews(now=base + 10 * DAY + datetime.timedelta(hours=1))
    assert written["review_due"] == 6  # three people, e-mail and in-app
    assert _recipients("review_due") == {"business", "technical", "chief-officer"}
    day = review.due_at.astimezone(datetime.UTC).strftime("%Y%m%d")
    assert {key.rsplit(":", 2)[0] for key in _keys("review_due")} == {f"review:{review.pk}:due:{day}:30d"}
    row = _rows("review_due").filter(channel="email").first()
    assert (row.subject_type, row.subject_id, row.status) == ("governance.review", str(review.pk), "pending")
    assert row.payload["lead_days"] == 30 and row.payload["system"] == review.system.slug
    assert review_scans.scan_reviews(now=base + 11 * DAY)["review_due"] == 0
    assert review_scans.scan_reviews(now=base + 34 * DAY)["review_due"] == 6  # the 7-day reminder


def test_it_includes_the_reviewer_and_only_active_people(people):
    people["business"].is_active = False
    people["business"].save()
    _review(people, due_in=10 * DAY, reviewer=people["member"])
    review_scans.scan_reviews(now=timezone.now() + 4 * DAY)
    assert _recipients("review_due") == {"technical", "member", "chief-officer"}


def test_it_writes_each_reminder_missed_while_the_worker_was_down_once(people):
    _low_tier_policy(reminder_lead_days=[3, 2, 1])
    review = _review(people, due_in=10 * DAY)
    base = timezone.now()
    assert review_scans.scan_reviews(now=base + 6 * DAY)["review_due"] == 0
    # The worker is down from day 6 to day 9.5: the 3-, 2- and 1-day reminders all fall due meanwhile.
    back = base + 9 * DAY + datetime.timedelta(hours=12)
    assert review_scans.scan_reviews(now=back)["review_due"] == 3 * 6
    leads = Counter(key.split(":")[4] for key in _keys("review_due"))
    assert leads == {"3d": 6, "2d": 6, "1d": 6}
    assert review_scans.scan_reviews(now=back)["review_due"] == 0
    assert review_scans.scan_reviews(now=back + datetime.timedelta(hours=1))["review_due"] == 0
    assert _rows("review_due").count() == 18
    assert review.pk and _rows().exclude(kind="review_due").count() == 0


def test_it_skips_lead_times_that_passed_before_the_review_was_scheduled(people):
    _review(people, due_in=5 * DAY)  # scheduled inside the 30- and 7-day windows
    now = timezone.now() + datetime.timedelta(hours=1)
    assert review_scans.scan_reviews(now=now)["review_due"] == 0
    review_scans.scan_reviews(now=now + 4 * DAY)
    assert {key.split(":")[4] for key in _keys("review_due")} == {"1d"}


# --- Overdue and escalation --------------------------------------------------------------------


def test_it_marks_late_reviews_overdue_and_says_so_once(people):
    late = _review(people, due_in=2 * DAY, status="in_progress", reviewer=people["member"])
    waived = _review(people, due_in=DAY, status="waived", waived_reason="Merged into the audit.")
    on_time = _review(people, due_in=20 * DAY)
    now = timezone.now() + 3 * DAY
    result = review_scans.scan_reviews(now=now)
    assert result["overdue_reviews"] == 1
    assert dict(Review.objects.values_list("pk", "status")) == {
        late.pk: "overdue",
        waived.pk: "waived",
        on_time.pk: "scheduled",
    }
    assert result["review_overdue"] == 8
    assert _recipients("review_overdue") == {"business", "technical", "member", "chief-officer"}
    assert review_scans.scan_reviews(now=now + DAY)["review_overdue"] == 0


def test_it_escalates_to_team_leads_and_officers_after_the_policy_delay(people):
    _low_tier_policy(escalate_after_days=5)
    review = _review(people, due_in=DAY)
    base = timezone.now()
    assert review_scans.scan_reviews(now=base + 5 * DAY)["review_escalation"] == 0
    assert (
        review_scans.scan_reviews(now=base + 6 * DAY + datetime.timedelta(hours=1))["review_escalation"] == 4
    )
    assert _recipients("review_escalation") == {"lead", "chief-officer"}
    assert _keys("review_escalation")[0].startswith(f"review:{review.pk}:escalation:")
    assert review_scans.scan_reviews(now=base + 9 * DAY)["review_escalation"] == 0


def test_it_sends_an_overdue_notice_instead_of_reminders_for_a_material_change(people):
    review = _review(people, due_in=60 * DAY)
    reviews.require_review_now(system=review.system, reason="Primary model changed.")
    result = review_scans.scan_reviews(now=timezone.now() + datetime.timedelta(minutes=5))
    assert (result["review_due"], result["review_overdue"]) == (0, 6)
    assert _rows("review_overdue").first().payload["reason"] == "Primary model changed."


def test_it_leaves_closed_reviews_alone(people):
    _review(people, due_in=DAY, status="completed", outcome="approved", signed_off_at=timezone.now())
    assert review_scans.scan_reviews(now=timezone.now() + 20 * DAY) == {
        "overdue_reviews": 0,
        "review_due": 0,
        "review_overdue": 0,
        "review_escalation": 0,
    }


def test_it_scans_with_a_fixed_number_of_statements(people):
    def statements(reviews_due):
        Notification.objects.all().delete()
        Review.objects.all().delete()
        for _ in range(reviews_due):
            _review(people, due_in=5 * DAY)
            _review(people, due_in=-10 * DAY)
        with CaptureQueriesContext(connection) as ctx:
            result = review_scans.scan_reviews(now=timezone.now() + 4 * DAY + datetime.timedelta(hours=1))
        assert result["review_due"] == 6 * reviews_due
        return len(ctx.captured_queries)

    assert statements(2) == statements(20)


def test_it_runs_the_scans_from_the_beat_tasks(people):
    from config.celery import app
    from governance.tasks import reviews as review_tasks

    _review(people, due_in=-DAY)
    assert {"governance.tasks.scan_reviews", "governance.tasks.scan_evidence_expiry"} <= set(app.tasks)
    assert review_tasks.scan_reviews.apply().get()["overdue_reviews"] == 1
    assert review_tasks.scan_evidence_expiry.apply().get() == {"evidence_expiring": 0}


# --- Concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_writes_no_duplicates_when_two_scans_run_at_once():
    officer = UserFactory(username="officer-on-duty", role=choices.Role.OFFICER)
    owner = UserFactory(username="owner")
    for _ in range(30):
        ReviewFactory(system=AISystemFactory(business_owner=owner), due_at=timezone.now() + 5 * DAY)
    now = timezone.now() + 4 * DAY + datetime.timedelta(hours=1)
    barrier, results, errors = threading.Barrier(2), [], []

    def scan():
        try:
            barrier.wait(timeout=10)
            results.append(review_scans.scan_reviews(now=now)["review_due"])
        except Exception as exc:  # reported below: an assertion in a thread would pass silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    expected = 30 * 2 * 2  # 30 reviews, owner and officer, e-mail and in-app
    assert sum(results) == expected
    keys = list(Notification.objects.values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == expected
    assert officer.pk in set(Notification.objects.values_list("recipient_id", flat=True))


# --- Evidence ----------------------------------------------------------------------------------


def _evidence(*, valid_for, owner=None, uploaded_by=None):
    return Evidence.objects.create(
        title="Bias audit 2025",
        kind="link",
        url="https://example.com/audit",
        collected_on=timezone.localdate() - 300 * DAY,
        valid_until=timezone.localdate() + valid_for,
        owner=owner,
        uploaded_by=uploaded_by,
    )


def test_it_warns_of_expiring_evidence_at_each_lead_time(people):
    owned = _evidence(valid_for=40 * DAY, owner=people["member"], uploaded_by=people["technical"])
    uploaded = _evidence(valid_for=20 * DAY, uploaded_by=people["technical"])
    _evidence(valid_for=-2 * DAY, owner=people["member"])  # already expired
    now = timezone.now().replace(hour=12, minute=0)  # midday: days away stay whole days away
    assert review_scans.scan_evidence_expiry(now=now)["evidence_expiring"] == 0
    later = now + 14 * DAY  # the first one's 30-day and the second one's 7-day notice
    assert review_scans.scan_evidence_expiry(now=later)["evidence_expiring"] == 8
    assert review_scans.scan_evidence_expiry(now=later)["evidence_expiring"] == 0
    by_subject = {
        subject: set(_rows().filter(subject_id=str(subject)).values_list("recipient__username", flat=True))
        for subject in (owned.pk, uploaded.pk)
    }
    assert by_subject == {owned.pk: {"member", "chief-officer"}, uploaded.pk: {"technical", "chief-officer"}}
    row = _rows("evidence_expiring").filter(subject_id=str(owned.pk)).first()
    assert row.payload["expires_at"] == owned.valid_until.isoformat() and row.payload["lead_days"] == 30
    assert f"evidence:{owned.pk}:expiring:{owned.valid_until.isoformat()}:30d" in {
        key.rsplit(":", 2)[0] for key in _keys("evidence_expiring")
    }
    # Down for almost a month: the first one's 7- and 1-day notices, once each; the second one has
    # expired meanwhile, and expired evidence is past warning.
    assert review_scans.scan_evidence_expiry(now=now + 39 * DAY) == {"evidence_expiring": 2 * 4}
    assert review_scans.scan_evidence_expiry(now=now + 39 * DAY) == {"evidence_expiring": 0}


# --- Writing the outbox ------------------------------------------------------------------------


def _enqueue(recipients, key="event:1", kind="review_due", now=None):
    return notifications.enqueue(
        kind=kind,
        recipients=recipients,
        subject_type="governance.review",
        subject_id="1",
        subject_label="Review of Ticket summariser",
        key=key,
        payload={"due_at": timezone.now()},
        now=now,
    )


def _channels():
    return sorted(Notification.objects.values_list("recipient__username", "channel", "in_digest"))


def test_it_writes_one_row_per_channel_of_each_recipients_preference(officer, engineer, auditor):
    notifications.set_preference(actor=engineer, kind="review_due", channels=["in_app"], digest=False)
    notifications.set_preference(actor=auditor, kind="review_due", channels=[], digest=False)
    WebhookEndpointFactory(owner=auditor)  # muted: an empty list stops the kind, webhooks included
    assert _enqueue([officer, engineer, auditor, engineer]) == 3
    assert _channels() == [
        ("engineer", "in_app", False),
        ("officer", "email", False),
        ("officer", "in_app", False),
    ]
    assert set(Notification.objects.values_list("dedupe_key", flat=True)) == {
        f"event:1:email:u{officer.pk}",
        f"event:1:in_app:u{officer.pk}",
        f"event:1:in_app:u{engineer.pk}",
    }
    assert _enqueue([officer, engineer, auditor]) == 0


def test_it_adds_a_row_per_subscribed_active_endpoint(officer):
    every = WebhookEndpointFactory(owner=officer)
    reviews_only = WebhookEndpointFactory(owner=officer, kinds=["review_due"])
    WebhookEndpointFactory(owner=officer, kinds=["sev1"])
    WebhookEndpointFactory(owner=officer, is_active=False)
    WebhookEndpointFactory(owner=officer, disabled_at=timezone.now(), disabled_reason="410 Gone")
    _enqueue([officer])
    hooks = Notification.objects.filter(channel="webhook")
    assert set(hooks.values_list("endpoint_id", flat=True)) == {every.pk, reviews_only.pk}
    assert set(hooks.values_list("recipient_id", flat=True)) == {officer.pk}
    assert f"event:1:webhook:e{every.pk}" in set(hooks.values_list("dedupe_key", flat=True))


def test_it_holds_rows_for_the_digest_of_a_digest_preference(settings, officer, engineer):
    settings.VERITY_DIGEST_HOUR = 7
    notifications.set_preference(actor=engineer, kind="review_due", channels=["email"], digest=True)
    now = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
    _enqueue([officer, engineer], now=now)
    digest = Notification.objects.get(recipient=engineer)
    assert (digest.channel, digest.in_digest) == ("email", True)
    assert digest.next_attempt_at == datetime.datetime(2026, 3, 3, 7, tzinfo=datetime.UTC)
    assert set(Notification.objects.filter(recipient=officer).values_list("next_attempt_at", flat=True)) == {
        now
    }


def test_it_finds_the_next_digest_time_in_the_local_time_zone(settings):
    settings.TIME_ZONE, settings.VERITY_DIGEST_HOUR = "Europe/Berlin", 8
    before = datetime.datetime(2026, 7, 1, 5, 59, tzinfo=datetime.UTC)  # 07:59 in Berlin
    assert notifications.next_digest_at(before) == datetime.datetime(2026, 7, 1, 6, tzinfo=datetime.UTC)
    after = datetime.datetime(2026, 7, 1, 6, 0, tzinfo=datetime.UTC)
    assert notifications.next_digest_at(after) == datetime.datetime(2026, 7, 2, 6, tzinfo=datetime.UTC)


def test_it_requests_delivery_after_commit(
    monkeypatch, django_capture_on_commit_callbacks, officer, engineer
):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=None, **kw: sent.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue([officer, engineer])
        assert sent == []
    ids = sorted(Notification.objects.values_list("pk", flat=True))
    assert sorted(sent) == [("governance.tasks.deliver_notification", [pk]) for pk in ids]

    sent.clear()
    many = [UserFactory() for _ in range(51)]
    with django_capture_on_commit_callbacks(execute=True):
        assert _enqueue(many, key="event:2") == 102
    assert sent == [("governance.tasks.deliver_due", None)]


def test_it_keeps_the_rows_when_the_broker_is_down(monkeypatch, django_capture_on_commit_callbacks, officer):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(current_app, "send_task", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        assert _enqueue([officer]) == 2
    assert Notification.objects.filter(status="pending").count() == 2


# --- Notification settings ---------------------------------------------------------------------


def test_it_validates_preferences(engineer):
    with pytest.raises(ValidationError) as error:
        notifications.set_preference(actor=engineer, kind="gossip", channels=["email"], digest=False)
    assert "kind" in error.value.message_dict
    for channels in (["webhook"], ["email", "email"], ["pigeon"]):
        with pytest.raises(ValidationError) as error:
            notifications.set_preference(actor=engineer, kind="sev1", channels=channels, digest=False)
        assert "channels" in error.value.message_dict
    first = notifications.set_preference(actor=engineer, kind="sev1", channels=["email"], digest=False)
    second = notifications.set_preference(actor=engineer, kind="sev1", channels=["in_app"], digest=True)
    assert first.pk == second.pk and (second.channels, second.digest) == (["in_app"], True)


def test_it_creates_webhook_endpoints_with_a_secret_shown_once(engineer, auditor):
    endpoint, secret = webhooks.create_webhook_endpoint(
        actor=engineer, name="Pager", url="https://pager.example.com/hook", kinds=["sev1"]
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert (endpoint.owner, endpoint.secret, endpoint.kinds) == (engineer, secret, ["sev1"])
    for url in ("ftp://example.com/x", "javascript:alert(1)", ""):
        with pytest.raises(ValidationError) as error:
            webhooks.create_webhook_endpoint(actor=engineer, name="Bad", url=url, kinds=[])
        assert "url" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        webhooks.create_webhook_endpoint(actor=engineer, name="Bad", url="https://x.example", kinds=["x"])
    assert "kinds" in error.value.message_dict
    with pytest.raises(NotAllowed):
        webhooks.create_webhook_endpoint(actor=auditor, name="Audit", url="https://a.example", kinds=[])


def test_it_rotates_a_secret_for_its_owner_or_an_officer(officer, engineer, other_engineer):
    endpoint, secret = webhooks.create_webhook_endpoint(
        actor=engineer, name="Pager", url="https://pager.example.com/hook", kinds=[]
    )
    rotated = webhooks.rotate_webhook_secret(actor=engineer, endpoint=endpoint)
    assert rotated != secret and rotated.startswith("whsec_")
    assert webhooks.rotate_webhook_secret(actor=officer, endpoint=endpoint) != rotated
    with pytest.raises(NotAllowed):
        webhooks.rotate_webhook_secret(actor=other_engineer, endpoint=endpoint)


def test_it_lets_officers_retry_failed_and_dead_rows(
    monkeypatch, django_capture_on_commit_callbacks, officer, engineer
):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=None, **kw: sent.append((name, args)))
    dead = NotificationFactory(status="dead", attempts=8, last_error="timeout", lease_until=timezone.now())
    with pytest.raises(NotAllowed):
        notifications.retry_notification(actor=engineer, notification=dead)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        retried = notifications.retry_notification(actor=officer, notification=dead, now=now)
    assert (retried.status, retried.attempts, retried.next_attempt_at, retried.lease_until) == (
        "pending",
        8,
        now,
        None,
    )
    assert sent == [("governance.tasks.deliver_notification", [dead.pk])]
    with pytest.raises(Conflict):
        notifications.retry_notification(actor=officer, notification=NotificationFactory(status="sent"))


def test_it_lets_only_the_recipient_mark_an_in_app_row_read(officer, engineer):
    row = NotificationFactory(recipient=engineer)
    with pytest.raises(NotAllowed):
        notifications.mark_read(actor=officer, notification=row)
    now = timezone.now()
    assert notifications.mark_read(actor=engineer, notification=row, now=now).read_at == now
    assert notifications.mark_read(actor=engineer, notification=row).read_at == now
    with pytest.raises(Conflict):
        notifications.mark_read(
            actor=engineer, notification=NotificationFactory(recipient=engineer, channel="email")
        )
