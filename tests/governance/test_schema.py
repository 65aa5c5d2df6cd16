from openapi_spec_validator import validate

EXPECTED_PATHS = {
    "/api/v1/ai-systems/",
    "/api/v1/ai-systems/{slug}/",
    "/api/v1/ai-models/",
    "/api/v1/ai-models/{id}/",
    "/api/v1/teams/",
    "/api/v1/teams/{slug}/",
}


def test_it_serves_a_valid_openapi_3_schema_listing_every_endpoint(client, officer):
    client.force_login(officer)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert EXPECTED_PATHS <= set(schema["paths"])
    from governance.api.urls import router, urlpatterns

    registered = {f"/api/v1/{prefix}/" for prefix, _, _ in router.registry}
    registered |= {f"/api/v1/{p.pattern}" for p in urlpatterns if not str(p.pattern).startswith("^")}
    missing = {path for path in registered if "<" not in path and path != "/api/v1/"} - set(schema["paths"])
    assert not missing, f"endpoints missing from the schema: {sorted(missing)}"
    assert set(schema["paths"]["/api/v1/ai-systems/{slug}/"]) >= {"get", "put", "patch", "delete"}
    assert "BearerToken" in schema["components"]["securitySchemes"]


def test_it_serves_swagger_ui_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_it_describes_no_component_with_a_shared_base_docstring(client, officer):
    import inspect

    from governance.api import base

    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()
    bases = [base.Serializer, base.ModelSerializer, base.QuerySerializer, base.FastRepresentation]
    internal = {inspect.cleandoc(cls.__doc__) for cls in bases}
    described = {
        name: component.get("description") for name, component in schema["components"]["schemas"].items()
    }
    assert described["Incident"] is None and described["AISystem"] is None
    assert not {name for name, text in described.items() if text in internal}
    assert described["FindingBatch"].startswith("The answer to a batch")  # a docstring of its own


def test_it_documents_every_path_parameter_and_field_of_the_schema_in_the_api_guide(client, officer):
    """The API guide and the OpenAPI schema describe the same API: every path of the schema is in
    the guide (with its placeholders or an example value), the guide names no path the schema
    lacks, and every query parameter and every field of a body or a response is named in it."""
    import re
    from pathlib import Path

    from django.conf import settings

    client.force_login(officer)
    schema = client.get("/api/schema/?format=json").json()
    guide = (Path(settings.BASE_DIR) / "docs" / "api-guide.md").read_text()

    templates = {
        path: re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for path in schema["paths"]
    }
    described, unknown = set(), []
    for mention in set(re.findall(r"/api/v1/[A-Za-z0-9_<>{}$.…\-/]*", guide)):
        if "…" in mention:
            continue  # "/api/v1/soa/…" stands for a group of paths
        path = mention.rstrip(".")
        path = path if path.endswith("/") else path + "/"
        matches = {template for template, pattern in templates.items() if pattern.match(path)}
        described |= matches
        if not matches:
            unknown.append(mention)
    assert unknown == [], "paths in the guide that the API does not have"
    assert set(schema["paths"]) - described == set(), "paths of the API the guide does not name"

    def named(word):
        return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", guide) is not None

    parameters = {
        parameter["name"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
    fields = {
        field
        for component in schema["components"]["schemas"].values()
        for field in component.get("properties") or {}
    }
    assert {name for name in parameters if not named(name)} == set(), "query parameters not in the guide"
    assert {name for name in fields if not named(name)} == set(), "fields not in the guide"


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def test_it_documents_the_one_error_shape_as_a_component(client):
    schema = client.get("/api/schema/?format=json").json()
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["status", "code", "detail"]
    assert set(error["properties"]) == {"status", "code", "detail", "errors"}
    assert error["properties"]["errors"]["type"] == "object"  # field → messages


def test_it_lists_the_error_statuses_each_operation_can_answer(client):
    schema = client.get("/api/schema/?format=json").json()
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        errors = {int(code) for code in responses if int(code) >= 400}
        for code in errors:
            assert responses[str(code)]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (method, path, code)
        assert {400, 503} <= errors, (method, path)
        assert "Retry-After" in responses["503"]["headers"]
        if path != "/api/v1/":  # the index is public
            assert {401, 403} <= errors, (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)
        assert (409 in errors) == (method in {"POST", "PUT", "PATCH", "DELETE"}), (method, path)
        assert ({411, 413, 415} <= errors) == (method in {"POST", "PUT", "PATCH"}), (method, path)
    incidents = schema["paths"]["/api/v1/incidents/"]
    assert "404" in incidents["get"]["responses"]  # a cursor the list did not issue
    assert "404" not in incidents["post"]["responses"]
    assert "422" in incidents["post"]["responses"]  # a create takes an Idempotency-Key
    assert "404" in schema["paths"]["/api/v1/soa/"]["get"]["responses"]  # ?framework= names one


def test_it_documents_an_evidence_download_as_any_type_an_upload_may_have(client):
    schema = client.get("/api/schema/?format=json").json()
    content = schema["paths"]["/api/v1/evidence/{id}/download/"]["get"]["responses"]["200"]["content"]
    assert {"application/pdf", "image/png", "text/csv", "application/octet-stream"} <= set(content)
