"""The database cache's table, so that ``migrate`` alone readies the default cache.

Rate-limit counts live in the default cache (``CACHES`` from ``CACHE_URL``). Without ``CACHE_URL``
that is a table in this database, which every web process shares; ``createcachetable`` makes it
(and does nothing for a Redis cache, or when the table exists).
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("governance", "0020_evidence_pack_leases")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
