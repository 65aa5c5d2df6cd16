"""Bad input answers with a clear status and field messages, and changes nothing."""

import json

import pytest

from governance.models import AISystem
from tests.factories import system_payload

VALID = system_payload(slug="checked", name="Checked")


@pytest.mark.parametrize(
    "change,field",
    [
        ({"risk_tier": "extreme"}, "risk_tier"),
        ({"eu_ai_act_class": "scary"}, "eu_ai_act_class"),
        ({"system_prompt_ref": "p.md", "system_prompt_sha256": "abc123"}, "system_prompt_sha256"),
        ({"system_prompt_ref": "p.md", "system_prompt_sha256": "g" * 64}, "system_prompt_sha256"),
        ({"owning_team": "no-such-team"}, "owning_team"),
        ({"eu_ai_act_class": "high_risk"}, "annex_iii_area"),
        ({"annex_iii_area": "employment"}, "annex_iii_area"),
        ({"lifecycle_stage": "retired"}, "retired_on"),
        ({"lifecycle_stage": "deployed"}, "deployed_on"),
        (
            {"lifecycle_stage": "retired", "deployed_on": "2025-02-01", "retired_on": "2025-01-01"},
            "retired_on",
        ),
        ({"jurisdictions": ["XX"]}, "jurisdictions"),
        ({"personal_data_categories": ["none", "health"]}, "personal_data_categories"),
        ({"tags": ["Not A Tag!"]}, "tags"),
        ({"slug": "has spaces"}, "slug"),
        ({"models": [{"model": 999999, "role": "primary"}]}, "models"),
        ({"business_owner": "nobody"}, "business_owner"),
        ({"deployed_on": "yesterday"}, "deployed_on"),
    ],
)
def test_it_rejects_bad_fields_with_messages(api_as, officer, team_a, change, field):
    response = api_as(officer).post("/api/v1/ai-systems/", {**VALID, **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert body["errors"][field]
    assert not AISystem.objects.exists()


def test_it_rejects_a_duplicate_slug_with_a_field_message(api_as, officer, system_a):
    response = api_as(officer).post("/api/v1/ai-systems/", {**VALID, "slug": "system-a"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["errors"]


def test_it_rejects_malformed_json(api_as, officer, team_a):
    response = api_as(officer).generic(
        "POST", "/api/v1/ai-systems/", '{"slug": "x", ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not AISystem.objects.exists()


def test_it_rejects_an_unsupported_media_type(api_as, officer, team_a):
    response = api_as(officer).generic("POST", "/api/v1/ai-systems/", "slug=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["detail"] == (
        'The body was sent as "text/plain"; send it as JSON with the header "Content-Type: application/json".'
    )


def test_it_says_so_when_a_body_comes_without_a_content_type(api_as, officer, team_a):
    response = api_as(officer).generic("POST", "/api/v1/ai-systems/", '{"slug": "x"}', content_type="")
    assert response.status_code == 415
    assert response.json()["detail"].startswith("The request has no Content-Type header; send it as JSON")


def test_it_names_the_upload_form_where_an_endpoint_also_takes_files(api_as, officer, team_a):
    response = api_as(officer).generic("POST", "/api/v1/evidence/", "title=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["detail"] == (
        'The body was sent as "text/plain"; send JSON with "Content-Type: application/json", '
        "or upload the file as multipart/form-data."
    )


def test_it_refuses_an_oversized_body_before_parsing(api_as, officer, team_a, settings):
    settings.VERITY_MAX_JSON_BODY_BYTES = 10_000
    body = json.dumps({**VALID, "description": "x" * 20_000})
    response = api_as(officer).generic("POST", "/api/v1/ai-systems/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not AISystem.objects.exists()


def test_it_rejects_unknown_filter_values(api_as, officer):
    response = api_as(officer).get("/api/v1/ai-systems/?risk_tier=extreme")
    assert response.status_code == 400
    assert "risk_tier" in response.json()["errors"]


def test_it_normalises_codes_and_tags(api_as, officer, team_a):
    payload = {
        **VALID,
        "jurisdictions": ["de", "eu"],
        "tags": ["GenAI"],
        "system_prompt_ref": "p.md",
        "system_prompt_sha256": "A" * 64,
    }
    response = api_as(officer).post("/api/v1/ai-systems/", payload, format="json")
    assert response.status_code == 201, response.content
    system = AISystem.objects.get(slug="checked")
    assert system.jurisdictions == ["DE", "EU"]
    assert system.tags == ["genai"]
    assert system.system_prompt_sha256 == "a" * 64


def test_it_never_answers_500_on_a_non_object_body(api_as, officer, team_a):
    response = api_as(officer).post("/api/v1/ai-systems/", [1, 2, 3], format="json")
    assert response.status_code == 400


def test_it_refuses_a_chunked_body_it_cannot_read(api_as, officer, system_a):
    response = api_as(officer).generic(
        "PATCH",
        "/api/v1/ai-systems/system-a/",
        "",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411


def test_it_refuses_a_service_account_as_owner(api_as, officer, team_a):
    from tests.factories import UserFactory

    UserFactory(username="svc-bot", is_service_account=True)
    response = api_as(officer).post(
        "/api/v1/ai-systems/", {**VALID, "technical_owner": "svc-bot"}, format="json"
    )
    assert response.status_code == 400
    assert "technical_owner" in response.json()["errors"]
