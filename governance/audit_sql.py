"""SQL for the change history: one trigger function, attached to every tracked table.

A migration calls ``track_table()`` for each table whose writes must be recorded. The trigger
runs inside the writing transaction, so a change and its history commit or roll back together,
whatever wrote the row (ORM, bulk ``update()``, raw SQL, psql).
"""

from django.db import migrations

RECORD_CHANGE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION verity_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ctx        jsonb := nullif(current_setting('verity.change_context', true), '')::jsonb;
    pk_column  text  := TG_ARGV[0];
    root_table text  := coalesce(nullif(TG_ARGV[1], ''), TG_TABLE_NAME);
    root_col   text  := coalesce(nullif(TG_ARGV[2], ''), TG_ARGV[0]);
    ignored    text[] := string_to_array(nullif(TG_ARGV[3], ''), ',');
    old_row    jsonb;
    new_row    jsonb;
    diff       jsonb := '{}'::jsonb;
    row_data   jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD) - coalesce(ignored, '{}'); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW) - coalesce(ignored, '{}'); END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(jsonb_object_agg(n.key, jsonb_build_array(old_row -> n.key, n.value)), '{}'::jsonb)
          INTO diff
          FROM jsonb_each(new_row) AS n
         WHERE n.value IS DISTINCT FROM old_row -> n.key
           AND n.key <> 'updated_at';
        IF diff = '{}'::jsonb THEN
            RETURN NULL;  -- nothing a person would call a change
        END IF;
    END IF;
    row_data := coalesce(new_row, old_row);
    INSERT INTO governance_changeevent (
        occurred_at, table_name, object_pk, root_table, root_pk, operation, before, after, changes,
        actor_id, actor, source, correlation_id, reason, db_user, transaction_id
    ) VALUES (
        clock_timestamp(), TG_TABLE_NAME, row_data ->> pk_column, root_table, row_data ->> root_col,
        TG_OP, old_row, new_row, diff,
        (ctx ->> 'actor_id')::bigint, coalesce(ctx ->> 'actor', ''),
        coalesce(nullif(ctx ->> 'source', ''), 'database'),
        coalesce(ctx ->> 'correlation_id', ''), left(coalesce(ctx ->> 'reason', ''), 500),
        session_user, txid_current()
    );
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION verity_refuse_history_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER changeevent_append_only
    BEFORE UPDATE OR DELETE ON governance_changeevent
    FOR EACH ROW EXECUTE FUNCTION verity_refuse_history_edit();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS changeevent_append_only ON governance_changeevent;
DROP FUNCTION IF EXISTS verity_refuse_history_edit();
DROP FUNCTION IF EXISTS verity_record_change() CASCADE;
"""


def track_table(
    table: str,
    *,
    pk: str = "id",
    root_table: str = "",
    root_column: str = "",
    ignore: tuple[str, ...] = (),
) -> migrations.RunSQL:
    """A migration operation that records every write to ``table`` in the change history.

    ``root_table``/``root_column`` file the event under the aggregate it belongs to (a system's
    model links under the system); ``ignore`` names columns that are never recorded (secrets,
    password hashes, last-use stamps), and an update touching only those records nothing.
    """
    trigger = f"{table}_record_change"
    args = ", ".join(f"'{a}'" for a in (pk, root_table, root_column, ",".join(ignore)))
    return migrations.RunSQL(
        sql=f"""
            CREATE TRIGGER {trigger}
            AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION verity_record_change({args});
        """,
        reverse_sql=f"DROP TRIGGER IF EXISTS {trigger} ON {table};",
    )
