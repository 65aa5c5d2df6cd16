"""Record writes to incidents in the change history; timeline entries are append-only."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        track_table("incidents_incident"),
        track_table(
            "incidents_incident_reference_incidents",
            root_table="incidents_incident",
            root_column="incident_id",
        ),
        track_table("incidents_correctiveaction", root_table="incidents_incident", root_column="incident_id"),
        track_table("incidents_timelineentry", root_table="incidents_incident", root_column="incident_id"),
        track_table("incidents_referenceincident"),
        migrations.RunSQL(
            sql="""
                CREATE TRIGGER timelineentry_append_only
                BEFORE UPDATE OR DELETE ON incidents_timelineentry
                FOR EACH ROW EXECUTE FUNCTION verity_refuse_history_edit();
            """,
            reverse_sql="DROP TRIGGER IF EXISTS timelineentry_append_only ON incidents_timelineentry;",
        ),
    ]
