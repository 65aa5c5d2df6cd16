"""Record where a requirement mapping comes from, so load_catalogs leaves officers' work alone.

Rows that exist before this migration cannot be told apart, so they all become ``catalog`` (the
loader only ever touches the pairs its files list); new rows default to ``local``, and the loader
marks the rows it creates as ``catalog``. The change-history trigger on this table
(0006) records whole rows with ``to_jsonb``, so the new columns are recorded without changing it.
"""

from django.db import migrations, models

ORIGIN_CHOICES = [("catalog", "Shipped catalog"), ("local", "Made in Verity")]
ORIGIN_HELP = (
    "Shipped catalog: loaded from a crosswalk file by load_catalogs. Made in Verity: recorded by an officer."
)


class Migration(migrations.Migration):
    dependencies = [("governance", "0016_evidence_packs")]

    operations = [
        migrations.AddField(
            model_name="requirementmapping",
            name="origin",
            field=models.CharField(
                choices=ORIGIN_CHOICES, default="catalog", help_text=ORIGIN_HELP, max_length=10
            ),
        ),
        migrations.AlterField(
            model_name="requirementmapping",
            name="origin",
            field=models.CharField(
                choices=ORIGIN_CHOICES, default="local", help_text=ORIGIN_HELP, max_length=10
            ),
        ),
        migrations.AddField(
            model_name="requirementmapping",
            name="modified_locally",
            field=models.BooleanField(
                default=False,
                help_text="An officer changed this shipped mapping, so load_catalogs no longer updates it.",
            ),
        ),
    ]
