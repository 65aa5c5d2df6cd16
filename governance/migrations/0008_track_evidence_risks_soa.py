"""Record writes to evidence, risks and SoA decisions and versions in the change history."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("governance", "0007_evidence_risks_soa")]

    operations = [
        track_table("governance_evidence"),
        track_table(
            "governance_evidence_implementations", root_table="governance_evidence", root_column="evidence_id"
        ),
        track_table(
            "governance_evidence_requirements", root_table="governance_evidence", root_column="evidence_id"
        ),
        track_table("governance_risk", root_table="governance_aisystem", root_column="system_id"),
        track_table("governance_risk_controls", root_table="governance_risk", root_column="risk_id"),
        track_table("governance_applicability"),
        track_table("governance_soaversion"),
    ]
