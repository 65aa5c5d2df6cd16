"""Every table has the change-history trigger unless it is on the exempt list below, with a reason.

A new model's table fails here until its migration calls ``track_table()``
(``governance/audit_sql.py``) or the table is added to EXEMPT with why it needs no history.
The tables are read from PostgreSQL's catalogs after every migration has run.
"""

from django.contrib.auth.models import Group
from django.db import connection

from governance.models import ChangeEvent

# Tables that deliberately have no change-history trigger, and why.
EXEMPT = {
    # Django's own bookkeeping, written by migrate and the framework, never by people.
    "django_migrations": "schema bookkeeping: which migrations ran",
    "django_content_type": "Django's catalogue of models, made by migrate",
    "auth_permission": "Django's catalogue of permissions, made by migrate",
    "django_session": "login sessions: short-lived, and their keys are secrets",
    "django_admin_log": "the admin's own log of its actions; the rows they change are tracked",
    # Permission rows that no permission check reads (RolePermissionBackend takes a role's
    # permissions from the tables the apps declare in code, governance/roles.py).
    "auth_group_permissions": "a copy of the declared role tables, rewritten by every migrate",
    "governance_user_user_permissions": "per-user permissions: ignored by the backend, not in any form",
    # The history and the audit chain themselves (append-only, guarded by their own triggers).
    "governance_changeevent": "the change history itself",
    "governance_auditchainlink": "the audit chain over the change history",
    "governance_auditanchor": "published heads of the audit chain",
    # Operational records that are their own log.
    "governance_idempotencyrecord": "Idempotency-Key replays: stored responses, purged hourly",
    "governance_notification": "the outbox: each row records its event, attempts and outcome",
    "incidents_incidentsequence": "a counter; each number it hands out is tracked with its incident",
    "incidents_evaluationsample": "per-sample results written in bulk by COPY and never changed; "
    "their evaluation run is tracked",
    "verity_cache": "the default cache (rate-limit counts): expiring values, no one's record",
    # django-axes' sign-in records; an officer's unlock is logged in django_admin_log.
    "axes_accessattempt": "failed sign-in counters: written on every failed login, cleared on unlock",
    "axes_accessattemptexpiration": "when each failed sign-in counter expires",
    "axes_accesslog": "the log of sign-ins and sign-outs itself",
    "axes_accessfailurelog": "the log of failed sign-ins itself (off unless enabled)",
}

TABLES = """
    SELECT c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

# Row-level AFTER INSERT OR UPDATE OR DELETE triggers calling verity_record_change(), enabled,
# with their arguments (pk column, root table, root column, ignored columns).
RECORD_CHANGE_TRIGGERS = """
    SELECT c.relname, t.tgname, t.tgtype, t.tgenabled, t.tgargs
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND p.proname = 'verity_record_change'
"""

ROW, BEFORE, INSERT, DELETE, UPDATE = 1, 2, 4, 8, 16


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(TABLES)
        return {name for (name,) in cursor.fetchall()}


def _triggers() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(RECORD_CHANGE_TRIGGERS)
        # tgargs holds the arguments as NUL-terminated strings
        return [(*row[:4], bytes(row[4]).decode().split("\0")[:-1]) for row in cursor.fetchall()]


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


def test_it_tracks_every_table_that_is_not_exempt(db):
    tracked = {table for table, *_ in _triggers()}
    untracked = sorted(_tables() - tracked - set(EXEMPT))
    assert untracked == [], (
        f"{untracked} have no change-history trigger: call track_table() in a migration "
        "(governance/audit_sql.py), or add them to EXEMPT with the reason"
    )


def test_it_keeps_the_exempt_list_to_real_untracked_tables_with_reasons(db):
    tracked = {table for table, *_ in _triggers()}
    assert sorted(set(EXEMPT) - _tables()) == [], "exempt tables that no longer exist"
    assert sorted(set(EXEMPT) & tracked) == [], "exempt tables that are tracked after all"
    assert all(reason.strip() for reason in EXEMPT.values())


def test_it_records_inserts_updates_and_deletes_of_each_row_after_the_write(db):
    for table, name, tgtype, enabled, _args in _triggers():
        assert tgtype & ROW and not tgtype & BEFORE, (table, name)
        assert tgtype & (INSERT | UPDATE | DELETE) == INSERT | UPDATE | DELETE, (table, name)
        assert enabled == "O", (table, name, "disabled")


def test_it_points_each_trigger_at_columns_that_exist(db):
    tables = _tables()
    for table, name, _tgtype, _enabled, (pk, root_table, root_column, ignored) in _triggers():
        columns = _columns(table)
        assert pk in columns, (table, name, pk)
        assert root_column in columns | {""}, (table, name, root_column)
        assert root_table in tables | {""}, (table, name, root_table)
        assert set(filter(None, ignored.split(","))) <= columns, (table, name, ignored)


def test_it_records_a_renamed_role_group(db):
    group = Group.objects.get(name="auditor")
    group.name = "auditors-renamed"
    group.save()

    event = ChangeEvent.objects.filter(table_name="auth_group", object_pk=str(group.pk)).latest("id")
    assert event.operation == "UPDATE"
    assert event.changes == {"name": ["auditor", "auditors-renamed"]}
