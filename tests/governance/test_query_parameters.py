"""Query parameters an endpoint does not take are refused, not ignored.

A list used to drop a name it did not know: a client still sending a filter's old name
(``?serious=true`` once it became ``is_serious``) or a misspelt one (``?severty=SEV1``) got the
whole list and acted on it. Every GET of the API now answers 400 naming each unknown parameter,
before it computes anything. What an endpoint takes is what its OpenAPI operation documents
(governance.api.base, "Query parameters"): the tests walk the schema to hold the two together.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from governance.api import base
from tests.factories import AISystemFactory, IncidentFactory

BOGUS = "bogus_param"


@pytest.fixture
def client(officer):
    client = APIClient()
    client.force_authenticate(officer)
    return client


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


@pytest.fixture
def incident(team_a):
    return IncidentFactory(system=AISystemFactory(slug="target", owning_team=team_a))


def _get_operations(schema):
    for path, operations in schema["paths"].items():
        if "get" in operations:
            documented = sorted(
                p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"
            )
            yield path, documented, operations["get"]


def _url(path: str, incident) -> str:
    """The schema's path with its placeholders filled; the query check comes before any lookup,
    so an id that does not exist does as well as one that does."""
    values = {"reference": incident.reference, "slug": incident.system.slug, "kind": "review_due"}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)


_BY_TYPE = {"integer": "1", "number": "1", "boolean": "true"}
_BY_FORMAT = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z"}


def _value(parameter: dict) -> str:
    """A well-formed value of the documented type."""
    schema = parameter.get("schema", {})
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    if schema.get("enum"):
        return str(schema["enum"][0])
    return _BY_FORMAT.get(schema.get("format")) or _BY_TYPE.get(schema.get("type"), "target")


def _unknown(response) -> dict:
    errors = response.json().get("errors", {}) if response.status_code == 400 else {}
    return {
        name: messages
        for name, messages in errors.items()
        if any(str(message).startswith("Unknown query parameter") for message in messages)
    }


# --- The schema and the check agree --------------------------------------------------------------


def test_it_takes_what_each_get_operation_documents_and_refuses_an_undocumented_parameter(
    client, schema, incident
):
    """Every documented parameter sent at once, plus one the schema does not name: the answer is
    400 on that one alone, and the list of what the request takes is the documented list."""
    checked = 0
    for path, documented, operation in _get_operations(schema):
        query = {p["name"]: _value(p) for p in operation.get("parameters", []) if p["in"] == "query"}
        response = client.get(_url(path, incident), {**query, BOGUS: "1"})

        assert response.status_code == 400, (path, response.content)
        expected = (
            f"Unknown query parameter. This request takes: {', '.join(documented)}."
            if documented
            else "Unknown query parameter. This request takes no query parameters."
        )
        assert response.json()["errors"] == {BOGUS: [expected]}, path
        checked += 1
    assert checked > 50  # every GET of both apps


def test_it_answers_each_get_operation_with_its_documented_parameters_without_refusing_one(
    client, schema, incident
):
    for path, _, operation in _get_operations(schema):
        query = {p["name"]: _value(p) for p in operation.get("parameters", []) if p["in"] == "query"}
        response = client.get(_url(path, incident), query)

        assert response.status_code < 500, (path, response.content)
        assert _unknown(response) == {}, path


def test_it_takes_format_on_every_endpoint_without_documenting_it(client, incident):
    for url in ("/api/v1/incidents/", f"/api/v1/incidents/{incident.reference}/", "/api/v1/"):
        response = client.get(url, {"format": "json"})
        assert response.status_code == 200, url


def test_it_checks_the_query_string_of_every_api_view(client):
    """Every view under /api/v1/ derives from a view base of governance.api.base (which refuses
    unknown query parameters), including any the schema leaves out."""

    def callbacks(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from callbacks(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                yield route, pattern.callback

    views = {route: callback.cls for route, callback in callbacks(get_resolver().url_patterns)}
    unchecked = [
        route for route, cls in views.items() if not issubclass(cls, base.RefuseUnknownQueryParametersMixin)
    ]
    assert unchecked == []
    assert len(views) > 50


# --- The messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sent", "meant"),
    [
        ("/api/v1/incidents/", "serious", "is_serious"),  # renamed filters: the old names
        ("/api/v1/incidents/", "overdue", "report_overdue"),
        ("/api/v1/risks/", "min_score", "score_min"),
        ("/api/v1/risks/", "min_residual_score", "residual_score_min"),
        ("/api/v1/soa/versions/", "organisation", "organisation_wide"),
        ("/api/v1/incidents/", "severty", "severity"),  # a misspelling
        ("/api/v1/transparency-scores/", "include_retierd", "include_retired"),
        ("/api/v1/hallucination-trends/", "untill", "until"),
    ],
)
def test_it_suggests_the_parameter_meant(client, url, sent, meant):
    response = client.get(url, {sent: "true"})

    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "invalid",
        "detail": "Invalid input.",
        "errors": {sent: [f'Unknown query parameter; did you mean "{meant}"?']},
    }


def test_it_names_every_unknown_parameter_at_once(client):
    response = client.get("/api/v1/incidents/", {"serious": "true", "colour": "red", "severity": "SEV1"})

    errors = response.json()["errors"]
    assert set(errors) == {"serious", "colour"}
    assert errors["colour"][0].startswith("Unknown query parameter. This request takes: created_after, ")


def test_it_refuses_the_incident_list_filters_on_an_incidents_nested_lists(client, incident):
    """The timeline and corrective actions page in their own order and filter nothing: the
    incident list's filters and ordering would be ignored there, so they are refused."""
    for nested in ("timeline", "corrective-actions"):
        url = f"/api/v1/incidents/{incident.reference}/{nested}/"
        refused = client.get(url, {"severity": "SEV1", "ordering": "-created_at"})
        assert set(refused.json()["errors"]) == {"severity", "ordering"}, nested
        assert client.get(url, {"page_size": 1}).status_code == 200, nested


def test_it_refuses_a_head_request_as_its_get(client):
    assert client.head("/api/v1/incidents/", {"serious": "true"}).status_code == 400
    assert client.head("/api/v1/incidents/", {"is_serious": "true"}).status_code == 200


def test_it_leaves_the_query_strings_of_the_schema_and_docs_pages_alone(client):
    assert client.get("/api/schema/", {"format": "json", "lang": "en"}).status_code == 200
    assert client.get("/api/docs/", {"anything": "1"}).status_code == 200


def test_it_refuses_before_reading_the_list_or_any_object(client, incident):
    """Nothing is computed for a refused request, not even the first time an endpoint is asked
    (working out what it takes reads no table)."""
    base._documented_by_endpoint.clear()
    with CaptureQueriesContext(connection) as refused:
        response = client.get("/api/v1/incidents/", {"serious": "true"})
        detail = client.get(f"/api/v1/incidents/{incident.reference}/similar/", {"limt": "3"})

    assert response.status_code == 400 and detail.status_code == 400
    assert detail.json()["errors"] == {"limt": ['Unknown query parameter; did you mean "limit"?']}
    assert [query["sql"] for query in refused.captured_queries if "incidents_" in query["sql"]] == []


def test_it_costs_no_query_to_check_a_taken_parameter(client, incident):
    url = "/api/v1/incidents/"
    client.get(url, {"is_serious": "true"})
    base._documented_by_endpoint.clear()
    with CaptureQueriesContext(connection) as first:
        assert client.get(url, {"is_serious": "true"}).status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert client.get(url, {"is_serious": "true"}).status_code == 200
    assert len(first.captured_queries) == len(again.captured_queries)


@pytest.mark.parametrize("page_size", ["0", "-5", "ten", "", "null", "1.5"])
def test_it_refuses_a_page_size_that_is_not_a_whole_number_from_one(client, page_size):
    response = client.get("/api/v1/incidents/", {"page_size": page_size})

    assert response.status_code == 400
    assert response.json()["errors"] == {"page_size": ["A whole number from 1 (at most 200 are given)."]}


def test_it_caps_a_large_page_size(client, incident):
    response = client.get("/api/v1/incidents/", {"page_size": "99999999999999999999999"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
