"""Flagging an incident serious gets timeline kinds of its own (``flagged_serious``,
``serious_grounds``); ``authority_report`` now means only a report sent to the authority.

Flags recorded before this migration were written as ``authority_report`` entries with
``data.event = "flagged_serious"``, so the timeline showed a flag as a report. They are filed under
the new kinds here: an incident's first such entry as ``flagged_serious``, later ones (another
ground) as ``serious_grounds``. Timeline entries are append-only, so the refusing trigger is
lifted for this one statement only; the change-history trigger stays on and records each
corrected entry with its kind before and after.
"""

from django.db import migrations, models

KINDS = [
    ("comment", "Comment"),
    ("status_change", "Status change"),
    ("severity_change", "Severity change"),
    ("mitigation", "Mitigation"),
    ("notification_sent", "Notification sent"),
    ("flagged_serious", "Flagged serious"),
    ("serious_grounds", "Serious grounds changed"),
    ("authority_report", "Report sent"),
    ("evaluation", "Evaluation run"),
]

REFILE_FLAGS = """
    ALTER TABLE incidents_timelineentry DISABLE TRIGGER timelineentry_append_only;
    UPDATE incidents_timelineentry t
       SET kind = CASE WHEN f.n = 1 THEN 'flagged_serious' ELSE 'serious_grounds' END
      FROM (SELECT id, row_number() OVER (PARTITION BY incident_id ORDER BY at, id) AS n
              FROM incidents_timelineentry
             WHERE kind = 'authority_report' AND data ->> 'event' = 'flagged_serious') AS f
     WHERE t.id = f.id;
    ALTER TABLE incidents_timelineentry ENABLE TRIGGER timelineentry_append_only;
"""

UNFILE_FLAGS = """
    ALTER TABLE incidents_timelineentry DISABLE TRIGGER timelineentry_append_only;
    UPDATE incidents_timelineentry SET kind = 'authority_report'
     WHERE kind IN ('flagged_serious', 'serious_grounds');
    ALTER TABLE incidents_timelineentry ENABLE TRIGGER timelineentry_append_only;
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0009_serious_grounds")]

    operations = [
        migrations.AlterField(
            model_name="timelineentry",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=20),
        ),
        migrations.RunSQL(sql=REFILE_FLAGS, reverse_sql=UNFILE_FLAGS),
    ]
