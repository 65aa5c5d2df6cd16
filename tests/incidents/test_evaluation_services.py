"""Evaluation runs, limits and escalation, trends: the services (findings: test_hallucination_findings)."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from governance.choices import Role
from governance.exceptions import NotAllowed, TooLarge
from governance.models import AISystem, User
from incidents.models import EvaluationRun, EvaluationSample, Incident, TimelineEntry
from incidents.services import evaluation_samples, stats
from incidents.services import evaluations as services
from tests.factories import (
    AISystemFactory,
    HallucinationLimitFactory,
    TeamFactory,
    UserFactory,
)


def _run_data(system, **overrides) -> dict:
    return {
        "system": system,
        "model_provider": "Example AI",
        "model_name": "example-chat",
        "model_version": "2026-01",
        "benchmark_name": "SimpleQA",
        "benchmark_version": "1.0",
        "task_kind": "short_qa",
        "judge_kind": "llm_judge",
        "judge_name": "grader",
        "rate_basis": "attempted",
        **overrides,
    }


def _counts(samples=100, attempted=100, correct=63, hallucinated=37, **more) -> dict:
    return {
        "samples": samples,
        "attempted": attempted,
        "correct": correct,
        "hallucinated": hallucinated,
        **more,
    }


def _samples(grades):
    # A generator, as an upload is read: the service must not need a list.
    for number, grade in enumerate(grades, start=1):
        yield {"sample_id": f"q-{number}", "grade": grade, "prompt": "ignored"}


# --- Counts -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_a_run_with_its_rate_and_wilson_interval(engineer, system_a):
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})

    run.refresh_from_db()
    assert (run.rate_numerator, run.rate_denominator) == (37, 100)
    assert run.hallucination_rate == 0.37
    assert (run.interval_low, run.interval_high) == stats.wilson_interval(37, 100)
    assert run.abstained == 0 and run.reporter == engineer and run.team == system_a.owning_team
    assert not run.has_samples and not run.exceeded_limit and run.incident is None


@pytest.mark.django_db
def test_it_uses_the_exact_interval_on_request(engineer, system_a):
    data = {**_run_data(system_a, interval_method="clopper_pearson"), **_counts()}
    run = services.record_run(actor=engineer, data=data)
    assert (run.interval_low, run.interval_high) == stats.clopper_pearson_interval(37, 100)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("basis", "extra", "expected"),
    [
        ("all_samples", {}, (30, 100)),
        ("attempted", {}, (30, 80)),
        ("non_correct", {}, (30, 60)),
        ("claims", {"claims": 500, "hallucinated_claims": 45}, (45, 500)),
    ],
)
def test_it_takes_the_rate_on_the_runs_basis(engineer, system_a, basis, extra, expected):
    counts = _counts(samples=100, attempted=80, correct=40, hallucinated=30, **extra)
    run = services.record_run(actor=engineer, data={**_run_data(system_a, rate_basis=basis), **counts})
    assert (run.rate_numerator, run.rate_denominator) == expected
    assert run.abstained == 20


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("counts", "field"),
    [
        (_counts(attempted=120), "attempted"),
        (_counts(correct=70), "hallucinated"),
        (_counts(samples=100, attempted=90, abstained=5), "abstained"),
        (_counts(hallucinated=-1), "hallucinated"),
        (_counts(samples=0, attempted=0, correct=0, hallucinated=0), "samples"),
        (_counts(claims=10), "hallucinated_claims"),
        (_counts(claims=10, hallucinated_claims=11), "hallucinated_claims"),
        ({"samples": 100, "attempted": 100, "correct": 63}, "hallucinated"),
        (_counts(samples="100"), "samples"),
    ],
)
def test_it_refuses_inconsistent_counts(engineer, system_a, counts, field):
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data={**_run_data(system_a), **counts})
    assert field in error.value.message_dict
    assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
def test_the_claims_basis_needs_claims(engineer, system_a):
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data={**_run_data(system_a, rate_basis="claims"), **_counts()})
    assert "claims" in error.value.message_dict


@pytest.mark.django_db
def test_an_empty_basis_leaves_the_rate_empty(engineer, system_a):
    counts = _counts(samples=10, attempted=10, correct=10, hallucinated=0)
    run = services.record_run(
        actor=engineer, data={**_run_data(system_a, rate_basis="non_correct"), **counts}
    )
    assert (run.rate_denominator, run.hallucination_rate, run.interval_low, run.interval_high) == (
        0,
        None,
        None,
        None,
    )


@pytest.mark.django_db
def test_it_refuses_unknown_fields_and_a_run_that_ends_before_it_starts(engineer, system_a):
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data={**_run_data(system_a), **_counts(), "rate": 0.1})
    assert "rate" in error.value.message_dict
    start = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    data = {
        **_run_data(system_a),
        **_counts(),
        "started_at": start,
        "finished_at": start - datetime.timedelta(hours=1),
    }
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data=data)
    assert "finished_at" in error.value.message_dict


@pytest.mark.django_db
def test_only_the_systems_team_and_officers_record_runs(personas, system_a):
    data = {**_run_data(system_a), **_counts()}
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=personas["other_engineer"], data=data)
    assert "system" in error.value.message_dict
    with pytest.raises(NotAllowed):
        services.record_run(actor=personas["auditor"], data=data)
    assert services.record_run(actor=personas["officer"], data=data).reporter == personas["officer"]


# --- Per-sample results -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_computes_the_counts_from_streamed_samples(engineer, system_a):
    grades = ["correct"] * 5 + ["incorrect"] * 3 + ["not_attempted"] * 2 + ["unverifiable"]
    run = services.record_run(actor=engineer, data=_run_data(system_a), samples=_samples(grades))

    run.refresh_from_db()
    assert (run.samples, run.attempted, run.abstained, run.correct, run.hallucinated) == (11, 9, 2, 5, 3)
    assert run.has_samples and (run.rate_numerator, run.rate_denominator) == (3, 9)
    rows = list(EvaluationSample.objects.filter(run=run).values_list("line", "sample_id", "grade"))
    assert rows == [(n, f"q-{n}", grade) for n, grade in enumerate(grades, start=1)]


@pytest.mark.django_db
def test_it_sums_claims_and_keeps_scores_from_samples(engineer, system_a):
    samples = [
        {"sample_id": "a", "grade": "incorrect", "claims": 4, "hallucinated_claims": 1, "score": 0.25},
        {"sample_id": "b", "grade": "correct", "claims": 6, "hallucinated_claims": 0, "score": 1},
    ]
    run = services.record_run(actor=engineer, data=_run_data(system_a, rate_basis="claims"), samples=samples)
    assert (run.claims, run.hallucinated_claims, run.rate_numerator, run.rate_denominator) == (10, 1, 1, 10)
    assert list(run.sample_results.values_list("score", flat=True)) == [0.25, 1.0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        {"sample_id": "q-3", "grade": "wrong"},
        {"grade": "correct"},
        {"sample_id": "q-3", "grade": "correct", "claims": -2},
        {"sample_id": "q-3", "grade": "correct", "claims": 2, "hallucinated_claims": 3},
        {"sample_id": "q-3", "grade": "correct", "score": "high"},
        ["q-3", "correct"],
    ],
)
def test_a_malformed_sample_names_its_line_and_rolls_back_the_whole_run(engineer, system_a, bad):
    def rows():
        yield {"sample_id": "q-1", "grade": "correct"}
        yield {"sample_id": "q-2", "grade": "incorrect"}
        yield bad
        yield {"sample_id": "q-4", "grade": "correct"}

    with pytest.raises(services.InvalidSample) as error:
        services.record_run(actor=engineer, data=_run_data(system_a), samples=rows())

    assert error.value.line == 3
    assert error.value.message_dict["samples"][0].startswith("Line 3:")
    assert not EvaluationRun.objects.exists() and not EvaluationSample.objects.exists()


@pytest.mark.django_db
def test_counts_given_with_samples_must_agree(engineer, system_a):
    data = {**_run_data(system_a), "samples": 3, "hallucinated": 2}
    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data=data, samples=_samples(["correct", "incorrect"]))
    assert set(error.value.message_dict) == {"samples", "hallucinated"}
    assert not EvaluationSample.objects.exists()


@pytest.mark.django_db
def test_it_refuses_no_samples_and_too_many(engineer, system_a, monkeypatch):
    with pytest.raises(ValidationError):
        services.record_run(actor=engineer, data=_run_data(system_a), samples=iter([]))
    monkeypatch.setattr(evaluation_samples, "MAX_SAMPLES", 3)
    with pytest.raises(TooLarge):
        services.record_run(actor=engineer, data=_run_data(system_a), samples=_samples(["correct"] * 4))
    assert not EvaluationRun.objects.exists() and not EvaluationSample.objects.exists()


@pytest.mark.django_db
def test_a_bad_run_field_is_refused_before_any_sample_is_read(engineer, system_a):
    def rows():
        raise AssertionError("read a sample")
        yield  # pragma: no cover

    with pytest.raises(ValidationError) as error:
        services.record_run(actor=engineer, data=_run_data(system_a, task_kind="poetry"), samples=rows())
    assert "task_kind" in error.value.message_dict


# --- Limits -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_limit_on_the_rate_is_exceeded_by_the_rate(engineer, system_a):
    HallucinationLimitFactory(system=system_a, max_rate=0.3, judged_on="rate")
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    assert run.exceeded_limit and run.limit_rate == 0.3
    assert run.incident is not None


@pytest.mark.django_db
def test_a_limit_on_the_lower_bound_needs_the_whole_interval_above_it(engineer, system_a):
    HallucinationLimitFactory(system=system_a, max_rate=0.3, judged_on="lower_bound")
    # 37 of 100: the rate (0.37) is above 0.3, the lower bound (0.2818) is not.
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    assert not run.exceeded_limit and run.incident is None
    # 370 of 1000: the lower bound (0.3405) is above 0.3 too.
    counts = _counts(samples=1000, attempted=1000, correct=630, hallucinated=370)
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **counts})
    assert run.exceeded_limit and run.incident is not None


@pytest.mark.django_db
def test_a_benchmarks_own_limit_wins_over_the_systems(engineer, system_a):
    HallucinationLimitFactory(system=system_a, benchmark_name="", max_rate=0.1)
    HallucinationLimitFactory(system=system_a, benchmark_name="SimpleQA", max_rate=0.5)
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    assert (run.limit_rate, run.exceeded_limit) == (0.5, False)
    other = services.record_run(
        actor=engineer, data={**_run_data(system_a, benchmark_name="HaluEval"), **_counts()}
    )
    assert (other.limit_rate, other.exceeded_limit) == (0.1, True)


@pytest.mark.django_db
def test_only_officers_set_and_delete_limits(officer, engineer, system_a):
    with pytest.raises(NotAllowed):
        services.set_limit(actor=engineer, system=system_a, max_rate=0.2)
    limit = services.set_limit(actor=officer, system=system_a, benchmark_name=" SimpleQA ", max_rate=0.2)
    again = services.set_limit(
        actor=officer, system=system_a, benchmark_name="SimpleQA", max_rate=0.25, judged_on="lower_bound"
    )
    assert again.pk == limit.pk and (again.benchmark_name, again.max_rate, again.judged_on) == (
        "SimpleQA",
        0.25,
        "lower_bound",
    )
    with pytest.raises(ValidationError):
        services.set_limit(actor=officer, system=system_a, max_rate=1.5)
    with pytest.raises(ValidationError):
        services.set_limit(actor=officer, system=system_a, max_rate=0.2, judged_on="median")
    with pytest.raises(NotAllowed):
        services.delete_limit(actor=engineer, limit=again)
    services.delete_limit(actor=officer, limit=again)
    assert not system_a.hallucination_limits.exists()


# --- Escalation ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_above_the_limit_twice_makes_one_incident_with_two_entries(engineer, system_a):
    HallucinationLimitFactory(system=system_a, max_rate=0.2)
    first = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    counts = _counts(samples=50, attempted=50, correct=35, hallucinated=15)
    second = services.record_run(
        actor=engineer, data={**_run_data(system_a, model_version=" 2026-01 "), **counts}
    )

    incident = Incident.objects.get()
    assert first.incident == second.incident == incident
    assert incident.source == "evaluation" and incident.reporter == engineer
    assert incident.title == "Hallucination rate above limit: SimpleQA on 2026-01"
    assert "37.00%" in incident.description and "20.00%" in incident.description
    entries = list(incident.timeline.order_by("id"))
    assert [entry.kind for entry in entries] == ["evaluation", "evaluation"]
    assert [entry.data["run"] for entry in entries] == [first.pk, second.pk]
    assert entries[1].data["interval"] == [second.interval_low, second.interval_high]


@pytest.mark.django_db
def test_the_severity_follows_how_far_above_the_limit(engineer, system_a):
    HallucinationLimitFactory(system=system_a, max_rate=0.3)
    services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})  # low 0.28 < 0.3
    counts = _counts(samples=1000, attempted=1000, correct=600, hallucinated=400)
    services.record_run(actor=engineer, data={**_run_data(system_a, model_version="2026-02"), **counts})
    severities = dict(Incident.objects.values_list("title", "severity"))
    assert severities == {
        "Hallucination rate above limit: SimpleQA on 2026-01": "SEV3",
        "Hallucination rate above limit: SimpleQA on 2026-02": "SEV2",
    }


@pytest.mark.django_db
def test_a_closed_incident_is_not_reopened_and_keys_do_not_mix(engineer, system_a):
    HallucinationLimitFactory(system=system_a, max_rate=0.2)
    data = {**_run_data(system_a), **_counts()}
    first = services.record_run(actor=engineer, data=data)
    Incident.objects.filter(pk=first.incident_id).update(status="closed")
    second = services.record_run(actor=engineer, data=data)
    other_version = services.record_run(actor=engineer, data={**data, "model_version": "2026-02"})
    other_benchmark = services.record_run(actor=engineer, data={**data, "benchmark_name": "HaluEval"})

    incidents = {
        first.incident_id,
        second.incident_id,
        other_version.incident_id,
        other_benchmark.incident_id,
    }
    assert len(incidents) == 4 and Incident.objects.count() == 4


@pytest.mark.django_db
def test_a_service_account_of_the_team_escalates(team_a, system_a):
    robot = UserFactory(username="ci-bot", role=Role.ENGINEER, teams=[team_a], is_service_account=True)
    HallucinationLimitFactory(system=system_a, max_rate=0.1)
    run = services.record_run(actor=robot, data={**_run_data(system_a), **_counts()})
    assert run.incident.reporter == robot
    assert TimelineEntry.objects.get().author == robot


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_above_the_limit_make_one_incident():
    team = TeamFactory()
    engineer = UserFactory(role=Role.ENGINEER, teams=[team])
    system = AISystemFactory(owning_team=team)
    HallucinationLimitFactory(system=system, max_rate=0.2)
    threads_count = 4
    start = threading.Barrier(threads_count)
    runs: list[EvaluationRun] = []
    errors: list[BaseException] = []

    def record():
        try:
            actor = User.objects.get(pk=engineer.pk)
            target = AISystem.objects.select_related("owning_team").get(pk=system.pk)
            start.wait(timeout=30)
            runs.append(services.record_run(actor=actor, data={**_run_data(target), **_counts()}))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    incident = Incident.objects.get()
    assert {run.incident_id for run in runs} == {incident.pk}
    assert incident.timeline.filter(kind="evaluation").count() == threads_count
    assert EvaluationRun.objects.filter(incident=incident).count() == threads_count


# --- Trends -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_trend_lists_runs_oldest_first_with_their_intervals(engineer, system_a):
    first = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    second = services.record_run(
        actor=engineer,
        data={**_run_data(system_a, model_version="2026-02"), **_counts(correct=75, hallucinated=25)},
    )
    services.record_run(actor=engineer, data={**_run_data(system_a, benchmark_name="HaluEval"), **_counts()})

    points = services.trend(system=system_a, benchmark="SimpleQA")
    assert [point["run"] for point in points] == [first.pk, second.pk]
    assert points[0] == {
        "run": first.pk,
        "created_at": first.created_at,
        "model_version": "2026-01",
        "benchmark": "SimpleQA",
        "rate": 0.37,
        "low": first.interval_low,
        "high": first.interval_high,
        "n": 100,
        "numerator": 37,
        "rate_basis": "attempted",
        "interval_method": "wilson",
        "exceeded_limit": False,
    }
    assert [point["run"] for point in services.trend(system=system_a, model_version="2026-02")] == [second.pk]
    assert len(services.trend(system=system_a)) == 3


@pytest.mark.django_db
def test_it_compares_two_versions_with_a_two_proportion_test(engineer, system_a):
    services.record_run(
        actor=engineer,
        data={**_run_data(system_a), **_counts(samples=60, attempted=60, correct=40, hallucinated=20)},
    )
    services.record_run(
        actor=engineer,
        data={**_run_data(system_a), **_counts(samples=40, attempted=40, correct=23, hallucinated=17)},
    )
    services.record_run(
        actor=engineer,
        data={**_run_data(system_a, model_version="2026-02"), **_counts(correct=75, hallucinated=25)},
    )

    result = services.compare_versions(
        system=system_a, benchmark="SimpleQA", version_a="2026-01", version_b="2026-02"
    )

    assert (result["a"]["runs"], result["a"]["numerator"], result["a"]["n"]) == (2, 37, 100)
    assert (result["b"]["runs"], result["b"]["numerator"], result["b"]["n"]) == (1, 25, 100)
    # 37 of 100 against 25 of 100, computed with scipy.stats.norm.sf (see test_evaluation_stats).
    assert abs(result["difference"] - -0.12) < 1e-12
    assert abs(result["z"] - -1.8346822357102754) < 1e-9
    assert abs(result["p_value"] - 0.0665527859043755) < 1e-9
    assert (result["a"]["low"], result["a"]["high"]) == stats.wilson_interval(37, 100)


@pytest.mark.django_db
def test_a_comparison_without_data_or_with_mixed_bases(engineer, system_a):
    empty = services.compare_versions(system=system_a, benchmark="SimpleQA", version_a="x", version_b="y")
    assert empty["a"]["n"] == 0 and empty["difference"] is None and empty["p_value"] is None
    services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    services.record_run(actor=engineer, data={**_run_data(system_a, rate_basis="all_samples"), **_counts()})
    with pytest.raises(ValidationError):
        services.compare_versions(system=system_a, benchmark="SimpleQA", version_a="2026-01", version_b="x")
    chosen = services.compare_versions(
        system=system_a, benchmark="SimpleQA", version_a="2026-01", version_b="x", rate_basis="all_samples"
    )
    assert chosen["a"]["runs"] == 1 and chosen["rate_basis"] == "all_samples"


@pytest.mark.django_db
def test_a_run_within_its_limit_is_not_escalated(engineer, system_a):
    run = services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()})
    with pytest.raises(ValueError):
        services.escalate(run=run)
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_the_trend_keeps_runs_created_in_the_window(engineer, system_a):
    runs = [services.record_run(actor=engineer, data={**_run_data(system_a), **_counts()}) for _ in range(3)]
    start = datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)
    for day, run in enumerate(runs):
        EvaluationRun.objects.filter(pk=run.pk).update(created_at=start + datetime.timedelta(days=day))

    def ids(**window):
        return [point["run"] for point in services.trend(system=system_a, **window)]

    assert ids() == [run.pk for run in runs]
    assert ids(since=start + datetime.timedelta(days=1)) == [runs[1].pk, runs[2].pk]  # since: inclusive
    assert ids(until=start + datetime.timedelta(days=1)) == [runs[0].pk]  # until: exclusive
    assert ids(limit=2) == [runs[1].pk, runs[2].pk]  # limit: the latest runs, still oldest first
    assert ids(limit=2, until=start + datetime.timedelta(days=2)) == [runs[0].pk, runs[1].pk]
    rows = services.trend_runs(system=system_a, since=start, until=start + datetime.timedelta(days=2))
    assert [services.trend_point(row)["run"] for row in rows] == [runs[0].pk, runs[1].pk]
