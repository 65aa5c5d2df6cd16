"""The reviews API: scope, roles, filters, completing and waiving, error shapes, query counts."""

import datetime

import pytest
from django.utils import timezone

from governance.models import Review
from tests.factories import AISystemFactory, ReviewFactory, ReviewPolicyFactory
from tests.queries import steady_state_queries

REVIEWS = "/api/v1/reviews/"
ANSWERS = {"purpose": "Still accurate.", "incidents": "Two, both closed with corrective actions."}


def _days(n):
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def review_a(system_a):
    ReviewPolicyFactory()  # low risk, any EU class: every 365 days
    return ReviewFactory(system=system_a)


# --- Scope and roles ------------------------------------------------------------------------------


def test_it_lists_only_the_reviews_of_visible_systems(
    api_as, engineer, other_engineer, officer, review_a, team_b
):
    theirs = ReviewFactory(system=AISystemFactory(owning_team=team_b))

    mine = api_as(engineer).get(REVIEWS).json()["results"]
    others = api_as(other_engineer).get(REVIEWS).json()["results"]
    everything = api_as(officer).get(REVIEWS).json()["results"]

    assert [row["id"] for row in mine] == [review_a.pk]
    assert [row["id"] for row in others] == [theirs.pk]
    assert {row["id"] for row in everything} == {review_a.pk, theirs.pk}
    assert mine[0]["system"] == "system-a"
    assert mine[0]["checklist"][0]["key"] == "purpose"


# action -> persona -> expected status, for a review of a team A system
EXPECTED = {
    "detail": {"officer": 200, "engineer": 200, "other_engineer": 404, "auditor": 200},
    "complete": {"engineer": 403, "other_engineer": 403, "auditor": 403},
    "waive": {"engineer": 403, "other_engineer": 403, "auditor": 403},
    "create": {"officer": 405, "engineer": 403, "auditor": 403},
    "delete": {"officer": 403, "engineer": 403, "auditor": 403},
}
CASES = [(action, persona, code) for action, by in EXPECTED.items() for persona, code in by.items()]


@pytest.mark.parametrize("action,persona,expected", CASES)
def test_it_enforces_roles_and_scope(action, persona, expected, personas, review_a, api_as):
    client = api_as(personas[persona])
    url = f"{REVIEWS}{review_a.pk}/"
    if action == "detail":
        response = client.get(url)
    elif action == "complete":
        response = client.post(f"{url}complete/", {"outcome": "approved", "answers": ANSWERS}, format="json")
    elif action == "waive":
        response = client.post(f"{url}waive/", {"reason": "Retired next week."}, format="json")
    elif action == "create":
        response = client.post(REVIEWS, {"system": "system-a"}, format="json")
    else:
        response = client.delete(url)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["status"] == expected
    review_a.refresh_from_db()
    assert review_a.status == "scheduled"
    assert Review.objects.count() == 1


def test_it_refuses_writes_with_a_read_only_token(api_as, officer, review_a):
    response = api_as(officer, scope="read").post(
        f"{REVIEWS}{review_a.pk}/waive/", {"reason": "No longer used."}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "This token is read-only."


def test_it_answers_404_for_an_unknown_review(api_as, officer):
    response = api_as(officer).post(f"{REVIEWS}999999/complete/", {"outcome": "approved"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Filters --------------------------------------------------------------------------------------


@pytest.fixture
def spread(system_a, team_a):
    """Reviews of four systems: overdue, due in 3 days, due in 20 days, and one completed."""
    other = AISystemFactory(slug="other-a", owning_team=team_a)
    third = AISystemFactory(slug="third-a", owning_team=team_a)
    fourth = AISystemFactory(slug="fourth-a", owning_team=team_a)
    return {
        "overdue": ReviewFactory(system=system_a, due_at=_days(-2), status="overdue"),
        "soon": ReviewFactory(system=other, due_at=_days(3)),
        "later": ReviewFactory(system=third, due_at=_days(20), status="in_progress"),
        "done": ReviewFactory(
            system=fourth,
            due_at=_days(-30),
            status="completed",
            outcome="approved",
            answers=ANSWERS,
            signed_off_at=_days(-31),
        ),
    }


def _ids(client, query):
    response = client.get(f"{REVIEWS}?{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_it_filters_reviews(api_as, engineer, spread):
    client = api_as(engineer)
    ids = {name: review.pk for name, review in spread.items()}

    assert _ids(client, "") == [ids["done"], ids["overdue"], ids["soon"], ids["later"]]  # soonest due first
    assert _ids(client, "system=other-a") == [ids["soon"]]
    assert _ids(client, "status=scheduled&status=in_progress") == [ids["soon"], ids["later"]]
    assert _ids(client, "overdue=true") == [ids["overdue"]]
    assert _ids(client, "overdue=false") == [ids["done"], ids["soon"], ids["later"]]
    assert _ids(client, "due_within_days=7") == [ids["overdue"], ids["soon"]]
    assert _ids(client, "due_within_days=0") == [ids["overdue"]]
    before = _days(5).date().isoformat()
    assert _ids(client, f"due_before={before}") == [ids["done"], ids["overdue"], ids["soon"]]
    assert _ids(client, f"due_after={before}") == [ids["later"]]
    assert _ids(client, "outcome=approved") == [ids["done"]]
    assert _ids(client, "team=team-b") == []


def test_it_marks_overdue_reviews(api_as, engineer, spread):
    rows = {row["id"]: row for row in api_as(engineer).get(REVIEWS).json()["results"]}
    assert rows[spread["overdue"].pk]["overdue"] is True
    assert rows[spread["soon"].pk]["overdue"] is False
    assert rows[spread["done"].pk]["overdue"] is False


@pytest.mark.parametrize(
    "query,field",
    [
        ("due_within_days=soon", "due_within_days"),
        ("due_within_days=-1", "due_within_days"),
        ("due_within_days=1.5", "due_within_days"),
        ("overdue=maybe", "overdue"),
        ("due_before=yesterday", "due_before"),
        ("status=finished", "status"),
    ],
)
def test_it_answers_bad_filters_with_field_messages(api_as, engineer, query, field):
    response = api_as(engineer).get(f"{REVIEWS}?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


# --- Completing and waiving -----------------------------------------------------------------------


def test_it_completes_a_review_and_schedules_the_next(api_as, officer, review_a):
    response = api_as(officer).post(
        f"{REVIEWS}{review_a.pk}/complete/",
        {"outcome": "approved", "answers": ANSWERS, "conditions": ""},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed"
    assert body["outcome"] == "approved"
    assert body["answers"] == ANSWERS
    assert body["signed_off_by"] == "officer"
    assert body["next_review"] is not None
    review_a.refresh_from_db()
    assert review_a.signed_off_by == officer
    upcoming = Review.objects.open().get(system=review_a.system)
    assert upcoming.pk == body["next_review"]["id"]
    assert upcoming.due_at > timezone.now() + datetime.timedelta(days=300)


def test_it_waives_a_review_with_a_reason(api_as, officer, review_a):
    response = api_as(officer).post(
        f"{REVIEWS}{review_a.pk}/waive/",
        {"reason": "Superseded by the material-change review."},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "waived"
    assert response.json()["waived_reason"] == "Superseded by the material-change review."
    assert Review.objects.open().filter(system=review_a.system).exclude(pk=review_a.pk).exists()


def test_it_takes_a_review_on(api_as, officer, review_a):
    response = api_as(officer).post(f"{REVIEWS}{review_a.pk}/start/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_progress"
    assert response.json()["reviewer"] == "officer"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"answers": ANSWERS}, "outcome"),
        ({"outcome": "looks-fine", "answers": ANSWERS}, "outcome"),
        ({"outcome": "approved", "answers": ["yes", "no"]}, "answers"),
        ({"outcome": "approved", "answers": {"purpose": ["nested"]}}, "answers"),
        ({"outcome": "approved", "answers": ANSWERS, "conditions": 12 * "x" * 2000}, "conditions"),
    ],
)
def test_it_answers_a_malformed_completion_with_field_messages(api_as, officer, review_a, body, field):
    response = api_as(officer).post(f"{REVIEWS}{review_a.pk}/complete/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    review_a.refresh_from_db()
    assert review_a.status == "scheduled"


def test_it_refuses_a_completion_the_service_finds_incomplete(api_as, officer, review_a):
    unanswered = api_as(officer).post(
        f"{REVIEWS}{review_a.pk}/complete/",
        {"outcome": "approved", "answers": {"purpose": "Still accurate."}},
        format="json",
    )
    no_conditions = api_as(officer).post(
        f"{REVIEWS}{review_a.pk}/complete/",
        {"outcome": "approved_with_conditions", "answers": ANSWERS, "conditions": ""},
        format="json",
    )

    assert unanswered.status_code == 400, unanswered.content
    assert unanswered.json()["errors"]
    assert no_conditions.status_code == 400, no_conditions.content
    assert no_conditions.json()["errors"]
    review_a.refresh_from_db()
    assert review_a.status == "scheduled"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_it_requires_a_reason_to_waive(api_as, officer, review_a, body):
    response = api_as(officer).post(f"{REVIEWS}{review_a.pk}/waive/", body, format="json")
    assert response.status_code == 400, response.content
    assert "reason" in response.json()["errors"]


def test_it_refuses_to_decide_a_closed_review_again(api_as, officer, review_a):
    client = api_as(officer)
    first = client.post(f"{REVIEWS}{review_a.pk}/waive/", {"reason": "Not in use."}, format="json")
    again = client.post(
        f"{REVIEWS}{review_a.pk}/complete/", {"outcome": "approved", "answers": ANSWERS}, format="json"
    )
    assert first.status_code == 200, first.content
    assert again.status_code in (400, 409), again.content
    assert again.status_code < 500


def test_it_replays_a_completion_with_the_same_idempotency_key(api_as, officer, review_a):
    client = api_as(officer)
    url = f"{REVIEWS}{review_a.pk}/complete/"
    body = {"outcome": "approved", "answers": ANSWERS}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="complete-1")
    second = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="complete-1")
    assert first.status_code == 200, first.content
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Review.objects.filter(system=review_a.system).count() == 2


# --- Query counts ---------------------------------------------------------------------------------


def _seed_reviews(n, team):
    for _ in range(n):
        ReviewFactory(system=AISystemFactory(owning_team=team))


@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_reviews_in_constant_queries(api_as, personas, team_a, persona):
    client = api_as(personas[persona])
    _seed_reviews(10, team_a)
    small, body = steady_state_queries(client, f"{REVIEWS}?page_size=50&overdue=false")
    assert len(body["results"]) == 10
    _seed_reviews(40, team_a)
    large, body = steady_state_queries(client, f"{REVIEWS}?page_size=50&overdue=false")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 reviews, {large} for 50"


def test_it_shows_a_review_in_a_fixed_number_of_queries(api_as, engineer, review_a):
    count, body = steady_state_queries(api_as(engineer), f"{REVIEWS}{review_a.pk}/")
    assert body["id"] == review_a.pk
    assert count <= 5, count
