"""Serious incidents meet a set of Art. 3(49) grounds; the strictest Art. 73 deadline stands.

POST …/serious/ adds grounds and never moves the deadline later; PUT …/serious/ sets the exact
grounds and scope and needs the officer's written reason for anything that loosens the duty.
"""

import datetime

import pytest
from django.utils import timezone

from governance.models import ChangeEvent, Notification
from incidents.models import Incident
from incidents.services import lifecycle
from tests.factories import IncidentFactory
from tests.incidents.api_helpers import INCIDENTS

# Monday 3 March 2025, 11:00 in Brussels: (b) gives the end of Wednesday 5 March (2 days),
# (c) the end of Tuesday 18 March (15 days), death the end of Thursday 13 March (10 days).
AWARE = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=datetime.UTC)
DUE_B = "2025-03-05T22:59:59.999999Z"
DUE_C = "2025-03-18T22:59:59.999999Z"
DUE_DEATH = "2025-03-13T22:59:59.999999Z"
REASON = "Grid operator confirmed the outage was reversible: not a (b) disruption."


@pytest.fixture
def aware(target):
    return IncidentFactory(
        system=target, reference="INC-2000-7", occurred_at=AWARE, detected_at=AWARE, became_aware_at=AWARE
    )


@pytest.fixture
def officer_api(api_as, officer):
    return api_as(officer)


def _url(incident) -> str:
    return f"{INCIDENTS}{incident.reference}/serious/"


def _post(client, incident, **body):
    return client.post(_url(incident), body, format="json")


def _put(client, incident, **body):
    return client.put(_url(incident), body, format="json")


def _notices(incident) -> int:
    """How many serious-incident events were told (one row per event for the officer's e-mail)."""
    return Notification.objects.filter(
        kind="serious_incident", subject_id=str(incident.pk), channel="email", recipient__username="officer"
    ).count()


def _timeline(incident) -> list[tuple[str, str]]:
    return [
        (entry.get_kind_display(), entry.data.get("event", "")) for entry in incident.timeline.order_by("id")
    ]


def test_it_keeps_the_two_day_deadline_when_a_fifteen_day_ground_is_added(officer_api, aware):
    first = _post(officer_api, aware, grounds=["critical_infrastructure"])
    assert first.status_code == 200, first.content
    assert (first.json()["report_due_at"], first.json()["report_due_rule"]) == (DUE_B, "Art. 73(3)")

    second = _post(officer_api, aware, grounds=["fundamental_rights"])
    assert second.status_code == 200, second.content
    body = second.json()
    assert body["serious_grounds"] == ["critical_infrastructure", "fundamental_rights"]
    assert (body["report_due_at"], body["report_due_rule"]) == (DUE_B, "Art. 73(3)"), "the strictest stands"
    assert _timeline(aware) == [
        ("Flagged serious", "flagged_serious"),
        ("Serious grounds changed", "serious_grounds_changed"),
    ]
    assert aware.timeline.order_by("id").last().data["added"] == ["fundamental_rights"]
    assert _notices(aware) == 1, "the deadline did not move: nobody is told again"


def test_it_writes_nothing_when_flagged_again_with_the_same_grounds(officer_api, aware):
    _post(officer_api, aware, grounds=["critical_infrastructure", "fundamental_rights"])
    before = (aware.timeline.count(), Notification.objects.count(), ChangeEvent.objects.count())

    for body in (
        {"grounds": ["critical_infrastructure", "fundamental_rights"]},
        {"grounds": ["fundamental_rights"]},  # a subset adds nothing
        {"grounds": ["critical_infrastructure", "critical_infrastructure"]},
    ):
        again = _post(officer_api, aware, **body)
        assert again.status_code == 200, again.content
        assert again.json()["report_due_at"] == DUE_B
    same_put = _put(
        officer_api, aware, grounds=["fundamental_rights", "critical_infrastructure"], widespread=False
    )
    assert same_put.status_code == 200, same_put.content

    assert (aware.timeline.count(), Notification.objects.count(), ChangeEvent.objects.count()) == before
    assert _notices(aware) == 1


def test_it_refuses_to_remove_a_ground_without_a_written_reason(officer_api, aware):
    _post(officer_api, aware, grounds=["critical_infrastructure", "fundamental_rights"])

    refused = _put(officer_api, aware, grounds=["fundamental_rights"], widespread=False)
    assert refused.status_code == 400, refused.content
    message = refused.json()["errors"]["reason"][0]
    assert "removing Serious and irreversible disruption" in message
    assert "from 2025-03-05 to 2025-03-18" in message
    blank = _put(officer_api, aware, grounds=["fundamental_rights"], widespread=False, reason="   ")
    assert blank.status_code == 400 and "reason" in blank.json()["errors"]

    aware.refresh_from_db()
    assert aware.serious_grounds == ["critical_infrastructure", "fundamental_rights"]
    assert aware.report_due_at.isoformat() == "2025-03-05T22:59:59.999999+00:00"
    assert aware.timeline.count() == 1


def test_it_applies_the_later_deadline_with_a_reason_and_cites_it_on_the_timeline(
    officer_api, officer, aware
):
    _post(officer_api, aware, grounds=["critical_infrastructure", "fundamental_rights"])

    changed = _put(officer_api, aware, grounds=["fundamental_rights"], widespread=False, reason=REASON)
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["serious_grounds"], body["report_due_at"], body["report_due_rule"]) == (
        ["fundamental_rights"],
        DUE_C,
        "Art. 73(2)",
    )
    entry = aware.timeline.order_by("id").last()
    assert (entry.get_kind_display(), entry.author, entry.data["event"]) == (
        "Serious grounds changed",
        officer,
        "serious_grounds_changed",
    )
    assert f"Reason: {REASON}" in entry.body
    assert (entry.data["removed"], entry.data["reason"]) == (["critical_infrastructure"], REASON)
    assert (entry.data["previous_report_due_at"], entry.data["report_due_at"]) == (
        "2025-03-05T22:59:59.999999+00:00",
        "2025-03-18T22:59:59.999999+00:00",
    )
    # The change history carries the reason too.
    change = ChangeEvent.objects.filter(table_name="incidents_incident", object_pk=str(aware.pk)).latest("id")
    assert change.reason == REASON and "serious_grounds" in change.changes
    # The deadline moved: the people told of the 5 March date hear of the 18 March one.
    assert _notices(aware) == 2

    timeline = officer_api.get(f"{INCIDENTS}{aware.reference}/timeline/").json()["results"]
    assert [row["kind"] for row in timeline] == ["flagged_serious", "serious_grounds"]


def test_it_needs_a_reason_to_clear_widespread_or_withdraw_the_flag(officer_api, aware):
    _post(officer_api, aware, grounds=["death"], widespread=True)
    aware.refresh_from_db()
    assert (aware.report_due_rule, aware.widespread_infringement) == ("Art. 73(3)", True)
    # widespread: false on POST leaves it as it is
    assert _post(officer_api, aware, grounds=["death"], widespread=False).json()["widespread_infringement"]

    refused = _put(officer_api, aware, grounds=["death"], widespread=False)
    assert (
        refused.status_code == 400
        and "clearing the widespread infringement" in refused.json()["errors"]["reason"][0]
    )
    cleared = _put(
        officer_api, aware, grounds=["death"], widespread=False, reason="Only one user was affected."
    )
    assert (cleared.json()["report_due_at"], cleared.json()["widespread_infringement"]) == (DUE_DEATH, False)

    refused = _put(officer_api, aware, grounds=[], widespread=False)
    assert (
        refused.status_code == 400 and "withdrawing the serious flag" in refused.json()["errors"]["reason"][0]
    )
    withdrawn = _put(officer_api, aware, grounds=[], widespread=False, reason="Not caused by the AI system.")
    assert withdrawn.status_code == 200, withdrawn.content
    body = withdrawn.json()
    assert (body["is_serious"], body["serious_grounds"], body["report_due_at"], body["report_due_rule"]) == (
        False,
        [],
        None,
        "",
    )
    entry = aware.timeline.order_by("id").last()
    assert (entry.data["event"], entry.data["reason"]) == ("unflagged", "Not caused by the AI system.")
    assert entry.body.startswith("No longer a serious incident")


def test_it_adds_through_put_without_a_reason(officer_api, aware):
    _post(officer_api, aware, grounds=["health"])
    added = _put(officer_api, aware, grounds=["health", "critical_infrastructure"], widespread=False)
    assert added.status_code == 200, added.content
    assert added.json()["report_due_at"] == DUE_B


def test_it_keeps_an_incident_reported_to_the_authority_flagged(officer_api, officer, aware):
    lifecycle.flag_serious(actor=officer, incident=aware, grounds=["health"])
    lifecycle.record_authority_report(actor=officer, incident=aware, report="initial", sent_at=AWARE)
    refused = _put(officer_api, aware, grounds=[], widespread=False, reason="Turned out not serious.")
    assert refused.status_code == 409, refused.content
    aware.refresh_from_db()
    assert aware.is_serious


@pytest.mark.parametrize(
    "body,field",
    [
        ({"grounds": ["boredom"]}, "grounds"),
        ({"grounds": "health"}, "grounds"),
        ({"grounds": []}, "grounds"),
        ({"grounds": [], "widespread": True}, "grounds"),
        ({}, "grounds"),
        ({"grounds": ["health"], "widespread": "sometimes"}, "widespread"),
    ],
)
def test_it_answers_bad_flags_with_a_field_message(officer_api, aware, body, field):
    response = officer_api.post(_url(aware), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    aware.refresh_from_db()
    assert not aware.is_serious and aware.timeline.count() == 0


@pytest.mark.parametrize(
    "body,field",
    [
        ({"grounds": ["health"]}, "widespread"),
        ({"grounds": [], "widespread": True}, "grounds"),
        ({"grounds": ["health"], "widespread": False, "reason": "x" * 2001}, "reason"),
    ],
)
def test_it_answers_bad_puts_with_a_field_message(officer_api, aware, body, field):
    response = officer_api.put(_url(aware), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "persona,expected", [("officer", 200), ("engineer", 403), ("other_engineer", 404), ("auditor", 403)]
)
def test_it_lets_only_officers_set_the_grounds(personas, api_as, aware, persona, expected):
    Incident.objects.filter(pk=aware.pk).update(
        is_serious=True, serious_grounds=["health"], report_due_at=timezone.now()
    )
    response = _put(api_as(personas[persona]), aware, grounds=["health", "death"], widespread=False)
    assert response.status_code == expected, response.content
    aware.refresh_from_db()
    assert aware.serious_grounds == (["death", "health"] if expected == 200 else ["health"])


def test_it_refuses_put_on_the_incident_itself(officer_api, aware):
    response = officer_api.put(f"{INCIDENTS}{aware.reference}/", {"title": "x"}, format="json")
    assert response.status_code == 405


def test_it_documents_both_methods_in_the_schema(client, officer):
    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()
    serious = schema["paths"]["/api/v1/incidents/{reference}/serious/"]
    assert set(serious) == {"post", "put"}
    put_body = serious["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    properties = schema["components"]["schemas"][put_body]["properties"]
    assert set(properties) == {"grounds", "widespread", "reason"}
    incident = schema["components"]["schemas"]["Incident"]["properties"]
    assert "serious_grounds" in incident and "serious_ground" not in incident


def test_it_lists_every_ground_by_its_label_in_the_admin_panel(client, officer, aware):
    lifecycle.flag_serious(
        actor=officer, incident=aware, grounds=["fundamental_rights", "critical_infrastructure"]
    )
    client.force_login(officer)
    page = client.get(f"/admin/incidents/incident/{aware.pk}/change/").content.decode()
    assert "operation of critical infrastructure (Art. 3(49)(b))" in page
    assert "intended to protect fundamental rights (Art. 3(49)(c))" in page
    assert (
        "critical_infrastructure"
        not in page.split("reporting to the authority", 1)[-1].split("</fieldset>")[0]
    )
    assert "Flagged serious" in page and "Serious grounds changed" not in page
