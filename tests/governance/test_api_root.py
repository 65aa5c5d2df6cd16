"""``GET /api/v1/`` lists every endpoint the URL configuration registers, as absolute URLs."""

import pytest

from governance.api.root import api_endpoints


@pytest.fixture
def root(client):
    response = client.get("/api/v1/")  # no token: the index is public, like the schema
    assert response.status_code == 200
    return response.json()


def _schema_collections(client, officer) -> set[str]:
    """The parameterless paths of the OpenAPI schema, which drf-spectacular finds by walking the
    URL configuration on its own."""
    client.force_login(officer)
    paths = client.get("/api/schema/?format=json").json()["paths"]
    return {path.removeprefix("/api/v1/").rstrip("/") for path in paths if "{" not in path} - {""}


def test_it_lists_exactly_the_parameterless_endpoints_of_the_url_configuration(client, root, officer):
    assert set(root) == _schema_collections(client, officer)


def test_it_lists_the_endpoints_the_hand_written_root_left_out(root):
    for name in [
        "incidents",
        "reference-incidents",
        "evaluation-runs",
        "hallucination-findings",
        "hallucination-limits",
        "hallucination-trends",
        "hallucination-trends/compare",
        "coverage",
        "soa",
        "soa/versions",
    ]:
        assert root[name] == f"http://testserver/api/v1/{name}/"


def test_it_links_every_endpoint_by_an_absolute_url_that_answers(client, root, officer):
    client.force_login(officer)
    assert list(root) == sorted(root)
    for name, url in root.items():
        assert url == f"http://testserver/api/v1/{name}/"
        # 400: the trends need ?system=; 405: POST-only actions like soa/approve
        assert client.get(url).status_code in (200, 400, 405), name


def test_it_takes_the_host_from_the_request(client, settings):
    settings.ALLOWED_HOSTS = ["verity.example.com"]
    response = client.get("/api/v1/", HTTP_HOST="verity.example.com", secure=True)
    assert response.json()["incidents"] == "https://verity.example.com/api/v1/incidents/"


def test_it_names_each_endpoint_by_its_path_relative_to_the_api_prefix():
    endpoints = api_endpoints()
    assert endpoints["ai-systems"] == "api/v1/ai-systems/"
    assert endpoints["soa/export"] == "api/v1/soa/export/"
    assert all(not route.endswith("//") and "{" not in route for route in endpoints.values())
