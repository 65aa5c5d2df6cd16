"""Every write to the inventory is recorded by the database, whatever made it."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from governance.change_context import change_context
from governance.models import AISystem, ChangeEvent
from tests.factories import AIModelFactory, AISystemFactory, system_payload


def _events(system):
    return list(ChangeEvent.objects.for_object(system).order_by("id"))


def test_it_records_api_create_update_and_delete_with_actor(api_as, engineer, team_a):
    client = api_as(engineer)
    model = AIModelFactory()
    payload = system_payload(slug="tracked", models=[{"model": model.pk, "role": "primary"}])
    created = client.post("/api/v1/ai-systems/", payload, format="json", HTTP_X_REQUEST_ID="req-123")
    assert created.status_code == 201
    assert created["X-Request-ID"] == "req-123"
    system = AISystem.objects.get(slug="tracked")
    client.patch(
        "/api/v1/ai-systems/tracked/",
        {"risk_tier": "high"},
        format="json",
        HTTP_X_CHANGE_REASON="new use case",
    )

    events = _events(system)
    assert [(e.table_name, e.operation) for e in events] == [
        ("governance_aisystem", "INSERT"),
        ("governance_systemmodel", "INSERT"),
        ("governance_aisystem", "UPDATE"),
    ]
    assert {e.actor for e in events} == {"engineer"}
    assert {e.actor_id for e in events} == {engineer.pk}
    assert {e.source for e in events} == {"api"}
    assert events[0].correlation_id == "req-123"
    assert events[2].changes == {"risk_tier": ["low", "high"]}
    assert events[2].reason == "new use case"

    system_pk = system.pk
    assert client.delete("/api/v1/ai-systems/tracked/").status_code == 204
    deleted = ChangeEvent.objects.filter(root_pk=str(system_pk), operation="DELETE")
    assert {e.table_name for e in deleted} == {"governance_aisystem", "governance_systemmodel"}
    assert deleted.get(table_name="governance_aisystem").before["slug"] == "tracked"


def test_it_records_bulk_updates_that_bypass_signals(officer, team_a):
    systems = AISystemFactory.create_batch(3, owning_team=team_a)
    with change_context(actor=officer, source="bulk-reclassification"):
        AISystem.objects.filter(owning_team=team_a).update(risk_tier="critical")
    for system in systems:
        update = ChangeEvent.objects.for_object(system).get(operation="UPDATE")
        assert update.changes == {"risk_tier": ["low", "critical"]}
        assert update.actor == "officer"
        assert update.source == "bulk-reclassification"


def test_it_records_raw_sql_as_a_database_change(system_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('verity.change_context', '', false)")
        # Not through Django's cursor wrapper: as a DBA in psql would.
        cursor.cursor.execute(
            "UPDATE governance_aisystem SET name = 'Changed in psql' WHERE id = %s", [system_a.pk]
        )
    update = ChangeEvent.objects.for_object(system_a).get(operation="UPDATE")
    assert update.source == "database"
    assert update.actor == ""
    assert update.db_user
    assert update.changes["name"][1] == "Changed in psql"


def test_it_attributes_management_commands(db):
    from governance.change_context import pop_context, push_context

    token = push_context(source="manage.py seed_demo", actor_label="ops")
    try:
        call_command("seed_demo", verbosity=0)
    finally:
        pop_context(token)
    events = ChangeEvent.objects.filter(table_name="governance_aisystem")
    assert events.count() == 12
    assert {(e.source, e.actor) for e in events} == {("manage.py seed_demo", "ops")}


def test_it_records_nothing_for_a_no_op_save(system_a):
    before = ChangeEvent.objects.count()
    system_a.save()
    assert ChangeEvent.objects.count() == before


def test_it_rolls_history_back_with_the_change(team_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        AISystemFactory(slug="doomed", owning_team=team_a)
        raise RuntimeError
    assert not ChangeEvent.objects.filter(after__slug="doomed").exists()


@pytest.mark.parametrize(
    "statement", ["UPDATE governance_changeevent SET actor = 'x'", "DELETE FROM governance_changeevent"]
)
def test_it_refuses_edits_to_history(system_a, statement):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert ChangeEvent.objects.filter(actor="x").count() == 0


def test_it_keeps_secrets_and_password_hashes_out_of_history(engineer):
    from governance.services import tokens

    tokens.issue_token(actor=engineer, user=engineer, name="ci")
    token_event = ChangeEvent.objects.get(table_name="governance_apitoken")
    user_event = ChangeEvent.objects.filter(table_name="governance_user").first()
    assert "digest" not in token_event.after
    assert "password" not in user_event.after


def test_it_shows_history_in_the_admin(client, officer, system_a):
    with change_context(actor=officer, source="admin", reason="annual review"):
        AISystem.objects.filter(pk=system_a.pk).update(risk_tier="high")
    client.force_login(officer)
    response = client.get(f"/admin/governance/aisystem/{system_a.pk}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "risk_tier" in html and "annual review" in html and "officer" in html


def test_it_does_not_show_history_of_another_teams_system(client, other_engineer, system_a):
    client.force_login(other_engineer)
    response = client.get(f"/admin/governance/aisystem/{system_a.pk}/history/")
    assert response.status_code == 302  # admin's "does not exist" redirect
