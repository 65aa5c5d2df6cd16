"""Record writes to the role groups in the change history.

A group's name is the role its members hold, so renaming or adding a group (the admin lets
superusers) changes who may do what; membership itself is tracked in ``governance_user_groups``.
"""

from django.db import migrations

from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0018_system_model_link_checked_at_commit"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [track_table("auth_group")]
