"""Role groups stay in line with governance/roles.py; production settings refuse unsafe defaults."""

import os
import subprocess
import sys
from pathlib import Path

from django.contrib.auth.models import Group

from governance.apps import _sync_roles
from governance.models import AISystem
from governance.querysets import system_visible_to
from tests.factories import AISystemFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x" * 60 + "-production-like-secret-key",
    "DJANGO_ALLOWED_HOSTS": "verity.example.com",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def test_it_restores_role_permissions_on_every_migrate(db):
    engineer = Group.objects.get(name="engineer")
    engineer.permissions.clear()
    _sync_roles(sender=None)
    codenames = set(engineer.permissions.values_list("codename", flat=True))
    assert {"add_aisystem", "view_user", "add_aimodel"} <= codenames
    assert "change_aimodel" not in codenames


def test_it_folds_case_of_codes_and_tags_on_every_surface(team_a):
    system = AISystemFactory.build(owning_team=team_a, jurisdictions=["de", " eu"], tags=["GenAI"])
    system.full_clean()
    assert system.jurisdictions == ["DE", "EU"]
    assert system.tags == ["genai"]


def test_it_keeps_officers_from_granting_superuser(client, officer):
    target = UserFactory(username="target")
    client.force_login(officer)
    page = client.get(f"/admin/governance/user/{target.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page
    assert 'name="username"' in page


def _run_django(env_overrides, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_it_passes_the_deployment_checklist_with_production_settings():
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/verity")
    result = _run_django(
        {**PRODUCTION, "DATABASE_URL": database}, "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_in_production_without_a_database_url():
    result = _run_django(PRODUCTION, "check")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_the_one_system_check_agrees_with_the_scoped_query(personas, system_a, team_b):
    system_b = AISystemFactory(owning_team=team_b)
    outsider = UserFactory(role=None)
    for user in [*personas.values(), outsider]:
        for system in (system_a, system_b):
            expected = AISystem.objects.visible_to(user).filter(pk=system.pk).exists()
            assert system_visible_to(system, user) is expected, (user.username, system.slug)
