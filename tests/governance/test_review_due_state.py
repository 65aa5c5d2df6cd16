"""The review due-date rule, one table: each case is a review in a given status due some time from
now, and every place that shows or filters its due state must give the same answer: the admin's
due column and due filter, the API's ``due_state`` and ``overdue`` fields and its ``overdue`` and
``due_within_days`` filters, the ``due_state`` column of the evidence pack's ``reviews.csv`` and the
pack report's review part.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from governance.choices import ReviewDueState
from governance.models import Review
from governance.packs import PackScope, report, sections
from tests.factories import AISystemFactory, ReviewFactory

D = datetime.timedelta(days=1)
ADMIN = "/admin/governance/review/"
API = "/api/v1/reviews/"
SIGNED = {"outcome": "approved", "answers": {"purpose": "yes", "incidents": "none"}}


@dataclass(frozen=True)
class Case:
    name: str
    status: str
    due_in: datetime.timedelta
    state: str
    fields: dict = field(default_factory=dict)


CASES = [
    Case("scheduled, due in 20 days", "scheduled", 20 * D, "upcoming"),
    Case("scheduled, due in 3 days", "scheduled", 3 * D, "due_soon"),
    Case("scheduled, 3 days past due, not yet marked by the scan", "scheduled", -3 * D, "overdue"),
    Case("marked overdue by the scan", "overdue", -3 * D, "overdue"),
    Case("in progress, a day past due", "in_progress", -D, "overdue"),
    Case("in progress, due in 2 days", "in_progress", 2 * D, "due_soon"),
    Case(
        "completed after its due date",
        "completed",
        -3 * D,
        "completed",
        {**SIGNED, "signed_off_at": timezone.now() - D},
    ),
    Case("waived past its due date", "waived", -5 * D, "waived", {"waived_reason": "System retired."}),
]


def _admin_state(client, review) -> str:
    page = client.get(ADMIN).content.decode()
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if f"/{review.pk}/change/" in r)
    return re.search(r'class="review-(\w+)"', row).group(1)


def _admin_filtered(client, state: str) -> set[int]:
    response = client.get(f"{ADMIN}?due={state}")
    assert response.status_code == 200
    return {review.pk for review in response.context["cl"].result_list}


def _api_filtered(client, query: str) -> set[int]:
    response = client.get(f"{API}?{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_it_gives_every_due_state_the_same_answer_everywhere(case, client, api_as, officer, team_a):
    system = AISystemFactory(owning_team=team_a)
    review = ReviewFactory(
        system=system, status=case.status, due_at=timezone.now() + case.due_in, **case.fields
    )
    label = ReviewDueState(case.state).label

    # The admin: the due column's state, and the due filter it answers to.
    client.force_login(officer)
    assert _admin_state(client, review) == case.state
    for state in ("overdue", "due_soon", "upcoming"):
        assert (review.pk in _admin_filtered(client, state)) is (state == case.state), state
    if case.state == "overdue":
        assert "d overdue" in client.get(ADMIN).content.decode()

    # The API: the fields and the filters.
    api = api_as(officer)
    body = api.get(f"{API}{review.pk}/").json()
    assert (body["due_state"], body["overdue"]) == (case.state, case.state == "overdue")
    assert (review.pk in _api_filtered(api, "overdue=true")) is (case.state == "overdue")
    assert (review.pk in _api_filtered(api, "overdue=false")) is (case.state != "overdue")
    assert (review.pk in _api_filtered(api, "due_within_days=7")) is (case.state in ("overdue", "due_soon"))

    # The evidence pack: reviews.csv and the report's part.
    scope = PackScope(user=officer, systems=(system,))
    text = b"".join(dict(sections.reviews(scope))["reviews.csv"].chunks()).decode()
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["id"] == str(review.pk))
    assert (row["status"], row["due_state"]) == (case.status, case.state)
    assert report.reviews_part(scope).rows == ((label, 1),)


NOW = datetime.datetime(2025, 6, 10, 12, 0, tzinfo=datetime.UTC)
US = datetime.timedelta(microseconds=1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "due_at,state",
    [
        (NOW - US, "overdue"),
        (NOW, "due_soon"),
        (NOW + 7 * D, "due_soon"),
        (NOW + 7 * D + US, "upcoming"),
    ],
    ids=["a microsecond past due", "due now", "due in exactly 7 days", "due in just over 7 days"],
)
def test_it_counts_the_due_date_itself_as_not_yet_overdue(due_at, state):
    review = ReviewFactory(due_at=due_at)
    assert Review.objects.with_due_state(NOW).get(pk=review.pk).due_state == state
    one = Review.objects.filter(pk=review.pk)
    assert one.overdue(NOW).exists() is (state == "overdue")
    assert one.due_soon(NOW).exists() is (state == "due_soon")
