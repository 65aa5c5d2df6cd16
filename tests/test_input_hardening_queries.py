"""Query strings and date-times: strict booleans on every list (``governance.api.filters``),
date-times with offsets within ±14:00 in filters, query parameters and bodies
(``governance.api.fields.instant``), and signed cursors (``governance.api.pagination``): a 400
or 404 in the project's error shape, never a 500 or a silently ignored parameter."""

from urllib.parse import unquote

import django_filters
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import get_resolver
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers

from governance.api import base, filters, pagination
from governance.api.fields import OFFSET_MESSAGE, RANGE_MESSAGE
from governance.models import Risk
from incidents.models import Incident
from tests.factories import RiskFactory, incident_payload
from tests.test_input_hardening import refused

pytestmark = pytest.mark.django_db

FAR_WEST = "2026-12-01T00:00:00-20:01"
FAR_EAST = "2026-12-01T00:00:00+15:00"


@pytest.fixture
def client(api_as, officer, system_a):
    return api_as(officer)


# --- Date-time offsets ---------------------------------------------------------------------------

OFFSET_QUERIES = [
    ("/api/v1/incidents/", "created_after"),
    ("/api/v1/incidents/", "created_before"),
    ("/api/v1/incidents/", "occurred_after"),
    ("/api/v1/evaluation-runs/", "created_after"),
    ("/api/v1/evaluation-runs/", "created_before"),
    ("/api/v1/hallucination-findings/", "created_after"),
    ("/api/v1/reviews/", "due_after"),
    ("/api/v1/reviews/", "due_before"),
]


@pytest.mark.parametrize(("endpoint", "name"), OFFSET_QUERIES)
@pytest.mark.parametrize("value", [FAR_WEST, FAR_EAST])
def test_a_filter_date_time_beyond_14_hours_from_utc_is_a_400_naming_it(client, endpoint, name, value):
    errors = refused(client.get(endpoint, {name: value}), 400, "invalid")["errors"]
    assert errors == {name: [OFFSET_MESSAGE]}


@pytest.mark.parametrize(("endpoint", "name"), OFFSET_QUERIES[:3])
def test_a_filter_date_time_that_leaves_the_calendar_in_utc_is_a_400(client, endpoint, name):
    errors = refused(client.get(endpoint, {name: "9999-12-31T23:00:00-10:00"}), 400)["errors"]
    assert errors == {name: [RANGE_MESSAGE]}


@pytest.mark.parametrize("offset", ["+14:00", "-12:00", "+05:45", "Z"])
def test_real_offsets_and_plain_dates_filter(client, offset):
    assert (
        client.get("/api/v1/incidents/", {"created_after": f"2026-12-01T00:00:00{offset}"}).status_code == 200
    )
    assert client.get("/api/v1/reviews/", {"due_after": "2026-12-01"}).status_code == 200


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_query_serializer_date_time_has_the_same_bound(client, name):
    response = client.get("/api/v1/hallucination-trends/", {"system": "system-a", name: FAR_WEST})
    assert refused(response, 400)["errors"] == {name: [OFFSET_MESSAGE]}


@pytest.mark.parametrize("field", ["occurred_at", "detected_at"])
@pytest.mark.parametrize(
    ("value", "message"),
    [(FAR_WEST, OFFSET_MESSAGE), (FAR_EAST, OFFSET_MESSAGE), ("0001-01-01T00:00:00+01:00", RANGE_MESSAGE)],
)
def test_a_body_date_time_beyond_the_bound_is_refused(client, field, value, message):
    body = incident_payload(system="system-a", **{field: value})
    errors = refused(client.post("/api/v1/incidents/", body, format="json"), 400)["errors"]
    assert errors[field] == [message]
    assert not Incident.objects.exists()


def test_a_body_date_time_with_a_real_offset_is_stored_in_utc(client):
    body = incident_payload(system="system-a", occurred_at="2025-03-01T20:00:00+14:00")
    response = client.post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["occurred_at"] == "2025-03-01T06:00:00Z"


# --- Strict booleans -----------------------------------------------------------------------------

BOOLEAN_QUERIES = [
    ("/api/v1/risks/", "review_due"),
    ("/api/v1/evidence/", "expired"),
    ("/api/v1/control-implementations/", "organisation_wide"),
    ("/api/v1/control-implementations/", "overdue"),
    ("/api/v1/reviews/", "overdue"),
    ("/api/v1/incidents/", "is_serious"),
    ("/api/v1/incidents/", "report_overdue"),
    ("/api/v1/incidents/", "sla_breached"),
    ("/api/v1/evaluation-runs/", "exceeded_limit"),
    ("/api/v1/requirements/", "assessable"),
    ("/api/v1/notifications/", "unread"),
]


@pytest.mark.parametrize(("endpoint", "name"), BOOLEAN_QUERIES)
@pytest.mark.parametrize("value", ["maybe", "yes", "2", "truee"])
def test_a_boolean_filter_refuses_what_is_not_a_boolean(client, endpoint, name, value):
    assert refused(client.get(endpoint, {name: value}), 400, "invalid")["errors"] == {
        name: [filters.BOOLEAN_MESSAGE]
    }


@pytest.mark.parametrize(("endpoint", "name"), BOOLEAN_QUERIES)
@pytest.mark.parametrize("value", ["true", "false", "1", "0", "True"])
def test_a_boolean_filter_takes_true_and_false(client, endpoint, name, value):
    assert client.get(endpoint, {name: value}).status_code == 200


ID_QUERIES = [
    ("/api/v1/controls/", "requirement"),
    ("/api/v1/evidence/", "implementation"),
    ("/api/v1/evidence/", "requirement"),
    ("/api/v1/requirements/", "parent"),
    ("/api/v1/requirement-mappings/", "source"),
    ("/api/v1/requirement-mappings/", "target"),
    ("/api/v1/ai-systems/", "model"),
    ("/api/v1/transparency-assessments/", "model"),
]


@pytest.mark.parametrize(("endpoint", "name"), ID_QUERIES)
@pytest.mark.parametrize("value", ["0.5", "1e3", "0", "-4", str(2**63), "x"])
def test_an_id_filter_refuses_what_no_row_id_can_be(client, endpoint, name, value):
    assert name in refused(client.get(endpoint, {name: value}), 400, "invalid")["errors"]


@pytest.mark.parametrize(("endpoint", "name"), ID_QUERIES)
def test_an_id_filter_takes_a_whole_number(client, endpoint, name):
    assert client.get(endpoint, {name: "7"}).status_code == 200


def api_views() -> set[type]:
    """Every API view class of the URL configuration."""
    found = set()
    pending = list(get_resolver().url_patterns)
    while pending:
        pattern = pending.pop()
        if hasattr(pattern, "url_patterns"):
            pending.extend(pattern.url_patterns)
        elif str(pattern.pattern).startswith("api/") or "api" in getattr(pattern, "lookup_str", ""):
            view = getattr(pattern.callback, "cls", None)
            if view is not None:
                found.add(view)
    return found


def api_filtersets():
    """Every filterset a view of the URL configuration names."""
    return {view.filterset_class for view in api_views() if getattr(view, "filterset_class", None)}


def test_every_api_view_reads_through_the_input_layer():
    views = api_views()
    assert len(views) > 25
    parsers = {parser for view in views for parser in view.parser_classes}
    assert {parser.__module__ for parser in parsers} == {"governance.api.parsers"}
    paginators = {view.pagination_class for view in views if getattr(view, "pagination_class", None)}
    assert paginators and all(issubclass(cls, pagination.CursorPagination) for cls in paginators)
    backends = {backend for view in views for backend in getattr(view, "filter_backends", [])}
    assert all(not issubclass(cls, DjangoFilterBackend) or cls is filters.FilterBackend for cls in backends)


def test_every_api_filterset_derives_from_the_strict_base():
    filtersets = api_filtersets()
    assert len(filtersets) > 15
    assert [cls for cls in filtersets if not issubclass(cls, filters.FilterSet)] == []
    declared = [
        (cls.__name__, name)
        for cls in filtersets
        for name, field in cls.base_filters.items()
        if isinstance(field, django_filters.BooleanFilter | django_filters.DateTimeFilter)
        and not isinstance(field, filters.BooleanFilter | filters.DateTimeFilter)
    ]
    assert declared == []


def test_a_lenient_filter_or_date_time_field_is_refused_where_it_is_declared():
    with pytest.raises(ImproperlyConfigured, match="use governance.api.filters.BooleanFilter"):
        type("Loose", (filters.FilterSet,), {"flag": django_filters.BooleanFilter()})
    with pytest.raises(ImproperlyConfigured, match="use governance.api.filters.DateTimeFilter"):
        type("Loose", (filters.FilterSet,), {"at": django_filters.IsoDateTimeFilter()})
    with pytest.raises(ImproperlyConfigured, match="use governance.api.fields.DateTimeField"):
        type("Loose", (base.Serializer,), {"at": serializers.DateTimeField()})

    class Risks(base.ModelSerializer):
        class Meta:
            model = Risk
            fields = ["title", "created_at"]

    assert type(Risks().fields["created_at"]).__module__ == "governance.api.fields"


# --- Cursors -------------------------------------------------------------------------------------

FORGED = "cD1nYXJiYWdl"  # base64 of "p=garbage"


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/risks/?ordering=inherent_score&cursor={FORGED}",
        f"/api/v1/risks/?cursor={FORGED}",
        f"/api/v1/reference-incidents/?cursor={FORGED}",
        f"/api/v1/requirements/?cursor={FORGED}",
        f"/api/v1/requirement-mappings/?cursor={FORGED}",
        "/api/v1/incidents/?cursor=garbage",
        "/api/v1/risks/?cursor=cD0yMDI2",
        "/api/v1/hallucination-trends/?system=system-a&cursor=bz0x",
    ],
)
def test_a_forged_cursor_is_a_404(client, url):
    assert refused(client.get(url), 404, "not_found")["detail"] == "Invalid cursor"


@pytest.fixture
def pages(client, system_a):
    for score in range(1, 5):
        RiskFactory(system=system_a, title=f"Risk {score}", likelihood=score, impact=1)
    first = client.get("/api/v1/risks/", {"ordering": "inherent_score", "page_size": 1}).json()
    return first["next"]


def test_a_cursor_the_server_issued_pages_on(client, pages):
    second = client.get(pages).json()
    assert [row["title"] for row in second["results"]] == ["Risk 2"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda cursor: cursor[:-1],
        lambda cursor: cursor[:-1] + ("A" if cursor[-1] != "A" else "B"),
        lambda cursor: ("A" if cursor[0] != "A" else "B") + cursor[1:],
        lambda cursor: cursor.split(":")[0],
    ],
)
def test_a_damaged_cursor_is_a_404_not_the_first_page(client, pages, damage):
    url, cursor = pages.split("cursor=")[0], pages.split("cursor=")[1].split("&")[0]
    damaged = damage(unquote(cursor))
    response = client.get(url, {"cursor": damaged, "ordering": "inherent_score", "page_size": 1})
    assert refused(response, 404, "not_found")["detail"] == "Invalid cursor"


def test_a_cursor_is_bound_to_its_list_and_order(client, pages):
    cursor = pages.split("cursor=")[1].split("&")[0]
    cursor = unquote(cursor)
    other_order = client.get("/api/v1/risks/", {"cursor": cursor, "ordering": "title"})
    assert refused(other_order, 404)["detail"] == "Invalid cursor"
    other_list = client.get("/api/v1/ai-systems/", {"cursor": cursor})
    assert refused(other_list, 404)["detail"] == "Invalid cursor"
