"""Record every write to inventory, team, identity and token tables in the change history."""

from django.db import migrations

from governance.audit_sql import DROP_FUNCTIONS, RECORD_CHANGE_FUNCTION, track_table


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [
        migrations.RunSQL(RECORD_CHANGE_FUNCTION, reverse_sql=DROP_FUNCTIONS),
        track_table("governance_aisystem"),
        track_table("governance_systemmodel", root_table="governance_aisystem", root_column="system_id"),
        track_table("governance_aimodel"),
        track_table("governance_team"),
        track_table("governance_teammembership", root_table="governance_team", root_column="team_id"),
        track_table("governance_user", ignore=("password", "last_login")),
        track_table("governance_user_groups", root_table="governance_user", root_column="user_id"),
        track_table("governance_apitoken", ignore=("digest", "last_used_at")),
    ]
