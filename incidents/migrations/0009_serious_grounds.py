"""An incident can meet several Art. 3(49) grounds at once: ``serious_ground`` becomes the set
``serious_grounds``, and the report deadline is the earliest any ground gives.

Each flagged incident keeps its one ground as a set of one. The change-history trigger on
``incidents_incident`` (0002) records whole rows with ``to_jsonb``, so the array column is recorded
without changing it, and the copy below is itself recorded as a change of every flagged incident.
Going back keeps the ground with the earliest deadline.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

GROUND_CHOICES = [
    ("death", "Death of a person (Art. 3(49)(a))"),
    ("health", "Serious harm to a person's health (Art. 3(49)(a))"),
    (
        "critical_infrastructure",
        "Serious and irreversible disruption of the management or operation of critical infrastructure"
        " (Art. 3(49)(b))",
    ),
    (
        "fundamental_rights",
        "Infringement of obligations under Union law intended to protect fundamental rights (Art. 3(49)(c))",
    ),
    ("property_environment", "Serious harm to property or the environment (Art. 3(49)(d))"),
]

COPY_TO_SET = """
    UPDATE incidents_incident SET serious_grounds = ARRAY[serious_ground]::varchar(30)[]
     WHERE serious_ground <> ''
"""
# Back to one ground: the one with the earliest deadline (Art. 73(3) 2 days, (4) 10, (2) 15).
COPY_TO_SINGLE = """
    UPDATE incidents_incident SET serious_ground = coalesce((
        SELECT g FROM unnest(serious_grounds) AS g
         ORDER BY CASE g WHEN 'critical_infrastructure' THEN 0 WHEN 'death' THEN 1 ELSE 2 END, g
         LIMIT 1), '')
     WHERE cardinality(serious_grounds) > 0
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0008_timeline_evaluation_kind")]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="serious_grounds",
            field=ArrayField(
                base_field=models.CharField(choices=GROUND_CHOICES, max_length=30),
                blank=True,
                default=list,
                size=None,
                verbose_name="Art. 3(49) grounds",
            ),
        ),
        migrations.RunSQL(sql=COPY_TO_SET, reverse_sql=COPY_TO_SINGLE),
        migrations.RemoveField(model_name="incident", name="serious_ground"),
    ]
