"""The incident admin: triage queue, Art. 73 panel, transitions and adds through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from tests.factories import AISystemFactory, CorrectiveActionFactory, IncidentFactory

QUEUE = "/admin/incidents/incident/"


def test_it_orders_the_triage_queue_by_severity_then_age_and_hides_closed(client, officer, team_a):
    system = AISystemFactory(owning_team=team_a)
    old_sev3 = IncidentFactory(system=system, severity="SEV3", title="old moderate")
    IncidentFactory(system=system, severity="SEV1", title="critical now")
    IncidentFactory(system=system, severity="SEV2", status="closed", title="already closed")
    Incident.objects.filter(pk=old_sev3.pk).update(created_at=timezone.now() - timedelta(days=3))

    client.force_login(officer)
    page = client.get(QUEUE).content.decode()
    assert page.index("critical now") < page.index("old moderate")
    assert "already closed" not in page
    assert "already closed" in client.get(f"{QUEUE}?queue=all").content.decode()


def test_it_shows_an_overdue_art73_report_in_the_queue_and_the_panel(client, officer, team_a):
    incident = IncidentFactory(
        system=AISystemFactory(owning_team=team_a),
        is_serious=True,
        serious_grounds=["death"],
        report_due_at=timezone.now() - timedelta(hours=5),
        report_due_rule="Art. 73(4)",
    )
    client.force_login(officer)
    assert "art73-overdue" in client.get(QUEUE).content.decode()
    panel = client.get(f"{QUEUE}{incident.pk}/change/").content.decode()
    assert "Art. 73(4)" in panel and "overdue" in panel


def test_it_moves_incidents_through_the_lifecycle_with_admin_actions(client, officer, team_a):
    incident = IncidentFactory(system=AISystemFactory(owning_team=team_a))
    client.force_login(officer)
    client.post(QUEUE, {"action": "triage", "_selected_action": [incident.pk]})
    incident.refresh_from_db()
    assert incident.status == "triaged"
    assert incident.timeline.filter(kind="status_change", data__to="triaged").exists()

    # Closing is refused while a corrective action is open, with the reason shown.
    Incident.objects.filter(pk=incident.pk).update(status="resolved")
    CorrectiveActionFactory(incident=incident)
    response = client.post(
        f"{QUEUE}?queue=all", {"action": "close", "_selected_action": [incident.pk]}, follow=True
    )
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.reference in response.content.decode()


def test_it_reports_an_incident_from_the_admin_through_the_service(client, engineer, team_a, team_b):
    mine = AISystemFactory(owning_team=team_a)
    theirs = AISystemFactory(owning_team=team_b)
    client.force_login(engineer)
    form = client.get(f"{QUEUE}add/").content.decode()
    assert mine.name in form and theirs.name not in form

    now = timezone.now()
    data = {
        "system": mine.pk,
        "title": "Wrong loan advice",
        "description": "",
        "severity": "SEV2",
        "occurred_at_0": (now - timedelta(hours=1)).strftime("%Y-%m-%d"),
        "occurred_at_1": (now - timedelta(hours=1)).strftime("%H:%M:%S"),
        "detected_at_0": (now - timedelta(minutes=30)).strftime("%Y-%m-%d"),
        "detected_at_1": (now - timedelta(minutes=30)).strftime("%H:%M:%S"),
        "became_aware_at_0": (now - timedelta(minutes=20)).strftime("%Y-%m-%d"),
        "became_aware_at_1": (now - timedelta(minutes=20)).strftime("%H:%M:%S"),
    }
    response = client.post(f"{QUEUE}add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Incident.objects.get(title="Wrong loan advice")
    assert created.reference.startswith(f"INC-{now.year}-")
    assert created.source == "admin" and created.reporter == engineer

    future = {
        **data,
        "title": "From the future",
        "occurred_at_0": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
    }
    refused = client.post(f"{QUEUE}add/", future)
    assert refused.status_code == 200 and "in the future" in refused.content.decode()
    assert not Incident.objects.filter(title="From the future").exists()


def test_it_hides_other_teams_incidents_in_the_admin(client, other_engineer, team_a):
    incident = IncidentFactory(system=AISystemFactory(owning_team=team_a), title="team A only")
    client.force_login(other_engineer)
    assert "team A only" not in client.get(QUEUE).content.decode()
    assert client.get(f"{QUEUE}{incident.pk}/change/").status_code == 302


def test_it_reports_bad_service_level_settings_at_start_up(settings):
    from incidents.checks import check_incident_slas

    settings.VERITY_INCIDENT_SLAS = {"SEV1": {"respond_hours": -1}}
    errors = check_incident_slas(None)
    assert errors and errors[0].id == "incidents.E001" and "respond_hours" in errors[0].msg
    settings.VERITY_INCIDENT_SLAS = {"SEV2": {"resolve_hours": 48}}
    assert check_incident_slas(None) == []


def test_it_stops_counting_an_incident_overdue_once_the_initial_report_is_sent(api_as, officer, team_a):
    incident = IncidentFactory(
        system=AISystemFactory(owning_team=team_a),
        is_serious=True,
        serious_grounds=["health"],
        report_due_at=timezone.now() - timedelta(hours=1),
        report_due_rule="Art. 73(2)",
    )
    client = api_as(officer)
    overdue = "/api/v1/incidents/?report_overdue=true"
    assert [i["reference"] for i in client.get(overdue).json()["results"]] == [incident.reference]
    Incident.objects.filter(pk=incident.pk).update(initial_report_sent_at=timezone.now())
    assert client.get(overdue).json()["results"] == []


@pytest.mark.parametrize(
    "period,text",
    [
        (timedelta(days=2, hours=5, minutes=30), "2 d 5 h"),
        (timedelta(hours=5, minutes=20), "5 h 20 min"),
        (timedelta(minutes=35, seconds=59), "35 min"),
        (timedelta(seconds=20), "0 min"),
    ],
)
def test_it_says_how_long_is_left_in_the_two_largest_units(period, text):
    from incidents.admin.incidents import _duration

    assert _duration(period) == text
