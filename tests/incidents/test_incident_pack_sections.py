"""Incidents add their own sections to governance's evidence packs."""

import csv
import datetime
import io
import subprocess
import sys
import zipfile

import pytest

from governance.packs import PackScope, registered_sections
from governance.packs.builder import write_pack
from incidents.models import TimelineEntry
from tests.factories import (
    AISystemFactory,
    EvaluationRunFactory,
    HallucinationFindingFactory,
    IncidentFactory,
)

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
    incident = IncidentFactory(system=own, title=HYPERLINK)
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
    timeline = _read(folder, "incidents/timeline.csv")
    assert [row[-1] for row in timeline[1:]] == ["'-1 wrong"]
    findings = _read(folder, "incidents/hallucination_findings.csv")
    assert [row[8] for row in findings[1:]] == ["'@claim"]
    assert len(_read(folder, "incidents/evaluation_runs.csv")) == 2
    result = subprocess.run(
        [sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "OK", result.stdout + result.stderr
