"""Incidents add their own sections to governance's evidence packs."""

import csv
import datetime
import io
import subprocess
import sys
import zipfile

import pytest
from django.utils import timezone

from governance.packs import PackScope, registered_report_parts, registered_sections
from governance.packs.builder import write_pack
from incidents.models import TimelineEntry
from tests.factories import (
    AISystemFactory,
    EvaluationRunFactory,
    HallucinationFindingFactory,
    IncidentFactory,
)
from tests.governance.test_evidence_pack_report import SCRIPT, sections, table

HYPERLINK = '=HYPERLINK("http://x","y")'
TODAY = datetime.date.today()


def _read(folder, name):
    return list(csv.reader(io.StringIO((folder / name).read_text())))


def test_it_registers_the_incident_sections_at_start_up():
    assert {"incidents", "hallucination_findings", "evaluation_runs"} <= set(registered_sections())


@pytest.mark.django_db
def test_it_writes_incidents_with_timelines_findings_and_runs(tmp_path, auditor, engineer, team_a):
    own = AISystemFactory(owning_team=team_a)
    other = AISystemFactory()
    incident = IncidentFactory(
        system=own, title=HYPERLINK, is_serious=True, serious_grounds=["death", "health"],
        widespread_infringement=True, report_due_rule="Art. 73(3)",
    )  # fmt: skip
    TimelineEntry.objects.create(incident=incident, kind="comment", body="-1 wrong")
    IncidentFactory(system=other, title="other team's")
    old = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    IncidentFactory(system=own, title="too old", occurred_at=old)
    HallucinationFindingFactory(system=own, claim="@claim")
    EvaluationRunFactory(system=own)

    target = tmp_path / "pack.zip"
    with open(target, "wb") as handle:
        write_pack(PackScope(user=engineer, start=TODAY - datetime.timedelta(days=7), end=TODAY), handle)
    folder = tmp_path / "pack"
    with zipfile.ZipFile(target) as archive:
        archive.extractall(folder)

    incidents = _read(folder, "incidents/incidents.csv")
    assert [row[4] for row in incidents[1:]] == [f"'{HYPERLINK}"]
    by_name = [dict(zip(incidents[0], row, strict=True)) for row in incidents[1:]]
    assert [
        (row["is_serious"], row["serious_grounds"], row["widespread_infringement"], row["report_due_rule"])
        for row in by_name
    ] == [("true", "death; health", "true", "Art. 73(3)")]
    timeline = _read(folder, "incidents/timeline.csv")
    assert [row[-1] for row in timeline[1:]] == ["'-1 wrong"]
    findings = _read(folder, "incidents/hallucination_findings.csv")
    assert [row[8] for row in findings[1:]] == ["'@claim"]
    assert len(_read(folder, "incidents/evaluation_runs.csv")) == 2
    result = subprocess.run(
        [sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "OK", result.stdout + result.stderr


def test_it_registers_the_incident_report_parts_at_start_up():
    assert {"incidents_by_month", "serious_incidents", "hallucination_rates"} <= set(
        registered_report_parts()
    )


@pytest.mark.django_db
def test_it_adds_incident_parts_with_counts_and_charts_to_the_report(tmp_path, engineer, team_a):
    now = timezone.now()
    own = AISystemFactory(owning_team=team_a)
    recent, earlier = now - datetime.timedelta(hours=2), now - datetime.timedelta(days=40)
    IncidentFactory(system=own, severity="SEV3", occurred_at=recent)
    IncidentFactory(system=own, severity="SEV3", occurred_at=recent)
    IncidentFactory(system=own, severity="SEV2", occurred_at=earlier)
    IncidentFactory(
        system=own, severity="SEV1", occurred_at=recent, is_serious=True,
        serious_grounds=["critical_infrastructure", "fundamental_rights"], report_due_rule="Art. 73(3)",
        report_due_at=now - datetime.timedelta(hours=1),
    )  # fmt: skip
    IncidentFactory(
        system=own, severity="SEV2", occurred_at=recent, is_serious=True, serious_grounds=["health"],
        report_due_at=now + datetime.timedelta(days=3), initial_report_sent_at=now,
    )  # fmt: skip
    IncidentFactory(severity="SEV1", is_serious=True, serious_grounds=["health"])  # another team's
    EvaluationRunFactory(system=own, hallucinated=40, limit_rate=0.05, exceeded_limit=True)
    EvaluationRunFactory(system=own, hallucinated=20, limit_rate=0.05, exceeded_limit=True)
    EvaluationRunFactory(system=own, benchmark_name=SCRIPT, hallucinated=2, limit_rate=0.05)

    target = tmp_path / "pack.zip"
    with open(target, "wb") as handle:
        write_pack(PackScope(user=engineer, start=TODAY - datetime.timedelta(days=90), end=TODAY), handle)
    with zipfile.ZipFile(target) as archive:
        document = archive.read("report.html").decode()
    parts = sections(document)

    this_month, last_month = (timezone.localtime(t).strftime("%Y-%m") for t in (recent, earlier))
    by_month = table(parts["Incidents per month by severity"])
    assert by_month[0] == ["month", "SEV1", "SEV2", "SEV3", "SEV4", "total"]
    assert by_month[1:] == [[last_month, "0", "1", "0", "0", "1"], [this_month, "1", "1", "2", "0", "4"]]
    assert "<svg" in parts["Incidents per month by severity"]

    serious = parts["Serious incidents and their reporting clock"]
    assert "2 serious incidents (EU AI Act Art. 73): 1 overdue, 1 reported on time." in serious
    assert [row[-1] for row in table(serious)[1:]] == ["overdue", "reported on time"]
    assert [row[2:4] for row in table(serious)] == [
        ["grounds", "rule"],
        ["critical_infrastructure; fundamental_rights", "Art. 73(3)"],
        ["health", ""],
    ]
    assert "<svg" in serious

    rates = parts["Hallucination rate of the latest evaluation run"]
    rows = table(rates)[1:]
    assert [(r[1], r[4], r[6], r[7]) for r in rows] == [
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "1.0 %", "5.0 %", "no"),
        ("SimpleQA", "10.0 %", "5.0 %", "yes"),
    ]
    assert 'class="marker"' in rates
    assert "<script" not in document


def test_an_engineers_audit_log_shows_their_incidents_events_only(
    tmp_path, transactional_db, engineer, team_a
):
    import json
    import time

    from governance.models import ChangeEvent
    from governance.services import audit_chain

    own = AISystemFactory(owning_team=team_a)
    mine = IncidentFactory(system=own, title="our incident")
    IncidentFactory(system=AISystemFactory(), title="their confidential incident")
    for _ in range(100):
        audit_chain.seal_all()
        if audit_chain.head()[0] >= ChangeEvent.objects.count():
            break
        time.sleep(0.1)

    target = tmp_path / "pack.zip"
    with open(target, "wb") as handle:
        manifest = write_pack(PackScope(user=engineer), handle)
    with zipfile.ZipFile(target) as archive:
        text = archive.read("audit_log.jsonl").decode()
    events = [json.loads(line)["event"] for line in text.splitlines()]
    incident_events = [e for e in events if e is not None and e["root_table"] == "incidents_incident"]
    assert {e["root_pk"] for e in incident_events} == {str(mine.pk)}
    assert "confidential" not in text
    assert manifest["audit_chain"]["segment"]["withheld"] >= 1
