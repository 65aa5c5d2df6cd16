"""Input the database or Python cannot take is a 4xx JSON error naming where it is, never a 500,
and nothing is written: the API's one input layer (``governance.api.json_input`` behind the JSON
and multipart parsers and the JSONL upload, ``ControlCharacterMiddleware`` for URLs)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.api import base, json_input
from governance.api.json_input import MAX_DEPTH
from governance.models import AISystem, ControlImplementation, Evidence, Risk, TransparencyAssessment
from incidents.models import EvaluationRun, EvaluationSample, Incident
from tests.factories import ControlFactory, RiskFactory, TeamFactory, incident_payload

pytestmark = pytest.mark.django_db

NUL = "a\u0000b"
NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."
RUNS = "/api/v1/evaluation-runs/"


def refused(response, status: int, code: str | None = None) -> dict:
    """The error body, checked for the project's shape (``governance/api/errors.py``)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code
    return body


@pytest.fixture
def client(api_as, officer, system_a):
    return api_as(officer)


# --- Text no column can hold, in JSON bodies -----------------------------------------------------

# (endpoint, model written there, field, the NUL-bearing value)
BODY_FIELDS = [
    ("/api/v1/ai-systems/", AISystem, "owning_team", NUL),
    ("/api/v1/ai-systems/", AISystem, "technical_owner", NUL),
    ("/api/v1/risks/", Risk, "system", NUL),
    ("/api/v1/risks/", Risk, "owner", NUL),
    ("/api/v1/risks/", Risk, "controls", ["ctl-1", NUL]),
    ("/api/v1/control-implementations/", ControlImplementation, "control", NUL),
    ("/api/v1/evidence/", Evidence, "team", NUL),
    ("/api/v1/transparency-assessments/", TransparencyAssessment, "indicator_set", NUL),
    ("/api/v1/incidents/", Incident, "system", NUL),
]


@pytest.mark.parametrize(("endpoint", "model", "field", "value"), BODY_FIELDS)
def test_a_nul_in_a_body_field_is_a_400_on_that_field(client, endpoint, model, field, value):
    before = model.objects.count()
    body = refused(client.post(endpoint, {"title": "Refused", field: value}, format="json"), 400, "invalid")
    path = f"{field}[1]" if isinstance(value, list) else field
    assert body["errors"] == {path: [NUL_MESSAGE]}
    assert model.objects.count() == before


def test_a_nul_in_a_patch_or_a_key_is_refused_and_nothing_changes(client, system_a):
    risk = RiskFactory(system=system_a, title="Kept")
    body = refused(client.patch(f"/api/v1/risks/{risk.pk}/", {"title": NUL}, format="json"), 400)
    assert body["errors"] == {"title": [NUL_MESSAGE]}
    body = refused(client.patch(f"/api/v1/risks/{risk.pk}/", {NUL: "x"}, format="json"), 400)
    assert body["errors"] == {"a\\u0000b": [NUL_MESSAGE]}
    risk.refresh_from_db()
    assert risk.title == "Kept"


@pytest.mark.parametrize("value", [0, 1.5, True, ["x"], {"x": 1}])
def test_a_text_field_takes_only_a_string(client, system_a, value):
    risk = RiskFactory(system=system_a, title="Kept", description="Kept")
    body = refused(client.patch(f"/api/v1/risks/{risk.pk}/", {"description": value}, format="json"), 400)
    assert body["errors"] == {"description": [base.TEXT_MESSAGE]}
    before = Incident.objects.count()
    body = refused(
        client.post("/api/v1/incidents/", {"title": 0, "system": system_a.slug}, format="json"), 400
    )
    assert body["errors"]["title"] == [base.TEXT_MESSAGE]
    assert Incident.objects.count() == before
    risk.refresh_from_db()
    assert risk.description == "Kept"


def test_a_list_of_text_takes_only_strings(client, system_a):
    incident = client.post("/api/v1/incidents/", incident_payload(system=system_a.slug), format="json").json()
    url = f"/api/v1/incidents/{incident['reference']}/"
    body = refused(client.patch(url, {"affected_parties": ["users", 0]}, format="json"), 400)
    assert body["errors"] == {"affected_parties": [base.TEXT_MESSAGE]}
    assert client.patch(url, {"affected_parties": ["users"]}, format="json").status_code == 200


@pytest.mark.parametrize("shape", [[], [{"title": "x"}], "text", 3])
def test_a_body_that_is_not_an_object_is_refused(client, system_a, shape):
    risk = RiskFactory(system=system_a, title="Kept")
    for method in (client.patch, client.put):
        body = refused(method(f"/api/v1/risks/{risk.pk}/", shape, format="json"), 400)
        assert body["errors"] == {"non_field_errors": [base.OBJECT_MESSAGE]}
    risk.refresh_from_db()
    assert risk.title == "Kept"


def test_a_nul_in_a_multipart_field_is_refused(client):
    file = SimpleUploadedFile("report.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    response = client.post("/api/v1/evidence/", {"team": NUL, "title": "x", "file": file}, format="multipart")
    assert refused(response, 400)["errors"] == {"team": [NUL_MESSAGE]}
    assert not Evidence.objects.exists()


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('{"title": "\\ud800"}', "title", "unpaired surrogate"),
        ('{"parameters": {"scale": 1e400}}', "parameters.scale", "finite"),
        ('{"likelihood": 99999999999999999999999}', "likelihood", "Integers must lie between"),
        ('{"controls": [{"deep": ["\\u0000"]}]}', "controls[0].deep[0]", "NUL"),
    ],
)
def test_values_no_column_takes_are_refused_naming_their_path(client, text, path, message):
    response = client.post("/api/v1/risks/", text, content_type="application/json")
    errors = refused(response, 400, "invalid")["errors"]
    assert list(errors) == [path] and message in errors[path][0]
    assert not Risk.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_a_parse_error(client, constant):
    response = client.post("/api/v1/risks/", f'{{"likelihood": {constant}}}', content_type="application/json")
    assert constant in refused(response, 400, "parse_error")["detail"]


# --- Nesting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [
        ("/api/v1/risks/", Risk),
        ("/api/v1/ai-systems/", AISystem),
        ("/api/v1/incidents/", Incident),
        (RUNS, EvaluationRun),
        ("/api/v1/teams/", None),
    ],
)
@pytest.mark.parametrize("shape", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000])
def test_json_nested_a_thousand_deep_is_a_parse_error(client, endpoint, model, shape):
    before = model.objects.count() if model else None
    body = refused(client.post(endpoint, shape, content_type="application/json"), 400, "parse_error")
    assert f"Nested more than {MAX_DEPTH} levels deep" in body["detail"]
    if model:
        assert model.objects.count() == before


def test_nesting_up_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count(client):
    deepest = MAX_DEPTH - 1  # inside the body's own object
    within = {"title": "[[[[{{{{" * 100, "parameters": json.loads("[" * deepest + "]" * deepest)}
    response = client.post("/api/v1/risks/", within, format="json")
    assert response.status_code == 400  # the serializer's answer: a field is missing, none is deep
    assert "parse_error" != response.json()["code"] and "system" in response.json()["errors"]
    one_more = json.dumps({"x": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)})  # MAX_DEPTH + 1
    refused(client.post("/api/v1/risks/", one_more, content_type="application/json"), 400, "parse_error")


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ('{"x": "' + "[" * 100 + '"}', False),  # brackets in a string do not nest
        ('["\\\\", ' + "[" * 70 + "]" * 70 + "]", True),  # an escaped backslash ends no string
        ('["\\"' + "[" * 70 + '"]', False),  # an escaped quote does not end the string
        ('{"\u00e9": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}", False),
    ],
)
def test_the_depth_scan_reads_strings_and_escapes_as_json_does(text, too_deep):
    json.loads(text)  # every case is JSON
    if too_deep:
        with pytest.raises(json_input.InvalidJSON):
            json_input.loads(text)
    else:
        json_input.loads(text)


# --- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ai-systems/%00/",
        "/api/v1/teams/a%00b/",
        "/api/v1/risks/%00/",
        "/api/v1/incidents/INC%00/",
        "/api/v1/controls/a%01b/",
        "/api/v1/transparency-scores/a%7Fb/",
    ],
)
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_control_character_in_a_path_is_a_404(client, path, method):
    team = TeamFactory(slug="kept")
    response = getattr(client, method)(path, {}, format="json")
    assert "control character" in refused(response, 404, "not_found")["detail"]
    assert AISystem.objects.filter(slug="system-a").exists() and team.pk


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("/api/v1/risks/?q=a%00b", "q"),
        ("/api/v1/incidents/?system=a%00b", "system"),
        ("/api/v1/teams/?ordering=slug%00", "ordering"),
        ("/api/v1/risks/?cursor=%00", "cursor"),
        ("/api/v1/evaluation-runs/?model_version=a%1Bb", "model_version"),
        ("/api/v1/ai-systems/?a%00b=1", "a\\u0000b"),
    ],
)
def test_a_control_character_in_a_query_parameter_is_a_400_naming_it(client, query, name):
    errors = refused(client.get(query), 400, "invalid")["errors"]
    assert list(errors) == [name] and "Control characters" in errors[name][0]


def test_tabs_and_line_breaks_in_a_search_are_text(client):
    assert client.get("/api/v1/risks/?q=refund%09amount%0A").status_code == 200


def test_control_characters_outside_the_api_are_a_404_in_a_path_and_a_400_in_a_query(client, officer):
    client.force_login(officer)
    assert client.get("/admin/governance/team/a%00b/change/").status_code == 404
    assert client.get("/admin/governance/team/?q=a%00b").status_code == 400
    assert client.get("/admin/governance/team/?q=team").status_code == 200


# --- Per-sample results: the same rules for every JSONL line and the run part ---------------------


def run_fields(**overrides) -> dict:
    return {
        "system": "system-a",
        "model_provider": "Example AI",
        "model_name": "example-chat",
        "model_version": "2026-01",
        "benchmark": "SimpleQA",
        "task_kind": "short_qa",
        "judge_kind": "llm_judge",
        "rate_basis": "attempted",
        **overrides,
    }


def upload(client, lines: list[str], fields: dict | str | None = None):
    body = "".join(f"{line}\n" for line in lines).encode()
    run = fields if isinstance(fields, str) else json.dumps(fields or run_fields())
    data = {"run": run, "sample_results": SimpleUploadedFile("r.jsonl", body)}
    return client.post(RUNS, data, format="multipart")


GOOD = '{"sample_id": "q-1", "grade": "correct", "claims": 3, "hallucinated_claims": 0}'


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"sample_id": "q\\u0000", "grade": "correct"}', f"sample_id: {NUL_MESSAGE}"),
        ('{"sample_id": "q-2", "grade": "correct", "note": "\\u0000"}', "note: Text may not contain"),
        ('{"sample_id": "q-2", "grade": "correct", "claims": 99999999999999999999999}', "claims: Integers"),
        ('{"sample_id": "q-2", "grade": "correct", "claims": 2147483648}', "claims must be a whole number"),
        ('{"sample_id": "q-2", "grade": "correct", "score": 1e400}', "score: Numbers must be finite"),
        ("[" * 1000 + "]" * 1000, "Nested more than"),
    ],
)
def test_a_jsonl_line_with_a_refused_value_is_a_422_naming_line_and_field(client, line, says):
    body = refused(upload(client, [GOOD, line, GOOD]), 422, "invalid_sample")
    assert body["line"] == 2 and "Line 2" in body["detail"] and says in body["detail"], body
    assert not EvaluationRun.objects.exists() and not EvaluationSample.objects.exists()


def test_claims_that_add_up_beyond_a_count_column_are_refused(client):
    line = '{"sample_id": "q-%d", "grade": "correct", "claims": 2147483647}'
    body = refused(upload(client, [line % 1, line % 2]), 400, "invalid")
    assert "add up to more than 2147483647" in body["errors"]["samples"][0]
    assert not EvaluationRun.objects.exists() and not EvaluationSample.objects.exists()


@pytest.mark.parametrize(
    ("run", "field"),
    [
        (json.dumps(run_fields(model_name=NUL)), "run.model_name"),
        ('{"parameters": ' + "[" * 1000 + "]" * 1000 + "}", "run"),
    ],
)
def test_the_run_part_of_an_upload_follows_the_same_rules(client, run, field):
    errors = refused(upload(client, [GOOD], run), 400, "invalid")["errors"]
    assert list(errors) == [field]
    assert not EvaluationRun.objects.exists()


@pytest.mark.parametrize(
    ("claims", "status", "where"),
    [(99999999999999999999999, 400, "sample_results[0].claims"), (2**31, 422, "claims must be")],
)
def test_huge_claims_in_a_json_array_are_refused(client, claims, status, where):
    sample = {"sample_id": "q-1", "grade": "correct", "claims": claims}
    response = client.post(RUNS, {**run_fields(), "sample_results": [sample]}, format="json")
    body = refused(response, status)
    assert where in (json.dumps(body["errors"]) if status == 400 else body["detail"])
    assert not EvaluationRun.objects.exists() and not EvaluationSample.objects.exists()


@pytest.mark.parametrize("count", ["samples", "attempted", "correct", "hallucinated"])
def test_counts_beyond_their_column_are_field_messages(client, count):
    counts = {"samples": 10, "attempted": 10, "correct": 5, "hallucinated": 5, count: 2**31}
    errors = refused(client.post(RUNS, {**run_fields(), **counts}, format="json"), 400)["errors"]
    assert "2147483647" in errors[count][0]
    assert not EvaluationRun.objects.exists()


def test_a_control_implementation_of_a_real_control_is_still_taken(client, system_a):
    """The layer refuses only what it must: an ordinary body passes it unchanged."""
    control = ControlFactory(code="CTL-1")
    response = client.post(
        "/api/v1/control-implementations/",
        {"control": control.code, "system": system_a.slug, "status": "in_progress"},
        format="json",
    )
    assert response.status_code == 201, response.content
