"""Record writes to indicator sets, indicators, transparency assessments and their answers in the
change history."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("governance", "0013_transparency")]

    operations = [
        track_table("governance_indicatorset"),
        track_table(
            "governance_indicator", root_table="governance_indicatorset", root_column="indicator_set_id"
        ),
        track_table("governance_transparencyassessment"),
        track_table(
            "governance_assessmentanswer",
            root_table="governance_transparencyassessment",
            root_column="assessment_id",
        ),
    ]
