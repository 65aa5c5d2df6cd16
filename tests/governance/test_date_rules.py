"""The date rules the admin and the API both apply, one table each: evidence expiry, a risk's
review falling due and a control implementation's overdue test. Each case must get the same
answer from the admin (its column or filter) and the API (its field or filter).
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from governance.models import Evidence
from tests.factories import ControlImplementationFactory, RiskFactory

D = datetime.timedelta(days=1)
CASES = [("yesterday", -1), ("today", 0), ("tomorrow", 1), ("no date", None)]
IDS = [name for name, _ in CASES]


def _day(offset):
    return None if offset is None else timezone.localdate() + offset * D


def _admin_listed(client, url: str, query: str) -> set[int]:
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def _api_listed(client, url: str, query: str) -> set[int]:
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("offset,expired", [(-1, True), (0, False), (1, False), (None, False)], ids=IDS)
def test_it_tells_expired_evidence_alike_everywhere(offset, expired, client, api_as, officer):
    evidence = Evidence.objects.create(
        title="Fairness review",
        kind="link",
        url="https://wiki.example.com/fairness",
        collected_on=timezone.localdate() - 30 * D,
        valid_until=_day(offset),
    )
    client.force_login(officer)
    url = "/admin/governance/evidence/"
    page = client.get(url).content.decode()
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if f"/{evidence.pk}/change/" in r)
    cell = re.search(r'<td class="field-is_expired">(.*?)</td>', row, re.S).group(1)
    assert ('alt="True"' in cell) is expired
    assert (evidence.pk in _admin_listed(client, url, "expired=yes")) is expired
    assert (evidence.pk in _admin_listed(client, url, "expired=no")) is not expired

    api = api_as(officer)
    assert api.get(f"/api/v1/evidence/{evidence.pk}/").json()["expired"] is expired
    assert (evidence.pk in _api_listed(api, "/api/v1/evidence/", "expired=true")) is expired
    assert (evidence.pk in _api_listed(api, "/api/v1/evidence/", "expired=false")) is not expired


@pytest.mark.parametrize("offset,due", [(-1, True), (0, True), (1, False), (None, False)], ids=IDS)
def test_it_tells_a_risk_review_due_alike_everywhere(offset, due, client, api_as, officer):
    risk = RiskFactory(review_on=_day(offset))
    client.force_login(officer)
    url = "/admin/governance/risk/"
    assert (risk.pk in _admin_listed(client, url, "review_due=yes")) is due
    assert (risk.pk in _admin_listed(client, url, "review_due=no")) is not due
    api = api_as(officer)
    assert (risk.pk in _api_listed(api, "/api/v1/risks/", "review_due=true")) is due
    assert (risk.pk in _api_listed(api, "/api/v1/risks/", "review_due=false")) is not due


@pytest.mark.parametrize("offset,overdue", [(-1, True), (0, False), (1, False), (None, False)], ids=IDS)
def test_it_tells_an_overdue_control_test_alike_everywhere(offset, overdue, client, api_as, officer):
    implementation = ControlImplementationFactory(next_test_due=_day(offset))
    client.force_login(officer)
    url = "/admin/governance/controlimplementation/"
    assert (implementation.pk in _admin_listed(client, url, "overdue=yes")) is overdue
    assert (implementation.pk in _admin_listed(client, url, "overdue=no")) is not overdue
    api = api_as(officer)
    listed = "/api/v1/control-implementations/"
    assert (implementation.pk in _api_listed(api, listed, "overdue=true")) is overdue
    assert (implementation.pk in _api_listed(api, listed, "overdue=false")) is not overdue
