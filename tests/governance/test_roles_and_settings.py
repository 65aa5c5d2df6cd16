"""Role groups stay in line with governance/roles.py; production settings refuse unsafe defaults."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from governance.apps import _sync_roles
from governance.models import AISystem
from governance.querysets import system_visible_to
from tests.factories import AISystemFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
# What a process is started with besides Verity's own settings: none of VERITY_ENV, DJANGO_DEBUG.
BARE = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
# Only what docs/deployment.md requires.
PRODUCTION = {
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/verity"),
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}
_SHOW_SETTINGS = (
    "import json; from django.conf import settings as s; print(json.dumps({name: getattr(s, name, None)"
    " for name in %r}))"
)


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


def _run_django(env, *args):
    """``manage.py`` in a process that sees only ``env``: nothing of this test run's environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _settings(env, *names):
    result = _run_django(env, "shell", "-c", _SHOW_SETTINGS % (names,))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_it_runs_the_suite_in_development_mode(settings):
    assert settings.VERITY_ENV == "development"


def test_it_passes_the_deployment_checklist_with_only_the_required_variables():
    result = _run_django({**BARE, **PRODUCTION}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_it_is_production_unless_development_is_asked_for():
    production = _settings(
        {**BARE, **PRODUCTION},
        *("VERITY_ENV", "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"),
        *("SECURE_HSTS_SECONDS", "VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "VERITY_AUDIT_ANCHOR_FILE"),
    )
    assert production == {
        "VERITY_ENV": "production",
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": False,
        "VERITY_AUDIT_ANCHOR_FILE": "",
    }


def test_it_keeps_the_embedded_defaults_in_development(tmp_path):
    # DATABASE_URL set: no embedded server is started for this; everything else is left unset.
    development = _settings(
        {**BARE, "VERITY_ENV": "development", "DATABASE_URL": PRODUCTION["DATABASE_URL"]}
        | {"VERITY_VAR_DIR": str(tmp_path)},
        *("DEBUG", "SECRET_KEY", "CELERY_BROKER_URL", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS"),
        *("VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "VERITY_AUDIT_ANCHOR_FILE"),
    )
    assert development == {
        "DEBUG": True,
        "SECRET_KEY": "verity-local-development-key-not-for-production",
        "CELERY_BROKER_URL": "filesystem://",
        "SESSION_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True,
        "VERITY_AUDIT_ANCHOR_FILE": str(tmp_path / "audit-anchors.jsonl"),
    }


def test_it_refuses_to_start_with_nothing_configured_naming_what_production_needs():
    result = _run_django(BARE, "check")
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: Production settings (VERITY_ENV=production, the"
        " default) need DJANGO_SECRET_KEY, DATABASE_URL, CELERY_BROKER_URL"
    ) in result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"])
def test_it_refuses_to_start_in_production_without_each_required_variable(missing):
    env = {**BARE, **PRODUCTION, missing: ""}
    result = _run_django(env, "check")
    assert result.returncode != 0
    assert f"need {missing}: set them" in result.stderr


def test_it_refuses_debug_in_production():
    result = _run_django({**BARE, **PRODUCTION, "DJANGO_DEBUG": "true"}, "check")
    assert result.returncode != 0
    assert "DJANGO_DEBUG=true is refused in production" in result.stderr


def test_it_refuses_an_unknown_environment_name():
    result = _run_django({**BARE, **PRODUCTION, "VERITY_ENV": "prod"}, "check")
    assert result.returncode != 0
    assert "VERITY_ENV must be 'production' or 'development', not 'prod'" in result.stderr


def test_the_one_system_check_agrees_with_the_scoped_query(personas, system_a, team_b):
    system_b = AISystemFactory(owning_team=team_b)
    outsider = UserFactory(role=None)
    for user in [*personas.values(), outsider]:
        for system in (system_a, system_b):
            expected = AISystem.objects.visible_to(user).filter(pk=system.pk).exists()
            assert system_visible_to(system, user) is expected, (user.username, system.slug)
