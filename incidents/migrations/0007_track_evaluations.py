"""Record writes to evaluation runs, hallucination findings and limits in the change history.
Per-sample results are bulk data written with COPY and are not tracked row by row."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("incidents", "0006_evaluations_and_findings")]

    operations = [
        track_table("incidents_evaluationrun", root_table="governance_aisystem", root_column="system_id"),
        track_table(
            "incidents_hallucinationfinding", root_table="governance_aisystem", root_column="system_id"
        ),
        track_table(
            "incidents_hallucinationlimit", root_table="governance_aisystem", root_column="system_id"
        ),
    ]
