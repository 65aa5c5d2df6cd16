"""The migrations that make serious grounds a set and give flags their own timeline kinds, run
backwards and forwards on rows written the old way."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from governance.models import ChangeEvent
from incidents.models import Incident, TimelineEntry
from tests.factories import IncidentFactory

BEFORE = [("incidents", "0008_timeline_evaluation_kind")]
AFTER = [("incidents", "0010_timeline_flag_kinds")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def old_schema(transactional_db):
    _migrate(BEFORE)
    try:
        yield
    finally:
        _migrate(AFTER)  # whatever the test did, the next tests get today's schema


@pytest.fixture
def incidents(transactional_db):
    strict = IncidentFactory(is_serious=True, serious_grounds=["death", "critical_infrastructure"])
    single = IncidentFactory(is_serious=True, serious_grounds=["health"])
    plain = IncidentFactory()
    return strict, single, plain


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def test_it_copies_each_ground_into_the_set_and_back(incidents, old_schema):
    strict, single, plain = incidents
    # Going back kept the ground with the earliest deadline (Art. 73(3), 2 days).
    back = dict(_rows("SELECT id, serious_ground FROM incidents_incident"))
    assert back == {strict.pk: "critical_infrastructure", single.pk: "health", plain.pk: ""}

    _rows("UPDATE incidents_incident SET serious_ground = 'death' WHERE id = %s", [single.pk])
    _migrate(AFTER)

    grounds = dict(Incident.objects.values_list("pk", "serious_grounds"))
    assert grounds == {strict.pk: ["critical_infrastructure"], single.pk: ["death"], plain.pk: []}


def test_it_files_old_flag_entries_under_the_flag_kinds(incidents, old_schema):
    strict, single, _ = incidents
    insert = """
        INSERT INTO incidents_timelineentry (incident_id, kind, at, author_label, body, data)
        VALUES (%s, %s, now() + make_interval(secs => %s), 'officer', '', %s::jsonb) RETURNING id
    """
    flag = '{"event": "flagged_serious", "ground": "health"}'
    ((first,),) = _rows(insert, [single.pk, "authority_report", 1, flag])
    ((report,),) = _rows(insert, [single.pk, "authority_report", 2, '{"event": "initial_report_sent"}'])
    ((again,),) = _rows(
        insert, [single.pk, "authority_report", 3, '{"event": "flagged_serious", "ground": "death"}']
    )
    ((other,),) = _rows(insert, [strict.pk, "authority_report", 1, flag])
    ((comment,),) = _rows(insert, [strict.pk, "comment", 2, "{}"])

    _migrate(AFTER)

    kinds = dict(TimelineEntry.objects.values_list("pk", "kind"))
    assert kinds == {
        first: "flagged_serious",
        report: "authority_report",
        again: "serious_grounds",
        other: "flagged_serious",
        comment: "comment",
    }
    refiled = ChangeEvent.objects.filter(table_name="incidents_timelineentry", operation="UPDATE")
    assert {int(event.object_pk): event.changes["kind"] for event in refiled} == {
        first: ["authority_report", "flagged_serious"],
        again: ["authority_report", "serious_grounds"],
        other: ["authority_report", "flagged_serious"],
    }
    # Append-only again once the migration is done.
    with pytest.raises(Exception, match="append-only"):
        _rows("UPDATE incidents_timelineentry SET body = 'x' WHERE id = %s", [first])
