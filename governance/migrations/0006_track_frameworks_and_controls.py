"""Record writes to catalogs, mappings, controls and their implementations in the change history."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_frameworks_and_controls")]

    operations = [
        track_table("governance_framework"),
        track_table("governance_requirement", root_table="governance_framework", root_column="framework_id"),
        track_table("governance_requirementmapping"),
        track_table("governance_control"),
        track_table(
            "governance_control_requirements", root_table="governance_control", root_column="control_id"
        ),
        track_table(
            "governance_controlimplementation", root_table="governance_control", root_column="control_id"
        ),
    ]
