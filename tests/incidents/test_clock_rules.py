"""The incident clock rules, one table: each case is an incident in a given status with its respond,
resolve and Art. 73 report times set relative to now, and every place that shows or filters a
clock state must give the same answer for it: the admin's SLA and Art. 73 columns, the API's
``sla`` and ``report_state`` fields, the API filters (``sla_breached``, ``report_overdue``,
``report_due_soon``) and the clock-state columns of the evidence pack's ``incidents.csv``.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass, field
from html import unescape

import pytest
from django.utils import timezone

from governance.packs import PackScope
from incidents import packs
from incidents.models import Incident
from tests.factories import AISystemFactory, IncidentFactory
from tests.incidents.api_helpers import INCIDENTS

H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)
QUEUE = "/admin/incidents/incident/"


@dataclass(frozen=True)
class Case:
    """``times`` maps a time field to its offset from now; ``fields`` are set as they are."""

    name: str
    status: str
    times: dict
    respond: str
    resolve: str
    report: str
    admin_sla: str
    fields: dict = field(default_factory=dict)

    @property
    def breached(self) -> bool:
        return self.respond in ("late", "overdue") or self.resolve in ("late", "overdue")


SERIOUS = {"is_serious": True, "serious_grounds": ["health"], "report_due_rule": "Art. 73(2)"}
# Responded within an hour of reporting, four hours allowed; two weeks to resolve.
ANSWERED = {"respond_by": -10 * D + 4 * H, "responded_at": -10 * D + H}

CASES = [
    Case(
        "resolved late",
        "resolved",
        {**ANSWERED, "resolve_by": -3 * D, "resolved_at": -2 * D},
        "on_time", "late", "not_serious", "resolved late",
    ),
    Case(
        "resolved on time",
        "resolved",
        {**ANSWERED, "resolve_by": -3 * D, "resolved_at": -4 * D},
        "on_time", "on_time", "not_serious", "on time",
    ),
    Case(
        "closed after resolving on time",
        "closed",
        {**ANSWERED, "resolve_by": -3 * D, "resolved_at": -4 * D},
        "on_time", "on_time", "not_serious", "on time",
    ),
    Case(
        "rejected past resolve_by",
        "rejected",
        {**ANSWERED, "resolve_by": -D},
        "on_time", "not_applicable", "not_serious", "on time",
    ),
    Case(
        "duplicate, answered late, past resolve_by",
        "duplicate",
        {"respond_by": -10 * D, "responded_at": -9 * D, "resolve_by": -D},
        "late", "not_applicable", "not_serious", "responded late",
    ),
    Case(
        "closed without a resolution recorded, past resolve_by",
        "closed",
        {**ANSWERED, "resolve_by": -D},
        "on_time", "not_applicable", "not_serious", "on time",
    ),
    Case(
        "open past respond_by",
        "reported",
        {"respond_by": -H, "resolve_by": D},
        "overdue", "on_track", "not_serious", "respond overdue",
    ),
    Case(
        "investigating past resolve_by",
        "investigating",
        {**ANSWERED, "resolve_by": -H},
        "on_time", "overdue", "not_serious", "resolve overdue",
    ),
    Case(
        "mitigated, answered late and past resolve_by",
        "mitigated",
        {"respond_by": -10 * D, "responded_at": -9 * D, "resolve_by": -H},
        "late", "overdue", "not_serious", "responded late & resolve overdue",
    ),
    Case(
        "reopened, nothing late yet",
        "investigating",
        {"respond_by": -H, "responded_at": -2 * H, "resolve_by": 3 * D},
        "on_time", "on_track", "not_serious", "on track",
    ),
    Case(
        "just reported",
        "reported",
        {"respond_by": 4 * H, "resolve_by": 3 * D},
        "on_track", "on_track", "not_serious", "on track",
    ),
    Case(
        "serious with the report due in 3 h",
        "triaged",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": 3 * H},
        "on_time", "on_track", "due_soon", "on track",
        SERIOUS,
    ),
    Case(
        "serious with the report overdue",
        "investigating",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": -5 * H},
        "on_time", "on_track", "overdue", "on track",
        SERIOUS,
    ),
    Case(
        "serious, resolved, the report still overdue",
        "resolved",
        {**ANSWERED, "resolve_by": -3 * D, "resolved_at": -4 * D, "report_due_at": -D},
        "on_time", "on_time", "overdue", "on time",
        SERIOUS,
    ),
    Case(
        "serious with the report due in 3 days",
        "triaged",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": 3 * D},
        "on_time", "on_track", "on_track", "on track",
        SERIOUS,
    ),
    Case(
        "serious, reported late",
        "investigating",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": -2 * D, "initial_report_sent_at": -D},
        "on_time", "on_track", "reported_late", "on track",
        SERIOUS,
    ),
    Case(
        "serious, reported on time (initial report only)",
        "investigating",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": D, "initial_report_sent_at": -H},
        "on_time", "on_track", "reported_on_time", "on track",
        SERIOUS,
    ),
    Case(
        "serious, only the complete report sent, overdue",
        "investigating",
        {**ANSWERED, "resolve_by": 3 * D, "report_due_at": -H, "complete_report_sent_at": -2 * H},
        "on_time", "on_track", "overdue", "on track",
        SERIOUS,
    ),
    Case(
        "serious without a deadline",
        "triaged",
        {**ANSWERED, "resolve_by": 3 * D},
        "on_time", "on_track", "no_deadline", "on track",
        SERIOUS,
    ),
]  # fmt: skip


def _make(case: Case, system) -> Incident:
    now = timezone.now()
    values = {name: now + offset for name, offset in case.times.items()}
    extra = {}
    if case.status == "duplicate":
        extra["duplicate_of"] = IncidentFactory(system=system, title="the original", status="closed")
    return IncidentFactory(
        system=system,
        status=case.status,
        occurred_at=now - 11 * D,
        title=case.name,
        **values,
        **case.fields,
        **extra,
    )


def _admin_row(client, incident) -> dict[str, str]:
    """The changelist cells of ``incident``'s row, by column, as HTML."""
    page = client.get(f"{QUEUE}?queue=all").content.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
    row = next(r for r in rows if f"/{incident.pk}/change/" in r)
    return dict(re.findall(r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.S))


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html)).strip()


def _art73_class(html: str) -> str:
    found = re.search(r'class="art73-(\w+)"', html)
    return found.group(1) if found else "not_serious"


def _filtered(client, query: str, incident) -> bool:
    response = client.get(f"{INCIDENTS}?{query}&system={incident.system.slug}")
    assert response.status_code == 200, response.content
    return incident.reference in {row["reference"] for row in response.json()["results"]}


def _pack_row(officer, incident) -> dict[str, str]:
    section = dict(packs.incidents(PackScope(user=officer, systems=(incident.system,))))
    text = b"".join(section["incidents/incidents.csv"].chunks()).decode()
    return next(row for row in csv.DictReader(io.StringIO(text)) if row["reference"] == incident.reference)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_it_gives_every_clock_state_the_same_answer_everywhere(case, client, api_as, officer, team_a):
    incident = _make(case, AISystemFactory(owning_team=team_a))
    expected_report_class = case.report

    # The admin's columns, as the changelist renders them.
    client.force_login(officer)
    cells = _admin_row(client, incident)
    assert _text(cells["sla"]) == case.admin_sla
    assert _art73_class(cells["art73"]) == expected_report_class
    if case.report == "not_serious":
        assert _text(cells["art73"]) == "—"

    # The API's fields.
    api = api_as(officer)
    body = api.get(f"{INCIDENTS}{incident.reference}/").json()
    assert (body["sla"]["respond_state"], body["sla"]["resolve_state"]) == (case.respond, case.resolve)
    assert body["sla"]["respond_breached"] == (case.respond in ("late", "overdue"))
    assert body["sla"]["resolve_breached"] == (case.resolve in ("late", "overdue"))
    assert body["report_state"] == case.report
    assert body["report_overdue"] == (case.report == "overdue")

    # The API's filters: in the true list exactly when the state says so, in the false list otherwise.
    for query, wanted in (
        ("sla_breached", case.breached),
        ("report_overdue", case.report == "overdue"),
        ("report_due_soon", case.report == "due_soon"),
    ):
        assert _filtered(api, f"{query}=true", incident) is wanted, query
        assert _filtered(api, f"{query}=false", incident) is not wanted, query

    # The evidence pack's incidents.csv.
    row = _pack_row(officer, incident)
    assert (row["respond_state"], row["resolve_state"], row["report_state"]) == (
        case.respond,
        case.resolve,
        case.report,
    )


def test_it_shows_the_report_state_on_the_incident_page_like_the_queue(client, officer, team_a):
    case = next(c for c in CASES if c.report == "due_soon")
    incident = _make(case, AISystemFactory(owning_team=team_a))
    client.force_login(officer)
    page = client.get(f"{QUEUE}{incident.pk}/change/").content.decode()
    assert 'class="art73-due_soon"' in page and re.search(r"\d h \d+ min left", page)


# --- The limits themselves, at a fixed moment -------------------------------------------------------

NOW = datetime.datetime(2025, 6, 10, 12, 0, tzinfo=datetime.UTC)
US = datetime.timedelta(microseconds=1)

LIMIT_CASES = [
    # (name, status, fields relative to NOW, respond_state, resolve_state)
    ("at respond_by: on track", "reported", {"respond_by": 0 * H, "resolve_by": D}, "on_track", "on_track"),
    ("just past respond_by", "reported", {"respond_by": -US, "resolve_by": D}, "overdue", "on_track"),
    (
        "responded exactly at respond_by",
        "triaged",
        {"respond_by": -H, "responded_at": -H, "resolve_by": D},
        "on_time",
        "on_track",
    ),
    (
        "responded a microsecond late",
        "triaged",
        {"respond_by": -H, "responded_at": -H + US, "resolve_by": D},
        "late",
        "on_track",
    ),
    (
        "resolved exactly at resolve_by",
        "resolved",
        {"respond_by": -D, "responded_at": -D, "resolve_by": -H, "resolved_at": -H},
        "on_time",
        "on_time",
    ),
]  # fmt: skip

REPORT_LIMIT_CASES = [
    # (name, fields relative to NOW, report_state)
    ("due in more than 24 h", {"report_due_at": D + US}, "on_track"),
    ("due in exactly 24 h", {"report_due_at": D}, "due_soon"),
    ("due now: the deadline itself is on time", {"report_due_at": 0 * H}, "due_soon"),
    ("a microsecond past the deadline", {"report_due_at": -US}, "overdue"),
    ("sent exactly at the deadline", {"report_due_at": -H, "initial_report_sent_at": -H}, "reported_on_time"),
    ("sent a microsecond late", {"report_due_at": -H, "initial_report_sent_at": -H + US}, "reported_late"),
]  # fmt: skip


def _states(incident: Incident) -> tuple[str, str, str]:
    annotated = Incident.objects.with_clocks(NOW).get(pk=incident.pk)
    return annotated.respond_state, annotated.resolve_state, annotated.report_state


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status,times,respond,resolve", [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES]
)
def test_it_counts_the_sla_limit_itself_as_on_time(status, times, respond, resolve):
    incident = IncidentFactory(status=status, **{name: NOW + offset for name, offset in times.items()})
    assert _states(incident)[:2] == (respond, resolve)
    breached = Incident.objects.filter(pk=incident.pk).sla_breached(NOW).exists()
    assert breached == ("late" in (respond, resolve) or "overdue" in (respond, resolve))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "times,report", [c[1:] for c in REPORT_LIMIT_CASES], ids=[c[0] for c in REPORT_LIMIT_CASES]
)
def test_it_counts_the_art73_deadline_itself_as_on_time(times, report):
    incident = IncidentFactory(**SERIOUS, **{name: NOW + offset for name, offset in times.items()})
    assert _states(incident)[2] == report
    one = Incident.objects.filter(pk=incident.pk)
    assert one.report_overdue(NOW).exists() == (report == "overdue")
    assert one.report_due_soon(NOW).exists() == (report == "due_soon")


@pytest.mark.django_db
def test_it_reads_the_same_states_from_the_compiled_annotations_as_from_the_rules(team_a):
    from incidents import clock_rules

    system = AISystemFactory(owning_team=team_a)
    for case in CASES:
        IncidentFactory(
            system=system,
            status=case.status,
            **case.fields,
            **{name: NOW + offset for name, offset in case.times.items()},
        )
    names = list(clock_rules.clock_states(NOW))
    compiled = Incident.objects.with_clocks(NOW).order_by("pk").values_list(*names)
    from_rules = Incident.objects.annotate(**clock_rules.clock_states(NOW)).order_by("pk").values_list(*names)
    assert list(compiled) == list(from_rules)
    assert len({row for row in compiled}) > 5  # the cases cover many states


@pytest.mark.django_db
def test_it_filters_on_a_clock_state_inside_a_subquery(team_a):
    overdue = IncidentFactory(**SERIOUS, report_due_at=NOW - H)
    IncidentFactory(**SERIOUS, report_due_at=NOW + 3 * D)
    inner = Incident.objects.with_clocks(NOW).filter(report_state="overdue").values("pk")
    assert list(Incident.objects.filter(pk__in=inner).values_list("pk", flat=True)) == [overdue.pk]


@pytest.mark.django_db
def test_it_reads_one_written_incidents_states_as_the_annotations_give_them(team_a):
    from incidents import clock_rules

    system = AISystemFactory(owning_team=team_a)
    made = [
        IncidentFactory(
            system=system,
            status=case.status,
            **case.fields,
            **{name: NOW + offset for name, offset in case.times.items()},
        )
        for case in CASES
    ]
    annotated = {row.pk: row for row in Incident.objects.with_clocks(NOW)}
    for incident in made:
        clock_rules.read_states(incident, NOW)
        expected = annotated[incident.pk]
        assert (incident.respond_state, incident.resolve_state, incident.report_state) == (
            expected.respond_state,
            expected.resolve_state,
            expected.report_state,
        )
