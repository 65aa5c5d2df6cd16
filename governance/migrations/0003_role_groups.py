"""Create the officer, engineer and auditor groups with their permissions."""

from django.db import migrations

from governance.roles import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_change_history_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
