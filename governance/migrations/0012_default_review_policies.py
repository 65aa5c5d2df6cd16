"""The four default review policies, one per internal risk tier (any EU AI Act class).

The values are written out here rather than imported, so this migration keeps producing the same
rows when the defaults in the code change later. Existing policies are left as they are.
"""

from django.db import migrations

CADENCE_DAYS = {"critical": 90, "high": 180, "medium": 365, "low": 730}
CHECKLIST = [
    {"key": "purpose", "question": "Does the recorded purpose still describe what the system does?"},
    {"key": "risk_assessment", "question": "Is the risk assessment current, with any new risks recorded?"},
    {
        "key": "incidents",
        "question": "Have the incidents since the last review been examined and closed out?",
    },
    {"key": "oversight", "question": "Does human oversight work as designed, and do people use it?"},
]


def create_default_policies(apps, schema_editor):
    ReviewPolicy = apps.get_model("governance", "ReviewPolicy")
    for tier, days in CADENCE_DAYS.items():
        ReviewPolicy.objects.get_or_create(
            risk_tier=tier,
            eu_ai_act_class="",
            defaults={
                "cadence_days": days,
                "reminder_lead_days": [30, 7, 1],
                "escalate_after_days": 7,
                "checklist": CHECKLIST,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("governance", "0011_track_reviews_and_notification_settings")]

    operations = [migrations.RunPython(create_default_policies, migrations.RunPython.noop)]
