"""The evaluation API's limits and trends: a limit set again by posting it again, the trend per
model version with a comparison of two versions, and the trend's bounds."""

import datetime

import pytest

from incidents.models import EvaluationRun, HallucinationLimit
from tests.factories import EvaluationRunFactory
from tests.incidents.test_evaluation_api import LIMITS, RUNS, TRENDS, counts, run_fields

# --- Limits -------------------------------------------------------------------------------------


def test_it_sets_a_limit_again_by_posting_it_again(api_as, officer, target):
    client = api_as(officer)
    first = client.post(LIMITS, {"system": "target", "benchmark": "SimpleQA", "max_rate": 0.1}, format="json")
    again = client.post(
        LIMITS, {"system": "target", "benchmark": "SimpleQA", "max_rate": 0.05}, format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert HallucinationLimit.objects.get().max_rate == 0.05
    bad = client.post(LIMITS, {"system": "target", "max_rate": 1.5}, format="json")
    assert bad.status_code == 400 and "max_rate" in bad.json()["errors"]


# --- Trends -------------------------------------------------------------------------------------


def test_it_shows_the_trend_and_compares_two_versions(api_as, engineer, target):
    client = api_as(engineer)
    for version, hallucinated in (("v1", 30), ("v1", 28), ("v2", 10)):
        payload = {**run_fields(model_version=version), **counts(attempted=200, correct=200 - hallucinated)}
        payload.update(samples=200, abstained=0, hallucinated=hallucinated)
        assert client.post(RUNS, payload, format="json").status_code == 201

    response = client.get(f"{TRENDS}?system=target&benchmark=SimpleQA")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["system"], body["benchmark"]) == ("target", "SimpleQA")
    assert len(body["points"]) >= 2

    response = client.get(f"{TRENDS}?system=target&model_version=v2")
    assert [point["n"] for point in response.json()["points"]] == [200]

    response = client.get(f"{TRENDS}compare/?system=target&benchmark=SimpleQA&a=v1&b=v2")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["system"] == "target"
    assert (body["a"]["runs"], body["a"]["numerator"], body["a"]["n"]) == (2, 58, 400)
    assert (body["b"]["numerator"], body["b"]["n"]) == (10, 200)
    assert body["difference"] == pytest.approx(10 / 200 - 58 / 400)
    assert body["p_value"] < 0.01

    payload = {**run_fields(model_version="v2", rate_basis="all_samples"), **counts()}
    assert client.post(RUNS, payload, format="json").status_code == 201
    query = f"{TRENDS}compare/?system=target&benchmark=SimpleQA&a=v1&b=v2"
    assert "rate_basis" in client.get(query).json()["errors"]
    assert client.get(f"{query}&rate_basis=attempted").json()["b"]["n"] == 200

    assert client.get(f"{TRENDS}compare/?system=target&benchmark=SimpleQA").status_code == 400
    assert client.get(f"{TRENDS}?system=missing").status_code == 404


def test_it_bounds_the_trend_by_limit_with_a_next_link_and_by_a_window(api_as, engineer, target):
    runs = EvaluationRunFactory.create_batch(5, system=target)
    base = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    times = [base, base + datetime.timedelta(days=1), base + datetime.timedelta(days=1), base, base]
    for run, at in zip(runs, times, strict=True):  # two instants shared: the cursor must not skip any
        EvaluationRun.objects.filter(pk=run.pk).update(created_at=at)
    expected = [r.pk for r in EvaluationRun.objects.filter(system=target).order_by("created_at", "id")]
    client = api_as(engineer)

    body = client.get(f"{TRENDS}?system=target").json()
    assert [p["run"] for p in body["points"]] == expected and body["next"] is None

    body = client.get(f"{TRENDS}?system=target&limit=2").json()
    assert len(body["points"]) == 2 and body["next"] and "limit=2" in body["next"]
    assert body["system"] == "target"
    seen = [p["run"] for p in body["points"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        assert len(body["points"]) <= 2
        seen += [p["run"] for p in body["points"]]
    assert seen == expected

    window = client.get(f"{TRENDS}?system=target&since=2026-03-02T00:00:00Z&until=2026-03-03").json()
    assert [p["run"] for p in window["points"]] == expected[3:]
    assert window["since"] == "2026-03-02T00:00:00Z"
    earlier = client.get(f"{TRENDS}?system=target&until=2026-03-02").json()
    assert [p["run"] for p in earlier["points"]] == expected[:3]

    for query, field in (
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=soon", "since"),
        ("since=2026-03-02&until=2026-03-01", "until"),
    ):
        response = client.get(f"{TRENDS}?system=target&{query}")
        assert response.status_code == 400, query
        assert list(response.json()["errors"]) == [field], query
