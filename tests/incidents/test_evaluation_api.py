"""The evaluation API: runs posted with counts, a JSON array or a streamed JSONL upload of per-sample
results; hallucination findings one at a time or in batches; limits; trends and comparisons."""

import json

import factory
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents.models import EvaluationRun, EvaluationSample, HallucinationFinding, HallucinationLimit
from tests import matrix
from tests.factories import (
    AISystemFactory,
    EvaluationRunFactory,
    HallucinationFindingFactory,
    HallucinationLimitFactory,
)
from tests.queries import steady_state_queries

RUNS = "/api/v1/evaluation-runs/"
FINDINGS = "/api/v1/hallucination-findings/"
LIMITS = "/api/v1/hallucination-limits/"
TRENDS = "/api/v1/hallucination-trends/"


def run_fields(**overrides) -> dict:
    return {
        "system": "target",
        "model_provider": "Example AI",
        "model_name": "example-chat",
        "model_version": "2026-01",
        "benchmark": "SimpleQA",
        "benchmark_version": "1.0",
        "task_kind": "short_qa",
        "judge_kind": "llm_judge",
        "judge_name": "grader",
        "parameters": {"temperature": 0},
        "code_commit": "4f2a9c1",
        "rate_basis": "attempted",
        **overrides,
    }


def counts(**overrides) -> dict:
    return {"samples": 100, "attempted": 90, "abstained": 10, "correct": 81, "hallucinated": 9, **overrides}


def sample_lines(grades: list[str]) -> list[dict]:
    return [{"sample_id": f"q-{n}", "grade": grade} for n, grade in enumerate(grades, start=1)]


def jsonl(items) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def upload(client, body: bytes, fields: dict | None = None, **headers):
    """POST a run as multipart: the ``run`` part (JSON) and the ``sample_results`` JSONL file."""
    data = {
        "run": json.dumps(fields or run_fields()),
        "sample_results": SimpleUploadedFile("results.jsonl", body, content_type="application/x-ndjson"),
    }
    return client.post(RUNS, data, format="multipart", **headers)


def finding_payload(**overrides) -> dict:
    return {
        "system": "target",
        "model_name": "example-chat",
        "model_version": "2026-01",
        "benchmark": "SimpleQA",
        "sample_id": "q-17",
        "claim": "The Eiffel Tower was completed in 1901.",
        "reference": "It was completed in 1889.",
        "kind": "extrinsic",
        "subtype": "wrong_fact",
        "grade": "incorrect",
        "severity": "SEV3",
        **overrides,
    }


# --- Recording runs -----------------------------------------------------------------------------


def test_it_records_a_run_from_counts(api_as, engineer, target):
    response = api_as(engineer).post(RUNS, {**run_fields(), **counts()}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["system"], body["team"], body["reporter"]) == ("target", "team-a", "engineer")
    assert (body["samples"], body["attempted"], body["hallucinated"]) == (100, 90, 9)
    assert (body["rate_numerator"], body["rate_denominator"]) == (9, 90)
    assert body["hallucination_rate"] == pytest.approx(0.1)
    assert body["interval_low"] < 0.1 < body["interval_high"]
    assert body["has_samples"] is False
    assert EvaluationRun.objects.get().parameters == {"temperature": 0}


def test_it_records_a_run_from_a_json_array_of_samples(api_as, engineer, target):
    grades = ["correct"] * 6 + ["incorrect"] * 3 + ["not_attempted"]
    response = api_as(engineer).post(
        RUNS, {**run_fields(), "sample_results": sample_lines(grades)}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["samples"], body["attempted"], body["abstained"]) == (10, 9, 1)
    assert (body["correct"], body["hallucinated"], body["has_samples"]) == (6, 3, True)
    assert list(EvaluationSample.objects.order_by("line").values_list("line", "sample_id"))[:2] == [
        (1, "q-1"),
        (2, "q-2"),
    ]


def test_it_records_a_run_from_a_streamed_jsonl_upload_and_pages_its_samples(api_as, engineer, target):
    grades = ["correct"] * 300 + ["incorrect"] * 150 + ["not_attempted"] * 50
    items = [{**item, "score": 0.5, "prompt": "ignored"} for item in sample_lines(grades)]
    client = api_as(engineer)
    response = upload(client, jsonl(items))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["samples"], body["attempted"], body["correct"], body["hallucinated"]) == (500, 450, 300, 150)
    assert body["hallucination_rate"] == pytest.approx(150 / 450)
    assert EvaluationSample.objects.filter(run_id=body["id"]).count() == 500

    page = client.get(f"{RUNS}{body['id']}/samples/?page_size=200").json()
    assert [row["line"] for row in page["results"]][:3] == [1, 2, 3]
    assert page["results"][0] == {
        "line": 1,
        "sample_id": "q-1",
        "grade": "correct",
        "claims": None,
        "hallucinated_claims": None,
        "score": 0.5,
    }
    second = client.get(page["next"]).json()
    assert second["results"][0]["line"] == 201


def test_it_accepts_crlf_lines_and_a_trailing_empty_line(api_as, engineer, target):
    body = b'{"sample_id": "a", "grade": "correct"}\r\n{"sample_id": 7, "grade": "incorrect"}\r\n\r\n'
    response = upload(api_as(engineer), body)
    assert response.status_code == 201, response.content
    assert response.json()["samples"] == 2
    assert set(EvaluationSample.objects.values_list("sample_id", flat=True)) == {"a", "7"}


@pytest.mark.parametrize(
    "bad_line,fields",
    [
        (b'{"sample_id": "q-3", "grade": "correct"', None),  # not JSON
        (b'["q-3", "correct"]', None),  # not an object
        (b'{"sample_id": "q-3"}', "grade"),  # a field missing
        (b'{"sample_id": "q-3", "grade": "wrong"}', "grade"),
        (b'{"sample_id": "q-3", "grade": "correct", "claims": -1}', "claims"),
        (b"", None),  # an empty line before more samples
    ],
)
def test_it_answers_422_naming_a_malformed_line_and_stores_nothing(
    api_as, engineer, target, bad_line, fields
):
    good = jsonl(sample_lines(["correct", "incorrect"]))
    body = good + bad_line + b"\n" + jsonl(sample_lines(["correct"] * 5000))
    response = upload(api_as(engineer), body)
    assert response.status_code == 422, response.content
    answer = response.json()
    assert (answer["status"], answer["code"], answer["line"]) == (422, "invalid_sample", 3)
    assert "Line 3" in answer["detail"]
    if fields:
        assert fields in answer["detail"]
    assert not EvaluationRun.objects.exists()
    assert not EvaluationSample.objects.exists()


def test_it_answers_422_naming_the_position_of_a_bad_item_of_a_json_array(api_as, engineer, target):
    items = [*sample_lines(["correct", "incorrect"]), {"sample_id": "q-3", "grade": "maybe"}]
    response = api_as(engineer).post(RUNS, {**run_fields(), "sample_results": items}, format="json")
    assert response.status_code == 422, response.content
    assert (response.json()["line"], response.json()["code"]) == (3, "invalid_sample")
    assert not EvaluationRun.objects.exists()
    assert not EvaluationSample.objects.exists()


def test_it_refuses_more_than_100000_samples_with_413_and_stores_nothing(api_as, engineer, target):
    line = b'{"sample_id": "q", "grade": "correct"}\n'
    response = upload(api_as(engineer), line * 100_001)
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_many_samples"
    assert not EvaluationRun.objects.exists()
    assert not EvaluationSample.objects.exists()


def test_it_refuses_an_upload_over_the_size_limit_before_reading_it(api_as, engineer, target, settings):
    settings.VERITY_MAX_SAMPLES_UPLOAD_BYTES = 10_000
    response = upload(api_as(engineer), jsonl(sample_lines(["correct"] * 1000)))
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "request_too_large"
    assert not EvaluationRun.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({**run_fields()}, "samples"),  # neither counts nor samples
        ({**run_fields(), **counts(), "sample_results": sample_lines(["correct"])}, "attempted"),
        ({**run_fields(), **counts(), "task_kind": "poetry"}, "task_kind"),
        ({**run_fields(system="nope"), **counts()}, "system"),
    ],
)
def test_it_names_the_fields_of_an_invalid_run(api_as, engineer, target, body, field):
    response = api_as(engineer).post(RUNS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not EvaluationRun.objects.exists()


def test_it_names_a_missing_or_malformed_run_part(api_as, engineer, target):
    client = api_as(engineer)
    file = SimpleUploadedFile("r.jsonl", jsonl(sample_lines(["correct"])))
    response = client.post(RUNS, {"sample_results": file}, format="multipart")
    assert response.status_code == 400 and "run" in response.json()["errors"]
    response = upload(client, jsonl(sample_lines(["correct"])), fields={**run_fields(), **counts()})
    assert response.status_code == 400 and "samples" in response.json()["errors"]
    assert not EvaluationRun.objects.exists()


def test_it_replays_a_run_upload_posted_again_with_its_idempotency_key(api_as, engineer, target):
    client = api_as(engineer)
    body = jsonl(sample_lines(["correct", "incorrect"] * 50))
    first = upload(client, body, HTTP_IDEMPOTENCY_KEY="ci-run-1")
    again = upload(client, body, HTTP_IDEMPOTENCY_KEY="ci-run-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert EvaluationRun.objects.count() == 1 and EvaluationSample.objects.count() == 100
    other = upload(
        client, body + jsonl([{"sample_id": "x", "grade": "correct"}]), HTTP_IDEMPOTENCY_KEY="ci-run-1"
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert EvaluationRun.objects.count() == 1


def test_it_takes_an_upload_larger_than_the_json_limit_spilled_to_disk(api_as, engineer, target, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # the file part goes to a temporary file
    body = jsonl(sample_lines(["correct", "incorrect", "not_attempted"] * 10_000))
    assert len(body) > settings.VERITY_MAX_JSON_BODY_BYTES
    client = api_as(engineer)
    first = upload(client, body, HTTP_IDEMPOTENCY_KEY="big-run")
    assert first.status_code == 201, first.content
    assert (first.json()["samples"], first.json()["abstained"]) == (30_000, 10_000)
    again = upload(client, body, HTTP_IDEMPOTENCY_KEY="big-run")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert EvaluationSample.objects.count() == 30_000


def test_it_replays_a_counts_post_with_its_idempotency_key(api_as, engineer, target):
    client = api_as(engineer)
    payload = {**run_fields(), **counts()}
    first = client.post(RUNS, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(RUNS, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    assert EvaluationRun.objects.count() == 1


# --- Who may do what ----------------------------------------------------------------------------

EXPECTED = {
    "evaluation-runs": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 404, "auditor": 403},
        "update": {"officer": 403, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "delete": {"officer": 403, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
    "hallucination-findings": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 201, "other_engineer": 404, "auditor": 403},
        "update": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 403},
        "delete": {"officer": 403, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
    "hallucination-limits": {
        "list": {"officer": 200, "engineer": 200, "other_engineer": 200, "auditor": 200},
        "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
        "create": {"officer": 201, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "update": {"officer": 200, "engineer": 403, "other_engineer": 403, "auditor": 403},
        "delete": {"officer": 204, "engineer": 403, "other_engineer": 403, "auditor": 403},
    },
}
MODELS = {
    "evaluation-runs": EvaluationRun,
    "hallucination-findings": HallucinationFinding,
    "hallucination-limits": HallucinationLimit,
}
CREATE = {
    "evaluation-runs": {**run_fields(), **counts()},
    "hallucination-findings": finding_payload(claim="A new claim."),
    "hallucination-limits": {"system": "target", "benchmark": "TruthfulQA", "max_rate": 0.2},
}
PATCH = {
    "evaluation-runs": {"model_version": "x"},
    "hallucination-findings": {"status": "confirmed"},
    "hallucination-limits": {"max_rate": 0.05},
}


@pytest.mark.parametrize("endpoint,action,persona,expected", matrix.cases(EXPECTED))
def test_it_enforces_roles_and_scope(endpoint, action, persona, expected, personas, target, api_as):
    existing = {
        "evaluation-runs": lambda: EvaluationRunFactory(system=target),
        "hallucination-findings": lambda: HallucinationFindingFactory(system=target),
        "hallucination-limits": lambda: HallucinationLimitFactory(system=target),
    }[endpoint]()
    model = MODELS[endpoint]
    before = model.objects.count()
    response = matrix.perform(
        api_as(personas[persona]),
        action,
        f"/api/v1/{endpoint}/",
        existing.pk,
        create=CREATE[endpoint],
        patch=PATCH[endpoint],
    )
    matrix.assert_outcome(response, action, expected, model, before)
    if action == "list" and persona == "other_engineer":
        assert response.json()["results"] == []


def test_it_scopes_samples_trends_and_the_run_filter(api_as, other_engineer, target):
    run = EvaluationRunFactory(system=target)
    client = api_as(other_engineer)
    assert client.get(f"{RUNS}{run.pk}/samples/").status_code == 404
    assert client.get(f"{TRENDS}?system=target").status_code == 404
    assert client.get(f"{TRENDS}compare/?system=target&benchmark=SimpleQA&a=1&b=2").status_code == 404
    response = client.post(FINDINGS, finding_payload(system="team-b-none", run=run.pk), format="json")
    assert response.status_code == 400


def test_it_refuses_a_finding_naming_a_run_the_caller_cannot_see(api_as, other_engineer, team_b, target):
    AISystemFactory(slug="theirs", owning_team=team_b)
    run = EvaluationRunFactory(system=target)
    response = api_as(other_engineer).post(
        FINDINGS, finding_payload(system="theirs", run=run.pk), format="json"
    )
    assert response.status_code == 400, response.content
    assert "run" in response.json()["errors"]
    assert not HallucinationFinding.objects.exists()


# --- Findings -----------------------------------------------------------------------------------


def test_it_records_the_same_finding_once(api_as, engineer, target):
    client = api_as(engineer)
    first = client.post(FINDINGS, finding_payload(), format="json")
    again = client.post(FINDINGS, finding_payload(severity="SEV2"), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert HallucinationFinding.objects.count() == 1


def test_it_records_a_batch_of_findings(api_as, engineer, target):
    client = api_as(engineer)
    client.post(FINDINGS, finding_payload(), format="json")
    batch = [finding_payload(), *[finding_payload(sample_id=f"q-{n}", claim=f"Claim {n}.") for n in range(4)]]
    response = client.post(FINDINGS, batch, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["existing"], len(body["results"])) == (4, 1, 5)
    assert [row["sample_id"] for row in body["results"]] == ["q-17", "q-0", "q-1", "q-2", "q-3"]
    assert HallucinationFinding.objects.count() == 5
    again = client.post(FINDINGS, batch, format="json")
    assert again.status_code == 200 and again.json()["created"] == 0
    assert HallucinationFinding.objects.count() == 5


def test_it_records_a_batch_all_or_nothing_with_per_item_errors(api_as, engineer, target):
    batch = [finding_payload(sample_id=f"q-{n}", claim=f"Claim {n}.") for n in range(5)]
    batch[1]["kind"] = "imaginary"
    del batch[3]["claim"]
    response = api_as(engineer).post(FINDINGS, batch, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert set(errors) == {"1", "3"}
    assert "kind" in errors["1"] and "claim" in errors["3"]
    assert not HallucinationFinding.objects.exists()


def test_it_refuses_an_empty_or_oversized_batch(api_as, engineer, target):
    client = api_as(engineer)
    assert client.post(FINDINGS, [], format="json").status_code == 400
    batch = [finding_payload(sample_id=f"q-{n}") for n in range(1001)]
    response = client.post(FINDINGS, batch, format="json")
    assert response.status_code == 413 and response.json()["code"] == "too_many_findings"
    assert not HallucinationFinding.objects.exists()


def test_it_replays_a_batch_posted_again_with_its_idempotency_key(api_as, engineer, target):
    client = api_as(engineer)
    batch = [finding_payload(sample_id=f"q-{n}", claim=f"Claim {n}.") for n in range(3)]
    first = client.post(FINDINGS, batch, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = client.post(FINDINGS, batch, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    assert again["Idempotent-Replayed"] == "true"


def test_it_changes_a_findings_status(api_as, engineer, target):
    original = HallucinationFindingFactory(system=target)
    repeat = HallucinationFindingFactory(system=target)
    client = api_as(engineer)
    response = client.patch(f"{FINDINGS}{original.pk}/", {"status": "confirmed"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    response = client.patch(
        f"{FINDINGS}{repeat.pk}/", {"status": "duplicate", "duplicate_of": original.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["duplicate_of"] == original.pk
    response = client.patch(f"{FINDINGS}{original.pk}/", {"status": "sure"}, format="json")
    assert response.status_code == 400 and "status" in response.json()["errors"]


# --- Lists, filters and their cost --------------------------------------------------------------


def test_it_filters_runs(api_as, officer, target, team_b):
    other = AISystemFactory(slug="other", owning_team=team_b)
    EvaluationRunFactory(system=target, model_version="v1", benchmark_name="SimpleQA")
    EvaluationRunFactory(system=target, model_version="v2", benchmark_name="SimpleQA", exceeded_limit=True)
    EvaluationRunFactory(system=other, model_version="v1", benchmark_name="TruthfulQA")
    client = api_as(officer)

    def ids(query):
        response = client.get(f"{RUNS}?{query}")
        assert response.status_code == 200, response.content
        return [(row["system"], row["model_version"]) for row in response.json()["results"]]

    assert ids("system=target") == [("target", "v2"), ("target", "v1")]
    assert ids("model_version=v1&benchmark=TruthfulQA") == [("other", "v1")]
    assert ids("exceeded_limit=true") == [("target", "v2")]
    assert ids("created_after=2000-01-01T00:00:00Z&created_before=2000-01-02T00:00:00Z") == []


def test_it_filters_findings(api_as, officer, target):
    run = EvaluationRunFactory(system=target)
    HallucinationFindingFactory(system=target, run=run, subtype="fabricated_citation", severity="SEV2")
    HallucinationFindingFactory(system=target, status="confirmed", kind="intrinsic")
    client = api_as(officer)

    def count(query):
        return len(client.get(f"{FINDINGS}?{query}").json()["results"])

    assert (count("system=target"), count(f"run={run.pk}"), count("subtype=fabricated_citation")) == (2, 1, 1)
    assert (count("status=confirmed"), count("kind=intrinsic"), count("severity=SEV2")) == (1, 1, 1)
    HallucinationFindingFactory(system=target, benchmark_name="TruthfulQA", model_version="v9")
    by_benchmark = (count("benchmark=TruthfulQA"), count("benchmark=SimpleQA"))
    assert by_benchmark == (1, 2) and count("model_version=v9") == 1


def test_it_calls_the_benchmark_benchmark_in_bodies_responses_and_filters(api_as, officer, target):
    """One name for one idea: the trend and the list filters said ``benchmark``, the bodies and
    responses ``benchmark_name``; now all of them say ``benchmark``."""
    client = api_as(officer)
    run = client.post(RUNS, {**run_fields(benchmark="HaluEval"), **counts()}, format="json").json()
    finding = client.post(FINDINGS, finding_payload(benchmark="HaluEval"), format="json").json()
    limit = client.post(LIMITS, {"system": "target", "benchmark": "HaluEval", "max_rate": 0.2}, format="json")
    for body in (run, finding, limit.json()):
        assert body["benchmark"] == "HaluEval" and "benchmark_name" not in body
    for url in (RUNS, FINDINGS, LIMITS):
        [listed] = client.get(f"{url}?benchmark=HaluEval").json()["results"]
        assert listed["benchmark"] == "HaluEval"
    point = client.get(f"{TRENDS}?system=target&benchmark=HaluEval").json()["points"][0]
    assert point["benchmark"] == "HaluEval"

    old_name = client.post(FINDINGS, {**finding_payload(), "benchmark_name": "SimpleQA"}, format="json")
    assert old_name.status_code == 400
    assert old_name.json()["errors"] == {"benchmark_name": ['Unknown field; did you mean "benchmark"?']}


@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_in_a_constant_number_of_queries(api_as, personas, persona, target):
    client = api_as(personas[persona])
    run = EvaluationRunFactory(system=target)
    EvaluationSample.objects.bulk_create(
        EvaluationSample(run=run, line=n, sample_id=f"q-{n}", grade="correct") for n in range(1, 6)
    )
    makers = {
        RUNS: lambda n: EvaluationRunFactory.create_batch(n, system=target),
        FINDINGS: lambda n: HallucinationFindingFactory.create_batch(n, system=target),
        LIMITS: lambda n: HallucinationLimitFactory.create_batch(
            n, system=target, benchmark_name=factory.Sequence(lambda m: f"bench-{m}")
        ),
    }
    for url, make in makers.items():
        make(3)
        few, _ = steady_state_queries(client, url)
        make(20)
        many, body = steady_state_queries(client, url)
        assert len(body["results"]) >= 20
        assert few == many, f"{url}: {few} queries, then {many}"
    few, _ = steady_state_queries(client, f"{RUNS}{run.pk}/samples/")
    EvaluationSample.objects.bulk_create(
        EvaluationSample(run=run, line=n, sample_id=f"q-{n}", grade="incorrect") for n in range(6, 60)
    )
    many, body = steady_state_queries(client, f"{RUNS}{run.pk}/samples/")
    assert len(body["results"]) == 59 and few == many
