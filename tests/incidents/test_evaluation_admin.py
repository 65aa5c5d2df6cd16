"""Evaluation runs, hallucination findings and limits in the admin: the run list with rates and
intervals, scoping, finding triage through the service, limits set by officers, the trend page."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from incidents.models import EvaluationRun, HallucinationLimit
from incidents.services import evaluations as services
from tests.factories import (
    AISystemFactory,
    EvaluationRunFactory,
    HallucinationFindingFactory,
    HallucinationLimitFactory,
    IncidentFactory,
)

RUNS = "/admin/incidents/evaluationrun/"
TREND = f"{RUNS}trend/"
FINDINGS = "/admin/incidents/hallucinationfinding/"
LIMITS = "/admin/incidents/hallucinationlimit/"


@pytest.fixture
def mine(team_a):
    return AISystemFactory(slug="claims-bot", name="Claims bot", owning_team=team_a)


@pytest.fixture
def theirs(team_b):
    return AISystemFactory(slug="payments-bot", name="Payments bot", owning_team=team_b)


def _aged(run, days):
    EvaluationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days))
    return run


# --- Runs -----------------------------------------------------------------------------------------


def test_it_lists_runs_with_rate_interval_n_limit_and_incident(client, officer, mine):
    incident = IncidentFactory(system=mine, reference="INC-2000-77")
    EvaluationRunFactory(
        system=mine,
        model_version="v2",
        hallucinated=41,
        attempted=333,
        samples=333,
        hallucination_rate=0.123,
        interval_low=0.101,
        interval_high=0.148,
        limit_rate=0.1,
        exceeded_limit=True,
        incident=incident,
    )
    EvaluationRunFactory(system=mine, model_version="v1", hallucinated=5, limit_rate=0.1)

    client.force_login(officer)
    page = client.get(RUNS).content.decode()
    assert "12.3 % (10.1–14.8 %)" in page
    assert '<td class="field-n">333</td>' in page
    assert re.search(r'class="run-exceeded" style="color:#cf222e">exceeded 10.0 %', page)
    assert 'class="run-within">within 10.0 %' in page
    assert "INC-2000-77" in page and f"/admin/incidents/incident/{incident.pk}/change/" in page
    assert "trend/?system=claims-bot&amp;benchmark=SimpleQA" in page


def test_it_shows_a_run_read_only_with_its_rate_explained(client, officer, mine):
    run = EvaluationRunFactory(system=mine, hallucinated=20, attempted=200, samples=200)
    client.force_login(officer)
    assert f"{RUNS}add/" not in client.get(RUNS).content.decode()
    page = client.get(f"{RUNS}{run.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert "10.0 % (6.6–14.9 %)" in page
    assert "20 of 200 (attempted samples only" in page
    assert client.get(f"{RUNS}add/").status_code == 403


def test_it_scopes_runs_to_the_engineers_teams(client, engineer, mine, theirs):
    EvaluationRunFactory(system=mine, model_version="mine-v1")
    other = EvaluationRunFactory(system=theirs, model_version="theirs-v1")
    client.force_login(engineer)
    page = client.get(RUNS).content.decode()
    assert "mine-v1" in page and "theirs-v1" not in page
    response = client.get(f"{RUNS}{other.pk}/change/", follow=True)
    assert "theirs-v1" not in response.content.decode()
    assert client.get(TREND, {"system": theirs.slug}).status_code == 404


def test_the_run_list_costs_the_same_queries_for_one_run_or_many(
    client, officer, mine, django_assert_max_num_queries
):
    EvaluationRunFactory(system=mine, incident=IncidentFactory(system=mine))
    client.force_login(officer)
    client.get(RUNS)
    with django_assert_max_num_queries(14) as one:  # 3 save the session: SAVEPOINT, UPDATE, RELEASE
        client.get(RUNS)
    for _ in range(10):
        EvaluationRunFactory(system=AISystemFactory(), incident=IncidentFactory(system=mine))
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(RUNS).status_code == 200


# --- Findings -------------------------------------------------------------------------------------


def test_it_lists_new_findings_first_then_by_severity(client, officer, mine):
    HallucinationFindingFactory(system=mine, status="confirmed", severity="SEV1", claim="already confirmed")
    HallucinationFindingFactory(system=mine, severity="SEV4", claim="new and minor")
    HallucinationFindingFactory(system=mine, severity="SEV2", claim="new and major")
    client.force_login(officer)
    page = client.get(FINDINGS).content.decode()
    assert page.index("new and major") < page.index("new and minor") < page.index("already confirmed")


def test_it_confirms_and_dismisses_findings_through_the_service(client, engineer, mine):
    first, second = HallucinationFindingFactory(system=mine), HallucinationFindingFactory(system=mine)
    client.force_login(engineer)
    with mock.patch.object(services, "update_finding_status", wraps=services.update_finding_status) as update:
        client.post(FINDINGS, {"action": "confirm", "_selected_action": [first.pk]})
        client.post(FINDINGS, {"action": "false_positive", "_selected_action": [second.pk]})
    assert [call.kwargs["status"] for call in update.call_args_list] == ["confirmed", "false_positive"]
    assert all(call.kwargs["actor"] == engineer for call in update.call_args_list)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("confirmed", "false_positive")


def test_only_officers_accept_the_risk_of_a_finding(client, officer, engineer, mine):
    finding = HallucinationFindingFactory(system=mine)
    client.force_login(engineer)
    assert 'value="risk_accepted"' not in client.get(FINDINGS).content.decode()
    client.force_login(officer)
    assert 'value="risk_accepted"' in client.get(FINDINGS).content.decode()
    client.post(FINDINGS, {"action": "risk_accepted", "_selected_action": [finding.pk]})
    finding.refresh_from_db()
    assert finding.status == "risk_accepted"


def test_it_marks_a_duplicate_after_asking_for_the_original(client, officer, mine, theirs):
    original = HallucinationFindingFactory(system=mine, claim="The original claim")
    copy = HallucinationFindingFactory(system=mine, claim="The same claim again")
    elsewhere = HallucinationFindingFactory(system=theirs, claim="Another system's claim")
    client.force_login(officer)

    page = client.post(FINDINGS, {"action": "mark_duplicate", "_selected_action": [copy.pk]})
    body = page.content.decode()
    assert 'id="mark-duplicate-form"' in body
    assert f'value="{original.pk}"' in body and f'value="{elsewhere.pk}"' not in body
    copy.refresh_from_db()
    assert copy.status == "new"

    client.post(
        FINDINGS,
        {
            "action": "mark_duplicate",
            "_selected_action": [copy.pk],
            "duplicate_of": original.pk,
            "apply": "1",
        },
    )
    copy.refresh_from_db()
    assert (copy.status, copy.duplicate_of_id) == ("duplicate", original.pk)


def test_it_changes_a_findings_status_from_its_page(client, officer, mine):
    finding = HallucinationFindingFactory(system=mine)
    client.force_login(officer)
    response = client.post(f"{FINDINGS}{finding.pk}/change/", {"status": "fixed", "duplicate_of": ""})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == "fixed"


def test_a_refusal_of_the_service_shows_on_the_findings_page(client, engineer, mine):
    finding = HallucinationFindingFactory(system=mine)
    client.force_login(engineer)
    response = client.post(f"{FINDINGS}{finding.pk}/change/", {"status": "risk_accepted", "duplicate_of": ""})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    finding.refresh_from_db()
    assert finding.status == "new"


def test_a_run_links_to_its_findings(client, officer, mine):
    run = EvaluationRunFactory(system=mine)
    HallucinationFindingFactory(system=mine, run=run, claim="Found in this run")
    HallucinationFindingFactory(system=mine, claim="Found elsewhere")
    client.force_login(officer)
    page = client.get(f"{RUNS}{run.pk}/change/").content.decode()
    link = f"{FINDINGS}?run__id__exact={run.pk}"
    assert f'href="{link}">1 finding(s)' in page
    findings = client.get(link).content.decode()
    assert "Found in this run" in findings and "Found elsewhere" not in findings


def test_it_shows_only_the_hash_of_a_prompt_stored_without_its_text(client, officer, mine):
    digest = "ab" * 32
    finding = HallucinationFindingFactory(system=mine, prompt="", prompt_sha256=digest)
    client.force_login(officer)
    page = client.get(f"{FINDINGS}{finding.pk}/change/").content.decode()
    assert f'<code class="prompt-hash">{digest}</code>' in page
    assert "Not stored (sensitive)" in page


def test_auditors_read_findings_and_runs_but_change_nothing(client, auditor, mine):
    finding = HallucinationFindingFactory(system=mine, claim="Auditors see this claim")
    run = EvaluationRunFactory(system=mine)
    client.force_login(auditor)
    listing = client.get(FINDINGS).content.decode()
    assert "Auditors see this claim" in listing
    assert 'name="action"' not in listing
    page = client.get(f"{FINDINGS}{finding.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    client.post(FINDINGS, {"action": "confirm", "_selected_action": [finding.pk]})
    assert client.post(f"{FINDINGS}{finding.pk}/change/", {"status": "fixed"}).status_code == 403
    finding.refresh_from_db()
    assert finding.status == "new"
    assert client.get(f"{RUNS}{run.pk}/change/").status_code == 200
    assert client.get(TREND, {"system": mine.slug}).status_code == 200


def test_engineers_do_not_see_other_teams_findings(client, engineer, mine, theirs):
    HallucinationFindingFactory(system=mine, claim="Claim of my team")
    other = HallucinationFindingFactory(system=theirs, claim="Claim of another team")
    client.force_login(engineer)
    assert "Claim of another team" not in client.get(FINDINGS).content.decode()
    client.post(FINDINGS, {"action": "confirm", "_selected_action": [other.pk]})
    other.refresh_from_db()
    assert other.status == "new"


# --- Limits ---------------------------------------------------------------------------------------


def test_officers_set_a_limit_through_the_service(client, officer, mine):
    client.force_login(officer)
    with mock.patch.object(services, "set_limit", wraps=services.set_limit) as set_limit:
        response = client.post(
            f"{LIMITS}add/",
            {"system": mine.pk, "benchmark_name": "SimpleQA", "max_rate": "0.05", "judged_on": "rate"},
        )
    assert response.status_code == 302, response.content.decode()
    assert set_limit.call_args.kwargs["actor"] == officer
    limit = HallucinationLimit.objects.get(system=mine)
    assert (limit.benchmark_name, limit.max_rate) == ("SimpleQA", 0.05)

    response = client.post(f"{LIMITS}{limit.pk}/change/", {"max_rate": "0.08", "judged_on": "lower_bound"})
    assert response.status_code == 302, response.content.decode()
    limit.refresh_from_db()
    assert (limit.max_rate, limit.judged_on) == (0.08, "lower_bound")
    assert "8.0 %" in client.get(LIMITS).content.decode()


def test_officers_remove_a_limit_through_the_service(client, officer, mine):
    limit = HallucinationLimitFactory(system=mine)
    client.force_login(officer)
    with mock.patch.object(services, "delete_limit", wraps=services.delete_limit) as delete_limit:
        client.post(f"{LIMITS}{limit.pk}/delete/", {"post": "yes"})
    assert delete_limit.call_count == 1 and delete_limit.call_args.kwargs["actor"] == officer
    assert not HallucinationLimit.objects.exists()


def test_a_limit_out_of_range_is_refused_on_the_form(client, officer, mine):
    client.force_login(officer)
    response = client.post(
        f"{LIMITS}add/", {"system": mine.pk, "benchmark_name": "", "max_rate": "1.5", "judged_on": "rate"}
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not HallucinationLimit.objects.exists()


def test_only_officers_edit_limits(client, engineer, auditor, mine):
    limit = HallucinationLimitFactory(system=mine, max_rate=0.1)
    for user in (engineer, auditor):
        client.force_login(user)
        assert "10.0 %" in client.get(LIMITS).content.decode()
        assert client.get(f"{LIMITS}add/").status_code == 403
        client.post(f"{LIMITS}{limit.pk}/change/", {"max_rate": "0.9", "judged_on": "rate"})
        assert 'name="_save"' not in client.get(f"{LIMITS}{limit.pk}/change/").content.decode()
    limit.refresh_from_db()
    assert limit.max_rate == 0.1


# --- Trend page -----------------------------------------------------------------------------------


def _runs_of_two_versions(system):
    runs = [
        _aged(EvaluationRunFactory(system=system, model_version="v1", hallucinated=30), 30),
        _aged(EvaluationRunFactory(system=system, model_version="v1", hallucinated=26), 20),
        _aged(EvaluationRunFactory(system=system, model_version="v2", hallucinated=12), 10),
        _aged(EvaluationRunFactory(system=system, model_version="v2", hallucinated=10), 1),
    ]
    HallucinationLimitFactory(system=system, benchmark_name="", max_rate=0.12)
    return runs


def test_the_trend_page_draws_one_point_per_run_and_the_limit(client, officer, mine):
    runs = _runs_of_two_versions(mine)
    EvaluationRunFactory(system=mine, benchmark_name="TruthfulQA", model_version="v2")
    client.force_login(officer)
    page = client.get(TREND, {"system": mine.slug, "benchmark": "SimpleQA"}).content.decode()

    start = page.index('<svg class="trend-chart"')
    svg = page[start : page.index("</svg>", start)]
    assert not re.search(r'<script[^>]+src="https?://', page)  # nothing from elsewhere
    assert svg.count('<g class="point') == len(runs)
    assert [int(pk) for pk in re.findall(r'class="point[^"]*" data-run="(\d+)"', svg)] == [
        run.pk for run in runs
    ]
    assert svg.count('class="whisker"') == len(runs)
    assert re.search(r'<g class="limit" data-rate="0.12">', svg)
    assert svg.count('class="legend-item"') == 2
    assert "limit 12.0 %, any benchmark" in svg
    assert "15.0 % (10.7–20.6 %)" in page  # 30 of 200, Wilson, in the table of points

    one_version = client.get(TREND, {"system": mine.slug, "benchmark": "SimpleQA", "model_version": "v2"})
    assert one_version.content.decode().count('<g class="point') == 2


def _trend_points(page: str) -> list[int]:
    start = page.index('<svg class="trend-chart"')
    svg = page[start : page.index("</svg>", start)]
    return [int(pk) for pk in re.findall(r'class="point[^"]*" data-run="(\d+)"', svg)]


def test_the_trend_page_draws_only_the_latest_runs_and_says_so(client, officer, mine, monkeypatch):
    monkeypatch.setattr("incidents.admin.charts.MAX_CHART_POINTS", 3)
    runs = [_aged(EvaluationRunFactory(system=mine), days) for days in (50, 40, 30, 20, 10)]
    client.force_login(officer)

    page = client.get(TREND, {"system": mine.slug}).content.decode()

    assert _trend_points(page) == [run.pk for run in runs[2:]]  # the newest three, oldest first
    assert [int(pk) for pk in re.findall(r'<tr data-run="(\d+)"', page)] == [run.pk for run in runs[2:]]
    assert '<p id="trend-note">Showing the latest 3 of 5 runs.</p>' in page


def test_the_trend_page_has_no_note_when_every_run_is_drawn(client, officer, mine, monkeypatch):
    monkeypatch.setattr("incidents.admin.charts.MAX_CHART_POINTS", 3)
    runs = [_aged(EvaluationRunFactory(system=mine), days) for days in (30, 20, 10)]
    client.force_login(officer)

    page = client.get(TREND, {"system": mine.slug}).content.decode()

    assert _trend_points(page) == [run.pk for run in runs]
    assert 'id="trend-note"' not in page and "Showing the latest" not in page


def test_the_trend_page_lists_the_systems_to_choose_from(client, engineer, mine, theirs):
    EvaluationRunFactory(system=mine)
    EvaluationRunFactory(system=theirs)
    client.force_login(engineer)
    page = client.get(TREND).content.decode()
    assert "Claims bot" in page and "Payments bot" not in page
    assert '<svg class="trend-chart"' not in page


def test_the_compare_form_shows_the_two_proportion_test(client, officer, mine):
    _runs_of_two_versions(mine)
    client.force_login(officer)
    page = client.get(
        TREND, {"system": mine.slug, "benchmark": "SimpleQA", "version_a": "v1", "version_b": "v2"}
    ).content.decode()
    result = page[page.index('id="comparison"') :]
    # v1: 56 of 400 (14.0 %), v2: 22 of 400 (5.5 %).
    assert "56" in result and "22" in result and "14.0 %" in result and "5.5 %" in result
    assert "−8.5 points" in result or "-8.5 points" in result
    assert 'class="significant"' in result

    no_benchmark = client.get(TREND, {"system": mine.slug, "version_a": "v1", "version_b": "v2"})
    assert 'id="compare-error"' in no_benchmark.content.decode()


def test_runs_of_two_bases_are_compared_on_the_basis_chosen(client, officer, mine):
    _runs_of_two_versions(mine)
    EvaluationRunFactory(system=mine, model_version="v2", rate_basis="all_samples", hallucinated=50)
    client.force_login(officer)
    query = {"system": mine.slug, "benchmark": "SimpleQA", "version_a": "v1", "version_b": "v2"}
    mixed = client.get(TREND, query).content.decode()
    assert 'id="compare-error"' in mixed and 'id="id_rate_basis"' in mixed
    chosen = client.get(TREND, {**query, "rate_basis": "attempted"}).content.decode()
    result = chosen[chosen.index('id="comparison"') :]
    assert "5.5 %" in result and 'id="compare-error"' not in chosen


def test_the_run_list_links_to_the_trend_chart(client, officer, mine):
    EvaluationRunFactory(system=mine)
    client.force_login(officer)
    assert 'id="evaluation-trend"' in client.get(RUNS).content.decode()
