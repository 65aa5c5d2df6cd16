"""Record writes to reviews, review policies, notification preferences and webhook endpoints in the
change history (never the endpoints' signing secrets). The outbox is its own log and is not tracked."""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [("governance", "0010_reviews_and_notifications")]

    operations = [
        track_table("governance_reviewpolicy"),
        track_table("governance_review", root_table="governance_aisystem", root_column="system_id"),
        track_table("governance_notificationpreference"),
        track_table("governance_webhookendpoint", ignore=("secret", "consecutive_failures")),
    ]
