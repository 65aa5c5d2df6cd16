"""Transparency scoring in the admin (Django test client): the catalog pages with attribution, the
assessment form grouped by domain saving through the services, finalizing, read-only final
assessments, score-range filters, the ranking page and the history chart."""

import datetime
import re

import pytest

from governance.models import TransparencyAssessment
from tests.factories import AIModelFactory, AISystemFactory, SystemModelFactory
from tests.governance.test_transparency_api import assess, small_set

pytestmark = pytest.mark.django_db

ASSESSMENTS = "/admin/governance/transparencyassessment/"
RANKING = f"{ASSESSMENTS}ranking/"
HISTORY = f"{ASSESSMENTS}history/"
DAY = datetime.date(2024, 1, 1)
LATER = datetime.date(2025, 6, 30)


def form_data(response) -> dict:
    """The change form's current values, as the browser would post them."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        data[name] = "" if value is None else value
    return data


def test_it_shows_indicator_sets_read_only_with_their_attribution(client, auditor):
    indicator_set = small_set()
    indicator_set.attribution = "Indicators adapted from the FMTI (CC BY 4.0)."
    indicator_set.save()
    client.force_login(auditor)

    page = client.get(f"/admin/governance/indicatorset/{indicator_set.pk}/change/")

    assert page.status_code == 200
    assert b"Indicators adapted from the FMTI (CC BY 4.0)." in page.content
    assert b'name="_save"' not in page.content
    indicator = indicator_set.indicators.first()
    detail = client.get(f"/admin/governance/indicator/{indicator.pk}/change/")
    assert b"Indicators adapted from the FMTI" in detail.content


def test_it_starts_an_assessment_and_groups_its_form_by_domain(client, officer, system_a):
    indicator_set = small_set()
    client.force_login(officer)

    started = client.post(
        f"{ASSESSMENTS}add/",
        {"indicator_set": indicator_set.pk, "system": system_a.pk, "model": "", "assessed_on": "2026-05-01"},
    )

    assessment = TransparencyAssessment.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"{ASSESSMENTS}{assessment.pk}/change/"
    assert assessment.answers.count() == 4 and assessment.assessor == officer

    page = client.get(started["Location"])
    fieldsets = [fieldset.name for fieldset in page.context["adminform"]]
    assert fieldsets == [None, "Upstream", "Use", "Score breakdown"]
    assert b'name="answer__d0-0"' in page.content and b'name="justification__d1-1"' in page.content
    assert b'name="_finalize"' in page.content


def test_it_refuses_a_subject_that_does_not_suit_the_set(client, officer):
    fmti = small_set(kind="model", key="fmti-x")
    client.force_login(officer)

    refused = client.post(
        f"{ASSESSMENTS}add/",
        {"indicator_set": fmti.pk, "system": AISystemFactory().pk, "model": "", "assessed_on": ""},
    )

    assert refused.status_code == 200
    assert "indicator_set" in refused.context["adminform"].form.errors
    assert not TransparencyAssessment.objects.exists()


def test_it_saves_answers_through_the_service_and_finalizes(client, officer, system_a):
    assessment = assess(officer, small_set(), system=system_a, satisfied=set(), final=False)
    url = f"{ASSESSMENTS}{assessment.pk}/change/"
    client.force_login(officer)
    data = form_data(client.get(url))
    data.update(
        {
            "answer__d0-0": "satisfied",
            "evidence_url__d0-0": "https://example.com/model-card",
            "answer__d0-1": "satisfied",
            "answer__d1-1": "not_applicable",
            "_continue": "Save answers",
        }
    )

    saved = client.post(url, data)

    assert saved.status_code == 302
    assessment.refresh_from_db()
    assert str(assessment.score) == "66.67" and assessment.status == "draft"
    row = assessment.answers.get(indicator__key="d0-0")
    assert (row.answer, row.evidence_url) == ("satisfied", "https://example.com/model-card")

    # Finalizing needs a justification for "not applicable": the refusal names the indicator.
    data.pop("_continue")
    refused = client.post(url, {**data, "_finalize": "Finalize"})
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "answer__d1-1" in errors and "answer__d0-0" not in errors
    assessment.refresh_from_db()
    assert assessment.status == "draft"

    finalized = client.post(url, {**data, "justification__d1-1": "No end users.", "_finalize": "Finalize"})
    assert finalized.status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == "final" and str(assessment.score) == "66.67"
    follow = client.get(finalized["Location"])
    assert b"Finalized" in follow.content


def test_it_shows_a_final_assessment_read_only_with_breakdown_and_changes(client, officer, system_a):
    indicator_set = small_set()
    assess(officer, indicator_set, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, 1, 1))
    later = assess(
        officer, indicator_set, system=system_a, satisfied={"d0-1", "d1-0"}, on=datetime.date(2026, 3, 1)
    )
    client.force_login(officer)

    page = client.get(f"{ASSESSMENTS}{later.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="answer__d0-0"' not in html and 'name="_finalize"' not in html
    assert re.search(r'class="answers-domain">Upstream<', html)
    assert 'id="breakdown"' in html and "50.00 %" in html
    assert 'class="change-lost" data-indicator="d0-0"' in html
    assert 'class="change-gained" data-indicator="d0-1"' in html
    assert "2026-01-01" in html  # the previous assessment it is compared with
    refused = client.post(f"{ASSESSMENTS}{later.pk}/change/", {"answer__d0-0": "satisfied", "_continue": "1"})
    assert refused.status_code == 403


def test_it_filters_assessments_by_score_range_and_scopes_them(client, officer, other_engineer, team_a):
    indicator_set = small_set()
    low = assess(officer, indicator_set, system=AISystemFactory(owning_team=team_a), satisfied={"d0-0"})
    high = assess(
        officer,
        indicator_set,
        system=AISystemFactory(owning_team=team_a),
        satisfied={"d0-0", "d0-1", "d1-0", "d1-1"},
    )
    client.force_login(officer)

    def listed(query):
        response = client.get(f"{ASSESSMENTS}?{query}")
        assert response.status_code == 200
        return {a.pk for a in response.context["cl"].result_list}

    assert listed("score=25-50") == {low.pk}  # 25 % opens the range 25–50
    assert listed("score=75-100") == {high.pk}  # 100 % closes the last range
    assert listed("score=0-25") == set()
    assert listed("status__exact=final") == {low.pk, high.pk}

    client.force_login(other_engineer)
    assert listed("") == set()
    assert client.get(f"{ASSESSMENTS}{low.pk}/change/").status_code == 302  # not found: back to the list


def test_it_ranks_systems_by_score_with_a_range_filter(client, officer, team_a):
    deployment = small_set()
    fmti = small_set(kind="model", key="fmti-x")
    top = AISystemFactory(name="Top", owning_team=team_a)
    mid = AISystemFactory(name="Mid", owning_team=team_a)
    assess(officer, deployment, system=top, satisfied={"d0-0", "d0-1", "d1-0", "d1-1"})
    assess(officer, deployment, system=mid, satisfied={"d0-0"})
    model = AIModelFactory()
    SystemModelFactory(system=mid, model=model)
    assess(officer, fmti, model=model, satisfied={"d0-0", "d0-1", "d1-0", "d1-1"})
    client.force_login(officer)

    page = client.get(RANKING)

    assert page.status_code == 200
    assert [row["system"].name for row in page.context["rows"]] == ["Top", "Mid"]
    assert [row["score"] for row in page.context["rows"]] == ["100.00 %", "47.50 %"]
    assert (
        page.context["rows"][1]["deployment"] == "25.00 %" and page.context["rows"][1]["models"] == "100.00 %"
    )
    ranged = client.get(f"{RANKING}?score=25-50")
    assert [row["system"].name for row in ranged.context["rows"]] == ["Mid"]
    assert b"transparency-ranking" in client.get(ASSESSMENTS).content


def test_it_leaves_retired_systems_out_of_the_ranking_behind_a_link(client, officer, team_a):
    deployment = small_set()
    live = AISystemFactory(name="Live", owning_team=team_a, lifecycle_stage="deployed", deployed_on=DAY)
    old = AISystemFactory(
        name="Old", owning_team=team_a, lifecycle_stage="retired", deployed_on=DAY, retired_on=LATER
    )
    assess(officer, deployment, system=live, satisfied={"d0-0"})
    assess(officer, deployment, system=old, satisfied={"d0-0", "d0-1"})
    client.force_login(officer)

    page = client.get(RANKING)
    assert [(row["system"].name, row["stage"]) for row in page.context["rows"]] == [("Live", "Deployed")]
    assert page.context["retired_toggle_url"] == "?retired=1"
    assert b"Include retired systems" in page.content and b"Lifecycle stage" in page.content

    page = client.get(f"{RANKING}?score=25-50&retired=1")
    assert [(row["system"].name, row["stage"]) for row in page.context["rows"]] == [("Live", "Deployed")]
    assert page.context["retired_toggle_url"] == "?score=25-50"  # the link keeps the range
    page = client.get(f"{RANKING}?retired=1")
    assert [(row["system"].name, row["stage"]) for row in page.context["rows"]] == [
        ("Old", "Retired (2025-06-30)"),
        ("Live", "Deployed"),
    ]
    assert page.context["retired_toggle_url"] == "?"
    assert b"Hide retired systems" in page.content and b'class="retired"' in page.content


def test_it_draws_a_systems_score_history_as_svg(client, officer, other_engineer, system_a):
    deployment = small_set()
    first = assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, 1, 5))
    second = assess(
        officer, deployment, system=system_a, satisfied={"d0-0", "d0-1", "d1-0"}, on=datetime.date(2026, 4, 5)
    )
    client.force_login(officer)

    page = client.get(f"{HISTORY}?system={system_a.slug}")

    assert page.status_code == 200
    html = page.content.decode()
    chart = html.split('<div id="history-chart">')[1]
    svg = chart[: chart.index("</svg>")]
    assert svg.startswith('<svg class="history-chart"') and "<script" not in svg
    points = re.findall(r'<circle class="point"[^>]*data-id="(\d+)" data-value="([\d.]+)"', svg)
    assert points == [(str(first.pk), "0.25"), (str(second.pk), "0.75")]
    assert '<polyline class="line"' in svg
    assert 'id="system-score">75.00 %<' in html
    assert "2026-01-05" in svg and "2026-04-05" in svg

    client.force_login(other_engineer)
    assert client.get(f"{HISTORY}?system={system_a.slug}").status_code == 404


def _history_points(html: str) -> list[str]:
    chart = html.split('<div id="history-chart">')[1]
    return re.findall(r'<circle class="point"[^>]*data-id="(\d+)"', chart[: chart.index("</svg>")])


def test_the_score_history_draws_only_the_latest_assessments_and_says_so(
    client, officer, system_a, monkeypatch
):
    monkeypatch.setattr("governance.admin.transparency_pages.MAX_HISTORY_POINTS", 3)
    deployment = small_set()
    assessments = [
        assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, month, 1))
        for month in (1, 2, 3, 4, 5)
    ]
    client.force_login(officer)

    html = client.get(f"{HISTORY}?system={system_a.slug}").content.decode()

    newest = [str(a.pk) for a in assessments[2:]]
    assert _history_points(html) == newest  # the newest three, oldest first
    assert re.findall(r'<tr data-assessment="(\d+)"', html) == newest
    assert '<p id="history-note">Showing the latest 3 of 5 assessments.</p>' in html


def test_the_score_history_has_no_note_when_every_assessment_is_drawn(client, officer, system_a, monkeypatch):
    monkeypatch.setattr("governance.admin.transparency_pages.MAX_HISTORY_POINTS", 3)
    deployment = small_set()
    assessments = [
        assess(officer, deployment, system=system_a, satisfied={"d0-0"}, on=datetime.date(2026, month, 1))
        for month in (1, 2, 3)
    ]
    client.force_login(officer)

    html = client.get(f"{HISTORY}?system={system_a.slug}").content.decode()

    assert _history_points(html) == [str(a.pk) for a in assessments]
    assert 'id="history-note"' not in html and "Showing the latest" not in html
