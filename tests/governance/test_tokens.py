from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from governance.choices import TokenScope
from governance.models import ApiToken, ChangeEvent
from governance.services import tokens
from tests.factories import system_payload


def _client(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_it_stores_only_a_digest_of_the_secret(engineer):
    issued = tokens.issue_token(actor=engineer, user=engineer, name="ci")
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret.startswith(f"vrt_{row.prefix}_")
    assert issued.secret not in (row.digest, row.prefix)
    assert len(row.digest) == 64
    assert row.expires_at is not None, "tokens expire by default"


def test_it_lets_a_read_only_token_read_but_not_write(api_as, engineer, system_a):
    client = api_as(engineer, scope=TokenScope.READ)
    assert client.get("/api/v1/ai-systems/system-a/").status_code == 200
    response = client.patch("/api/v1/ai-systems/system-a/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token is read-only."
    assert client.delete("/api/v1/ai-systems/system-a/").status_code == 403


@pytest.mark.parametrize("state", ["expired", "revoked", "wrong-secret", "malformed", "disabled-user"])
def test_it_answers_401_for_unusable_tokens(engineer, system_a, state):
    issued = tokens.issue_token(actor=engineer, user=engineer, name="ci", scope=TokenScope.WRITE)
    secret = issued.secret
    if state == "expired":
        ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        tokens.revoke_token(actor=engineer, token=issued.token)
    elif state == "wrong-secret":
        secret = secret[:-4] + "AAAA"
    elif state == "malformed":
        secret = "not-a-token"
    else:
        engineer.is_active = False
        engineer.save()
    response = _client(secret).get("/api/v1/ai-systems/")
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert "Bearer" in response["WWW-Authenticate"]


def test_it_records_last_use_without_writing_history(engineer, system_a):
    issued = tokens.issue_token(actor=engineer, user=engineer, name="ci")
    events_before = ChangeEvent.objects.count()
    assert _client(issued.secret).get("/api/v1/ai-systems/").status_code == 200
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None
    assert ChangeEvent.objects.count() == events_before


def test_it_refuses_issuing_for_someone_else_unless_officer(engineer, other_engineer, officer):
    from governance.exceptions import NotAllowed

    with pytest.raises(NotAllowed):
        tokens.issue_token(actor=engineer, user=other_engineer, name="x")
    assert tokens.issue_token(actor=officer, user=other_engineer, name="x").token.user == other_engineer


def test_it_creates_tokens_and_service_accounts_from_the_command(team_a, capsys):
    call_command("create_token", service_account="svc-ci", team="team-a", name="pipeline", scope="write")
    secret = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="pipeline")
    assert token.user.is_service_account
    assert token.user.teams.get() == team_a
    assert token.scope == TokenScope.WRITE
    response = _client(secret).post(
        "/api/v1/ai-systems/",
        system_payload(slug="from-ci"),
        format="json",
    )
    assert response.status_code == 201, response.content
