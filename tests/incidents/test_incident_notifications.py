"""Incident notifications: SEV1 and serious incidents to the outbox (and SEV1 to a review), and
the clock scan's SLA breaches and Art. 73 deadlines."""

import datetime

import pytest
from celery import current_app
from django.utils import timezone

from governance.choices import ReviewTrigger, Role
from governance.models import Notification, Review, TeamMembership
from incidents.models import Incident
from incidents.services import clock_scans, lifecycle, notifications
from incidents.services import incidents as services
from incidents.tasks.clocks import scan_incident_clocks
from tests.factories import AISystemFactory, IncidentFactory, TeamFactory, UserFactory

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def queued(monkeypatch):
    """Deliveries requested from Celery (instead of a broker)."""
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=None, **kw: sent.append((name, args)))
    return sent


@pytest.fixture
def people(db, team_a):
    lead = UserFactory(username="lead", role=Role.ENGINEER)
    TeamMembership.objects.create(team=team_a, user=lead, is_lead=True)
    return {
        "officer": UserFactory(username="chief", role=Role.OFFICER),
        "business": UserFactory(username="business-owner"),
        "technical": UserFactory(username="tech-owner"),
        "lead": lead,
        "member": UserFactory(username="member", role=Role.ENGINEER, teams=[team_a]),
        "retired_officer": UserFactory(username="retired", role=Role.OFFICER, is_active=False),
        "other_lead": _lead_of(TeamFactory()),
    }


def _lead_of(team):
    user = UserFactory(role=Role.ENGINEER)
    TeamMembership.objects.create(team=team, user=user, is_lead=True)
    return user


@pytest.fixture
def system(people, team_a):
    return AISystemFactory(
        slug="refunds",
        name="Refund assistant",
        owning_team=team_a,
        business_owner=people["business"],
        technical_owner=people["technical"],
    )


def _report(actor, system, **overrides):
    now = timezone.now()
    data = {
        "system": system,
        "title": "Chatbot promised a refund",
        "occurred_at": now - 3 * HOUR,
        "severity": "SEV3",
        "source": "api",
        **overrides,
    }
    incident, _ = services.create_incident(actor=actor, data=data)
    return incident


def _rows(incident, kind):
    return Notification.objects.filter(
        subject_type="incidents.incident", subject_id=str(incident.pk), kind=kind
    )


def _recipients(rows):
    return {row.recipient.username for row in rows}


# --- SEV1 and serious incidents -------------------------------------------------------------------


def test_a_sev1_is_written_to_the_outbox_for_officers_owners_and_team_leads(
    people, system, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = _report(people["officer"], system, severity="SEV1")

    rows = _rows(incident, "sev1")
    assert _recipients(rows) == {"chief", "business-owner", "tech-owner", "lead"}
    assert rows.count() == 8  # e-mail and in-app each, the default channels
    row = rows.get(recipient=people["lead"], channel="email")
    assert row.dedupe_key == f"incident:{incident.pk}:sev1:email:u{people['lead'].pk}"
    assert row.subject_label == f"{incident.reference} Chatbot promised a refund"
    assert row.payload["reference"] == incident.reference
    assert row.payload["system_name"] == "Refund assistant"
    assert row.payload["reason"] == "Reported as SEV1."
    assert row.status == "pending"
    assert sorted(args[0] for _, args in queued) == sorted(rows.values_list("pk", flat=True))


def test_a_sev1_makes_a_review_of_the_system_due_now(
    people, system, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = _report(people["officer"], system, severity="SEV1")

    review = Review.objects.get(system=system)
    assert review.trigger == ReviewTrigger.MATERIAL_CHANGE
    assert review.reason == f"SEV1 incident {incident.reference}"
    assert review.due_at <= timezone.now()


def test_a_second_raise_to_sev1_adds_nothing_to_the_open_review(
    people, system, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = _report(people["officer"], system, severity="SEV1")
    for severity in ("SEV2", "SEV1"):
        with django_capture_on_commit_callbacks(execute=True):
            services.update_incident(
                actor=people["officer"], incident=incident, changes={"severity": severity}
            )

    (review,) = Review.objects.filter(system=system)
    assert review.reason == f"SEV1 incident {incident.reference}"
    assert _rows(incident, "sev1").count() == 8, "told once per incident"


def test_a_sev3_notifies_nobody_and_a_raise_to_sev1_does(
    people, system, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = _report(people["officer"], system)
    assert not Notification.objects.exists()
    assert not Review.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.update_incident(actor=people["officer"], incident=incident, changes={"severity": "SEV1"})
    assert _rows(incident, "sev1").count() == 8
    assert _rows(incident, "sev1").first().payload["reason"] == "Severity raised from SEV3 to SEV1."
    assert Review.objects.filter(system=system).count() == 1


def test_it_writes_an_incident_notification_once_however_often_it_is_asked(people, system, queued):
    incident = IncidentFactory(system=system, severity="SEV1")
    first = notifications.notify_incident(kind="sev1", incident=incident, reason="Reported as SEV1.")
    again = notifications.notify_incident(kind="sev1", incident=incident, reason="Reported as SEV1.")
    assert (first, again) == (8, 0)


def test_a_failing_review_write_rolls_the_whole_report_back(people, system, queued, monkeypatch):
    """The incident, its notice and its review commit together or not at all: nothing is left
    half-written for a scan to miss."""

    def broken(**kwargs):
        raise RuntimeError("review service down")

    monkeypatch.setattr("governance.services.reviews.require_review_now", broken)
    with pytest.raises(RuntimeError):
        _report(people["officer"], system, severity="SEV1")
    assert not Incident.objects.exists()
    assert not Notification.objects.exists() and not Review.objects.exists()
    assert queued == [], "no delivery is queued for rows that were never committed"


def test_a_serious_incident_is_notified_again_only_when_its_deadline_moves(
    people, system, queued, django_capture_on_commit_callbacks
):
    aware = timezone.now() - HOUR
    incident = IncidentFactory(system=system, occurred_at=aware, detected_at=aware, became_aware_at=aware)
    officer = people["officer"]
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.flag_serious(actor=officer, incident=incident, grounds=["health"])
    rows = _rows(incident, "serious_incident")
    assert _recipients(rows) == {"chief", "business-owner", "tech-owner", "lead"}
    assert rows.count() == 8
    assert len(queued) == 8, "delivery is kicked once the flag commits"
    incident.refresh_from_db()
    assert rows.first().payload["report_due_at"].startswith(f"{incident.report_due_at:%Y-%m-%dT%H:%M}")
    assert rows.first().payload["serious_grounds"] == ["health"]
    assert not Review.objects.exists(), "only a SEV1 is a material change"

    # Another 15-day ground: the deadline stays, nobody is told again.
    lifecycle.flag_serious(actor=officer, incident=incident, grounds=["fundamental_rights"])
    assert _rows(incident, "serious_incident").count() == 8
    # Death: 10 days, an earlier deadline, told again.
    lifecycle.flag_serious(actor=officer, incident=incident, grounds=["death"])
    assert _rows(incident, "serious_incident").count() == 16
    # Death was a mistake: back to 15 days, with a reason, and told again.
    lifecycle.set_serious(
        actor=officer,
        incident=incident,
        grounds=["health", "fundamental_rights"],
        widespread=False,
        reason="The patient survived; the death was misreported.",
    )
    latest = _rows(incident, "serious_incident").order_by("-id").first()
    assert _rows(incident, "serious_incident").count() == 24
    assert "The patient survived" in latest.payload["reason"]


# --- The clock scan -------------------------------------------------------------------------------


def _open(system, *, respond_by, resolve_by, **fields):
    return IncidentFactory(system=system, respond_by=respond_by, resolve_by=resolve_by, **fields)


def test_the_scan_notifies_each_breached_sla_of_an_open_incident_once(people, system, queued):
    now = timezone.now()
    unanswered = _open(system, respond_by=now - HOUR, resolve_by=now + HOUR)
    unresolved = _open(system, respond_by=now - 3 * HOUR, resolve_by=now - HOUR, responded_at=now - 2 * HOUR)
    both = _open(system, respond_by=now - 3 * HOUR, resolve_by=now - HOUR, status="investigating")
    _open(system, respond_by=now + 3 * HOUR, resolve_by=now + 4 * HOUR)  # in time
    _open(system, respond_by=now - 3 * HOUR, resolve_by=now - HOUR, status="resolved", resolved_at=now)
    _open(system, respond_by=now - 3 * HOUR, resolve_by=now - HOUR, status="rejected")

    written = clock_scans.scan_incident_clocks(now=now)

    rows = Notification.objects.filter(kind="incident_sla_breach")
    assert written == {"incident_sla_breach": rows.count(), "art73_deadline": 0}
    breaches = {
        (int(key.split(":")[1]), key.split(":")[3]) for key in rows.values_list("dedupe_key", flat=True)
    }
    assert breaches == {
        (unanswered.pk, "respond"),
        (unresolved.pk, "resolve"),
        (both.pk, "respond"),
        (both.pk, "resolve"),
    }
    # Officers and the system's owners; the team's leads hear of SEV1s, not of every late clock.
    assert _recipients(rows) == {"chief", "business-owner", "tech-owner"}
    assert rows.count() == 4 * 3 * 2
    row = rows.get(dedupe_key=f"incident:{unanswered.pk}:sla:respond:email:u{people['officer'].pk}")
    assert row.payload["breach"] == "respond"
    assert row.payload["reference"] == unanswered.reference
    assert row.subject_label == f"{unanswered.reference} {unanswered.title}"

    # The next scans write nothing new; a new breach is written once.
    assert (
        clock_scans.scan_incident_clocks(now=now + datetime.timedelta(minutes=5))["incident_sla_breach"] == 0
    )
    assert (
        clock_scans.scan_incident_clocks(now=now + 2 * HOUR)["incident_sla_breach"] == 6
    )  # unanswered's resolve


def test_it_notifies_exactly_the_steps_the_clock_states_call_overdue(people, system, queued):
    now = timezone.now()
    for status in ("reported", "triaged", "investigating", "mitigated", "resolved", "closed", "rejected"):
        for responded in (None, now - 2 * HOUR):
            _open(
                system,
                status=status,
                respond_by=now - 3 * HOUR,
                resolve_by=now - HOUR,
                responded_at=responded,
            )
    clock_scans.scan_incident_clocks(now=now)

    keys = Notification.objects.filter(kind="incident_sla_breach").values_list("dedupe_key", flat=True)
    notified = {(int(key.split(":")[1]), key.split(":")[3]) for key in keys}
    states = Incident.objects.with_clocks(now).values_list("pk", "respond_state", "resolve_state")
    overdue = {
        (pk, step)
        for pk, *step_states in states
        for step, state in zip(("respond", "resolve"), step_states, strict=True)
        if state == "overdue"
    }
    assert notified == overdue
    assert {pk for pk, _ in overdue} == set(
        Incident.objects.filter(status__in=["reported", "triaged", "investigating", "mitigated"]).values_list(
            "pk", flat=True
        )
    )


def test_the_scan_warns_of_art73_reports_due_within_a_day(people, system, queued):
    now = timezone.now()
    serious = {"is_serious": True, "serious_grounds": ["health"], "report_due_rule": "Art. 73(2)"}
    due_soon = IncidentFactory(system=system, report_due_at=now + 10 * HOUR, **serious)
    missed = IncidentFactory(system=system, report_due_at=now - 30 * HOUR, **serious)
    IncidentFactory(system=system, report_due_at=now + 30 * HOUR, **serious)  # not yet
    IncidentFactory(system=system, report_due_at=now + HOUR, initial_report_sent_at=now, **serious)  # sent
    IncidentFactory(system=system, report_due_at=now - 10 * 24 * HOUR, **serious)  # long gone

    written = clock_scans.scan_incident_clocks(now=now)

    rows = Notification.objects.filter(kind="art73_deadline")
    assert written["art73_deadline"] == rows.count() == 2 * 3 * 2
    assert {row.subject_id for row in rows} == {str(due_soon.pk), str(missed.pk)}
    assert _recipients(rows) == {"chief", "business-owner", "tech-owner"}
    assert rows.filter(subject_id=str(due_soon.pk)).first().payload["overdue"] is False
    assert rows.filter(subject_id=str(missed.pk)).first().payload["overdue"] is True
    assert clock_scans.scan_incident_clocks(now=now + HOUR)["art73_deadline"] == 0

    # A deadline moved (another ground) is news again.
    Incident.objects.filter(pk=due_soon.pk).update(report_due_at=now + 5 * HOUR)
    assert clock_scans.scan_incident_clocks(now=now + HOUR)["art73_deadline"] == 6


def test_the_scan_task_runs_the_scan(people, system, queued, django_capture_on_commit_callbacks):
    _open(system, respond_by=timezone.now() - HOUR, resolve_by=timezone.now() + HOUR)
    with django_capture_on_commit_callbacks(execute=True):
        assert scan_incident_clocks() == {"incident_sla_breach": 6, "art73_deadline": 0}
    assert len(queued) == 6


def test_the_incident_emails_render_from_their_templates(people, system, queued, settings):
    from governance.services import delivery

    now = timezone.now()
    incident = _open(system, respond_by=now - HOUR, resolve_by=now + HOUR)
    IncidentFactory(
        system=system,
        is_serious=True,
        serious_grounds=["health"],
        report_due_at=now + HOUR,
        report_due_rule="Art. 73(2)",
    )
    clock_scans.scan_incident_clocks(now=now)
    notifications.notify_incident(kind="sev1", incident=incident, reason="Reported as SEV1.")

    bodies = {
        row.kind: delivery.render_email(row).body
        for row in Notification.objects.filter(channel="email", recipient=people["officer"])
    }
    assert "Nobody has responded and the deadline" in bodies["incident_sla_breach"]
    assert "is due by" in bodies["art73_deadline"] and "(Art. 73(2))" in bodies["art73_deadline"]
    assert "System: Refund assistant" in bodies["sev1"]
