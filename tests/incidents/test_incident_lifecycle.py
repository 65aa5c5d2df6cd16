"""The incident services: references, lifecycle, timeline, Art. 73 flag, corrective actions, notifications."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.choices import Role
from governance.exceptions import Conflict, NotAllowed
from governance.models import AISystem, Notification, Review, User
from incidents.models import Incident, IncidentSequence, TimelineEntry
from incidents.services import corrective, lifecycle
from incidents.services import incidents as services
from tests.factories import (
    AISystemFactory,
    CorrectiveActionFactory,
    IncidentFactory,
    SystemModelFactory,
    TeamFactory,
    UserFactory,
)

UTC = datetime.UTC


def _data(system, **overrides):
    now = timezone.now()
    return {
        "system": system,
        "title": "Chatbot promised a refund",
        "description": "It said refunds are possible after 90 days.",
        "occurred_at": now - datetime.timedelta(hours=3),
        "detected_at": now - datetime.timedelta(hours=2),
        "severity": "SEV3",
        "source": "api",
        **overrides,
    }


def _report(actor, system, **overrides):
    incident, created = services.create_incident(actor=actor, data=_data(system, **overrides))
    assert created
    return incident


def _year() -> int:
    return timezone.localtime(timezone.now()).year


def _told(incident) -> list[tuple[str, str]]:
    """The incident notifications in the outbox, one per event (not per recipient and channel)."""
    rows = Notification.objects.filter(subject_type="incidents.incident", subject_id=str(incident.pk))
    return sorted({(row.kind, row.payload["reason"]) for row in rows})


# --- Reporting ----------------------------------------------------------------------------------


def test_it_reports_an_incident_with_its_team_reporter_and_sla(engineer, system_a):
    incident = _report(engineer, system_a, severity="SEV2")

    assert incident.reference == f"INC-{_year()}-1"
    assert (incident.team, incident.reporter, incident.status) == (system_a.owning_team, engineer, "reported")
    assert incident.respond_by - incident.created_at == pytest.approx(
        datetime.timedelta(hours=4), abs=datetime.timedelta(seconds=1)
    )
    assert incident.resolve_by - incident.created_at == pytest.approx(
        datetime.timedelta(days=3), abs=datetime.timedelta(seconds=1)
    )
    assert incident.became_aware_at == incident.detected_at


def test_it_takes_service_levels_from_the_setting(settings, engineer, system_a):
    settings.VERITY_INCIDENT_SLAS = {"SEV3": {"respond_hours": 2, "resolve_hours": 10}}
    incident = _report(engineer, system_a)
    assert incident.respond_by - incident.created_at == pytest.approx(
        datetime.timedelta(hours=2), abs=datetime.timedelta(seconds=1)
    )


def test_it_defaults_detection_to_now_and_awareness_to_detection(engineer, system_a):
    before = timezone.now()
    incident = _report(engineer, system_a, detected_at=None)
    assert before <= incident.detected_at <= timezone.now()
    assert incident.became_aware_at == incident.detected_at


def test_it_accepts_times_within_the_clock_skew(engineer, system_a):
    soon = timezone.now() + datetime.timedelta(minutes=2)
    incident = _report(engineer, system_a, occurred_at=soon, detected_at=None)
    assert incident.detected_at >= incident.occurred_at


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"occurred_at": "future", "detected_at": "future"}, "occurred_at"),
        ({"became_aware_at": "future"}, "became_aware_at"),
        ({"detected_at": "before"}, "detected_at"),
        ({"became_aware_at": "before"}, "became_aware_at"),
        ({"severity": "SEV9"}, "severity"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_it_refuses_bad_reports_and_gives_no_number(engineer, system_a, overrides, field):
    now = timezone.now()
    times = {"future": now + datetime.timedelta(minutes=10), "before": now - datetime.timedelta(days=2)}
    overrides = {key: times.get(value, value) for key, value in overrides.items()}
    with pytest.raises(ValidationError) as caught:
        services.create_incident(actor=engineer, data=_data(system_a, **overrides))
    assert field in caught.value.message_dict
    assert not Incident.objects.exists()
    assert not IncidentSequence.objects.exists()


def test_it_refuses_a_model_the_system_does_not_use(engineer, system_a):
    used = SystemModelFactory(system=system_a).model
    other = SystemModelFactory().model
    assert _report(engineer, system_a, model=used).model == used
    with pytest.raises(ValidationError) as caught:
        services.create_incident(actor=engineer, data=_data(system_a, model=other))
    assert "model" in caught.value.message_dict


def test_it_refuses_reports_outside_the_actors_teams(other_engineer, auditor, system_a):
    with pytest.raises(ValidationError) as caught:
        services.create_incident(actor=other_engineer, data=_data(system_a))
    assert "system" in caught.value.message_dict
    with pytest.raises(NotAllowed):
        services.create_incident(actor=auditor, data=_data(system_a))
    assert not Incident.objects.exists()


def test_it_gives_a_rolled_back_number_back(engineer, system_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        _report(engineer, system_a)
        raise RuntimeError("the surrounding work failed")
    assert _report(engineer, system_a).reference == f"INC-{_year()}-1"


def test_it_returns_the_existing_incident_for_a_repeated_external_id(engineer, officer, system_a):
    first = _report(engineer, system_a, external_id="sentry-42")
    again, created = services.create_incident(
        actor=officer, data=_data(system_a, external_id="sentry-42", title="Other words")
    )
    assert (again.pk, created) == (first.pk, False)
    other_source, created = services.create_incident(
        actor=engineer, data=_data(system_a, external_id="sentry-42", source="evaluation")
    )
    assert created and other_source.reference == f"INC-{_year()}-2"


def test_a_repeated_external_id_uses_up_no_reference_number(engineer, system_a):
    winner = _report(engineer, system_a, external_id="ci-7")
    loser, created = services.create_incident(actor=engineer, data=_data(system_a, external_id="ci-7"))
    assert (loser.pk, created) == (winner.pk, False)
    assert _report(engineer, system_a).reference == f"INC-{_year()}-2"


@pytest.mark.django_db(transaction=True)
def test_it_numbers_concurrent_reports_without_gaps():
    assert not Incident.objects.exists() and not IncidentSequence.objects.exists()
    team = TeamFactory()
    engineer = UserFactory(role=Role.ENGINEER, teams=[team])
    system = AISystemFactory(owning_team=team)
    threads_count, per_thread = 8, 50
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def report_many():
        try:
            actor = User.objects.get(pk=engineer.pk)
            target = AISystem.objects.select_related("owning_team").get(pk=system.pk)
            start.wait()
            for _ in range(per_thread):
                services.create_incident(actor=actor, data=_data(target))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report_many) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    references = list(Incident.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == threads_count * per_thread
    year = _year()
    assert sorted(int(ref.rsplit("-", 1)[1]) for ref in references) == list(range(1, 401))
    assert all(ref.startswith(f"INC-{year}-") for ref in references)
    assert IncidentSequence.objects.get(year=year).last_number == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_of_one_external_id_record_one_incident_and_leave_no_gap():
    team = TeamFactory()
    engineer = UserFactory(role=Role.ENGINEER, teams=[team])
    system = AISystemFactory(owning_team=team)
    threads_count = 8
    outcomes: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def report_once():
        try:
            actor = User.objects.get(pk=engineer.pk)
            target = AISystem.objects.select_related("owning_team").get(pk=system.pk)
            start.wait()
            incident, created = services.create_incident(
                actor=actor, data=_data(target, external_id="pager-99")
            )
            outcomes.append((incident.pk, created))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report_once) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert Incident.objects.count() == 1
    only = Incident.objects.get()
    assert sorted(outcomes, key=lambda o: not o[1]) == [(only.pk, True)] + [(only.pk, False)] * 7
    assert _report(engineer, system).reference == f"INC-{_year()}-2"


# --- Lifecycle ----------------------------------------------------------------------------------


def test_it_walks_the_lifecycle_and_writes_each_step_to_the_timeline(engineer, system_a):
    incident = _report(engineer, system_a)
    steps = ["triaged", "investigating", "mitigated", "investigating", "resolved", "closed"]
    for step in steps:
        incident = lifecycle.transition(actor=engineer, incident=incident, to=step, note=f"now {step}")

    entries = list(incident.timeline.order_by("at", "id"))
    assert [e.data for e in entries] == [
        {"from": before, "to": after} for before, after in zip(["reported", *steps[:-1]], steps, strict=True)
    ]
    assert {e.kind for e in entries} == {"status_change"}
    assert entries[0].body == "now triaged" and entries[0].author == engineer
    assert entries[0].author_label == "engineer"
    assert incident.responded_at is not None and incident.resolved_at is not None
    assert incident.status == "closed"


def test_it_stamps_the_response_and_resolution_and_clears_resolution_on_reopening(engineer, system_a):
    incident = _report(engineer, system_a)
    incident = lifecycle.transition(actor=engineer, incident=incident, to="triaged")
    responded = incident.responded_at
    for step in ("investigating", "resolved"):
        incident = lifecycle.transition(actor=engineer, incident=incident, to=step)
    assert incident.resolved_at is not None and incident.responded_at == responded
    incident = lifecycle.transition(actor=engineer, incident=incident, to="investigating")
    assert incident.resolved_at is None


@pytest.mark.parametrize(
    "path,to,allowed",
    [
        ([], "resolved", ["triaged", "rejected", "duplicate"]),
        (["triaged"], "closed", ["investigating", "rejected", "duplicate"]),
        (["triaged", "investigating"], "triaged", ["mitigated", "resolved"]),
        (["rejected"], "triaged", []),
    ],
)
def test_it_refuses_moves_the_lifecycle_does_not_allow(engineer, system_a, path, to, allowed):
    incident = _report(engineer, system_a)
    for step in path:
        incident = lifecycle.transition(actor=engineer, incident=incident, to=step)
    with pytest.raises(lifecycle.InvalidTransition) as caught:
        lifecycle.transition(actor=engineer, incident=incident, to=to)
    assert caught.value.allowed == allowed
    for status in allowed:
        assert status in caught.value.message
    incident.refresh_from_db()
    assert incident.timeline.count() == len(path)


def test_it_refuses_closing_with_open_corrective_actions(engineer, system_a):
    incident = _report(engineer, system_a)
    for step in ("triaged", "investigating", "resolved"):
        incident = lifecycle.transition(actor=engineer, incident=incident, to=step)
    action = CorrectiveActionFactory(incident=incident, description="Add a refund-policy guardrail")
    CorrectiveActionFactory(incident=incident, status="cancelled")

    with pytest.raises(Conflict) as caught:
        lifecycle.transition(actor=engineer, incident=incident, to="closed")
    assert f"#{action.pk}" in caught.value.message and "refund-policy guardrail" in caught.value.message

    corrective.update_corrective_action(
        actor=engineer, action=action, changes={"status": "verified", "verification": "Replayed 50 chats."}
    )
    assert lifecycle.transition(actor=engineer, incident=incident, to="closed").status == "closed"


def test_it_marks_duplicates_of_an_original_only(engineer, other_engineer, system_a):
    original = _report(engineer, system_a)
    copy = _report(engineer, system_a)
    third = _report(engineer, system_a)
    theirs = IncidentFactory(system=AISystemFactory(owning_team=other_engineer.teams.get()))

    for target, field in [(None, "duplicate_of"), (copy, "duplicate_of"), (theirs, "duplicate_of")]:
        with pytest.raises(ValidationError) as caught:
            lifecycle.transition(actor=engineer, incident=copy, to="duplicate", duplicate_of=target)
        assert field in caught.value.message_dict
    with pytest.raises(ValidationError):
        lifecycle.transition(actor=engineer, incident=copy, to="triaged", duplicate_of=original)

    copy = lifecycle.transition(actor=engineer, incident=copy, to="duplicate", duplicate_of=original)
    assert copy.duplicate_of == original and copy.responded_at is not None
    assert copy.timeline.get().data == {
        "from": "reported",
        "to": "duplicate",
        "duplicate_of": original.reference,
    }
    with pytest.raises(ValidationError) as caught:
        lifecycle.transition(actor=engineer, incident=third, to="duplicate", duplicate_of=copy)
    assert original.reference in caught.value.message_dict["duplicate_of"][0]


def test_it_lets_only_the_incidents_team_or_officers_move_it(
    engineer, other_engineer, officer, auditor, system_a
):
    incident = _report(engineer, system_a)
    for outsider in (other_engineer, auditor):
        with pytest.raises(NotAllowed):
            lifecycle.transition(actor=outsider, incident=incident, to="triaged")
    assert lifecycle.transition(actor=officer, incident=incident, to="triaged").status == "triaged"


# --- Timeline -----------------------------------------------------------------------------------


def test_it_keeps_timeline_entries_append_only(engineer, system_a):
    incident = _report(engineer, system_a)
    entry = services.add_comment(actor=engineer, incident=incident, body="Looking into it.")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TimelineEntry.objects.filter(pk=entry.pk).update(body="Nothing to see.")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM incidents_timelineentry WHERE id = %s", [entry.pk])
    entry.refresh_from_db()
    assert entry.body == "Looking into it."


def test_it_records_comments_and_refuses_empty_ones(engineer, system_a):
    incident = _report(engineer, system_a)
    entry = services.add_comment(actor=engineer, incident=incident, body="Customer contacted.")
    assert (entry.kind, entry.author_label) == ("comment", "engineer")
    with pytest.raises(ValidationError):
        services.add_comment(actor=engineer, incident=incident, body="   ")


def test_it_writes_severity_changes_and_moves_the_sla(engineer, system_a):
    incident = _report(engineer, system_a, severity="SEV4")
    incident = services.update_incident(actor=engineer, incident=incident, changes={"severity": "SEV2"})
    assert incident.respond_by == incident.created_at + datetime.timedelta(hours=4)
    assert incident.resolve_by == incident.created_at + datetime.timedelta(days=3)
    entry = incident.timeline.get()
    assert (entry.kind, entry.data) == ("severity_change", {"from": "SEV4", "to": "SEV2"})

    services.update_incident(actor=engineer, incident=incident, changes={"title": "Better title"})
    assert incident.timeline.count() == 1


# --- EU AI Act Art. 73 --------------------------------------------------------------------------

AWARE = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Brussels


@pytest.mark.parametrize(
    "ground,widespread,due,rule",
    [
        ("death", False, datetime.datetime(2025, 3, 13, 23, 59, 59, 999999), "Art. 73(4)"),
        ("health", False, datetime.datetime(2025, 3, 18, 23, 59, 59, 999999), "Art. 73(2)"),
        ("critical_infrastructure", False, datetime.datetime(2025, 3, 5, 23, 59, 59, 999999), "Art. 73(3)"),
        ("death", True, datetime.datetime(2025, 3, 5, 23, 59, 59, 999999), "Art. 73(3)"),
    ],
)
def test_it_sets_the_art73_deadline_when_flagging_serious(officer, system_a, ground, widespread, due, rule):
    incident = IncidentFactory(
        system=system_a, occurred_at=AWARE, detected_at=AWARE, became_aware_at=AWARE, severity="SEV1"
    )
    incident = lifecycle.flag_serious(
        actor=officer, incident=incident, grounds=[ground], widespread=widespread
    )

    assert incident.is_serious and incident.serious_grounds == [ground]
    assert incident.report_due_at == due.replace(tzinfo=ZoneInfo("Europe/Brussels"))
    assert incident.report_due_rule == rule
    entry = incident.timeline.get()
    assert (entry.kind, entry.get_kind_display()) == ("flagged_serious", "Flagged serious")
    assert entry.data["rule"] == rule and entry.data["event"] == "flagged_serious"


def test_it_counts_ten_days_for_a_death(officer, system_a):
    incident = IncidentFactory(system=system_a, occurred_at=AWARE, detected_at=AWARE, became_aware_at=AWARE)
    incident = lifecycle.flag_serious(actor=officer, incident=incident, grounds=["death"])
    brussels = incident.report_due_at.astimezone(ZoneInfo("Europe/Brussels"))
    assert brussels.date() - AWARE.date() == datetime.timedelta(days=10)


def test_it_lets_only_officers_flag_serious_incidents_or_record_reports(engineer, system_a):
    incident = IncidentFactory(system=system_a)
    with pytest.raises(NotAllowed):
        lifecycle.flag_serious(actor=engineer, incident=incident, grounds=["death"])
    with pytest.raises(NotAllowed):
        lifecycle.record_authority_report(actor=engineer, incident=incident, report="initial")
    incident.refresh_from_db()
    assert not incident.is_serious


def test_it_records_reports_to_the_authority_once_each(officer, system_a):
    incident = IncidentFactory(system=system_a)
    with pytest.raises(Conflict):
        lifecycle.record_authority_report(actor=officer, incident=incident, report="initial")
    incident = lifecycle.flag_serious(actor=officer, incident=incident, grounds=["health"])

    incident = lifecycle.record_authority_report(
        actor=officer, incident=incident, report="complete", authority_reference="MSA-2025-17"
    )
    assert incident.complete_report_sent_at == incident.initial_report_sent_at is not None
    assert incident.authority_reference == "MSA-2025-17"
    with pytest.raises(Conflict):
        lifecycle.record_authority_report(actor=officer, incident=incident, report="complete")
    with pytest.raises(Conflict):
        lifecycle.record_authority_report(actor=officer, incident=incident, report="initial")
    events = [(e.get_kind_display(), e.data["event"]) for e in incident.timeline.order_by("id")]
    assert events == [("Flagged serious", "flagged_serious"), ("Report sent", "complete_report_sent")]
    assert incident.timeline.last().data["on_time"] is True


# --- Notifications ------------------------------------------------------------------------------


def test_it_writes_the_sev1_notice_in_the_reports_own_transaction(officer, engineer, system_a):
    with transaction.atomic():
        _report(engineer, system_a, severity="SEV3")
        sev1 = _report(engineer, system_a, severity="SEV1")
        # Written before the commit, with the incident: nothing waits for an after-commit hook.
        assert _told(sev1) == [("sev1", "Reported as SEV1.")]
        assert Review.objects.filter(system=system_a, reason=f"SEV1 incident {sev1.reference}").exists()
    assert Notification.objects.filter(kind="sev1").values("subject_id").distinct().count() == 1


def test_it_writes_the_sev1_notice_when_raised_to_sev1(officer, engineer, system_a):
    incident = _report(engineer, system_a, severity="SEV3")
    assert _told(incident) == []
    services.update_incident(actor=engineer, incident=incident, changes={"severity": "SEV1"})
    assert _told(incident) == [("sev1", "Severity raised from SEV3 to SEV1.")]


def test_it_writes_the_serious_incident_notice_once_for_the_same_grounds(officer, system_a):
    incident = IncidentFactory(system=system_a, became_aware_at=AWARE, detected_at=AWARE, occurred_at=AWARE)
    lifecycle.flag_serious(actor=officer, incident=incident, grounds=["death"])
    rows = Notification.objects.count()
    lifecycle.flag_serious(actor=officer, incident=incident, grounds=["death"])  # nothing new

    ((kind, reason),) = _told(incident)
    assert kind == "serious_incident" and "Art. 73(4)" in reason
    assert Notification.objects.count() == rows
    assert incident.timeline.count() == 1


def test_it_writes_nothing_when_the_report_rolls_back(officer, engineer, system_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        _report(engineer, system_a, severity="SEV1")
        raise RuntimeError("rolled back")
    assert not Incident.objects.exists()
    assert not Notification.objects.exists() and not Review.objects.exists()


# --- Corrective actions -------------------------------------------------------------------------


def test_it_stamps_who_verified_a_corrective_action_and_when(engineer, officer, system_a):
    incident = _report(engineer, system_a)
    action = corrective.add_corrective_action(
        actor=engineer,
        incident=incident,
        data={"description": "Ground answers in the policy document", "owner": engineer},
    )
    assert (action.status, action.verified_by) == ("open", None)

    with pytest.raises(ValidationError) as caught:
        corrective.update_corrective_action(actor=officer, action=action, changes={"status": "verified"})
    assert "verification" in caught.value.message_dict

    action = corrective.update_corrective_action(
        actor=officer,
        action=action,
        changes={"status": "verified", "verification": "Red-teamed 200 prompts."},
    )
    assert action.verified_by == officer and action.verified_at is not None
    action = corrective.update_corrective_action(
        actor=engineer, action=action, changes={"status": "in_progress"}
    )
    assert (action.verified_by, action.verified_at) == (None, None)


def test_it_refuses_corrective_actions_on_final_incidents_and_reopening_on_closed_ones(engineer, system_a):
    rejected = IncidentFactory(system=system_a, status="rejected")
    with pytest.raises(Conflict):
        corrective.add_corrective_action(actor=engineer, incident=rejected, data={"description": "x"})
    closed = IncidentFactory(system=system_a, status="closed")
    done = CorrectiveActionFactory(incident=closed, status="verified", verification="ok")
    with pytest.raises(Conflict):
        corrective.update_corrective_action(actor=engineer, action=done, changes={"status": "open"})
    corrective.update_corrective_action(
        actor=engineer, action=done, changes={"verification": "Checked again."}
    )


def test_it_keeps_corrective_actions_to_the_incidents_team(other_engineer, auditor, system_a):
    action = CorrectiveActionFactory(incident=IncidentFactory(system=system_a))
    for outsider in (other_engineer, auditor):
        with pytest.raises(NotAllowed):
            corrective.update_corrective_action(actor=outsider, action=action, changes={"status": "done"})
