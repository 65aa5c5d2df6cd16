"""Every write endpoint of the API, each with a valid body: a field the endpoint does not take is
refused with 400 naming it (and nothing is written), and a body that is not JSON gets 415 saying
to send ``application/json``.

``WRITES`` holds one valid request per write operation; a test checks that it covers exactly the
write operations of the URL configuration (as the OpenAPI schema lists them), so an endpoint added
later fails here until it has its case.
"""

from __future__ import annotations

import datetime
import json
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from governance.models import ChangeEvent, EvidencePack
from governance.services import evidence as evidence_services
from governance.services import mappings, transparency
from incidents.services import lifecycle
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    ControlFactory,
    ControlImplementationFactory,
    CorrectiveActionFactory,
    EvaluationRunFactory,
    FrameworkFactory,
    HallucinationFindingFactory,
    HallucinationLimitFactory,
    IncidentFactory,
    IndicatorFactory,
    IndicatorSetFactory,
    NotificationFactory,
    RequirementFactory,
    ReviewFactory,
    RiskFactory,
    WebhookEndpointFactory,
    incident_payload,
)
from tests.governance.write_cases import CASES, FINDING, JSON_CASES, UNKNOWN, WRITES, run_fields


@pytest.fixture
def world(db, officer, team_a, evidence_dir):
    """One of every object the write endpoints act on."""
    system = AISystemFactory(slug="target", owning_team=team_a)
    AISystemFactory(slug="other", owning_team=team_a)
    iso = FrameworkFactory(code="iso-iec-42001", version="2023")
    nist = FrameworkFactory(code="nist-ai-rmf", version="1.0")
    iso_a = RequirementFactory(framework=iso, ref_id="A.2.2")
    iso_b = RequirementFactory(framework=iso, ref_id="A.2.3")
    nist_req = RequirementFactory(framework=nist, ref_id="GOVERN 1.1")
    control = ControlFactory(code="ctl-target", requirements=[iso_a])
    ControlFactory(code="ctl-spare")
    indicator_set = IndicatorSetFactory(key="deploy-1")
    IndicatorFactory(indicator_set=indicator_set, key="d0")
    assessment = transparency.start_assessment(
        actor=officer, indicator_set=indicator_set, system=system, model=None, assessed_on=None
    )
    transparency.answer(actor=officer, assessment=assessment, answers={"d0": {"answer": "satisfied"}})
    serious = IncidentFactory(system=system)
    lifecycle.flag_serious(actor=officer, incident=serious, grounds=["health"])
    incident = IncidentFactory(system=system)
    return SimpleNamespace(
        officer=officer,
        model=AIModelFactory(),
        iso_a=iso_a,
        iso_b=iso_b,
        nist=nist_req,
        mapping=mappings.create_mapping(
            actor=officer,
            data={"source": iso_a, "target": nist_req, "relationship": "equal", "provenance": "Crosswalk"},
        ),
        implementation=ControlImplementationFactory(control=control, system=system),
        risk=RiskFactory(system=system),
        evidence=evidence_services.add_link_evidence(
            actor=officer,
            url="https://intranet.example.com/policy",
            title="AI policy",
            collected_on=datetime.date(2026, 1, 5),
            team=team_a,
        ),
        review=ReviewFactory(system=system),
        notification=NotificationFactory(recipient=officer),
        webhook=WebhookEndpointFactory(owner=officer),
        assessment=assessment,
        incident=incident,
        serious=serious,
        action=CorrectiveActionFactory(incident=incident),
        finding=HallucinationFindingFactory(system=system),
        limit=HallucinationLimitFactory(system=system, benchmark_name="SimpleQA"),
        run=EvaluationRunFactory(system=system),
        failed_pack=EvidencePack.objects.create(requested_by=officer, status="failed", error="Stopped."),
    )


@pytest.fixture
def client(officer):
    # Authenticated without a token: a token's use is itself a write (its last use).
    client = APIClient()
    client.force_authenticate(officer)
    return client


def _send(client, method: str, url: str, body: dict, *, multipart: bool, **extra):
    return getattr(client, method.lower())(url, body, format="multipart" if multipart else "json", **extra)


def test_it_has_a_case_for_every_write_operation_of_the_api(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    operations = {
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in ("post", "put", "patch")
    }
    assert operations == set(WRITES)


@pytest.mark.parametrize("method,write", CASES)
def test_it_refuses_an_unknown_field_naming_it_and_writes_nothing(client, world, method, write):
    url, before = write.url(world), ChangeEvent.objects.count()

    refused = _send(client, method, url, {**write.body(world), UNKNOWN: "x"}, multipart=write.multipart)

    assert refused.status_code == 400, refused.content
    assert refused.json()["errors"][UNKNOWN][0].startswith("Unknown field")
    assert ChangeEvent.objects.count() == before
    # The same request without it is accepted: the unknown field alone was refused.
    accepted = _send(client, method, url, write.body(world), multipart=write.multipart)
    assert accepted.status_code in (200, 201, 202), accepted.content


@pytest.mark.parametrize("method,write", JSON_CASES)
def test_it_answers_415_saying_to_send_json_when_the_body_is_not_json(client, world, method, write):
    url, before = write.url(world), ChangeEvent.objects.count()
    form = "&".join(f"{key}=x" for key in write.body(world)) or "note=x"

    response = getattr(client, method.lower())(url, form, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415, response.content
    body = response.json()
    assert body["code"] == "unsupported_media_type"
    assert body["detail"].startswith('The body was sent as "application/x-www-form-urlencoded"; send ')
    assert '"Content-Type: application/json"' in body["detail"]
    assert ChangeEvent.objects.count() == before


# --- The messages, nested bodies and what is not refused ----------------------------------------


def test_it_suggests_the_field_a_misspelt_one_is_closest_to(client, world):
    from incidents.models import Incident

    before = Incident.objects.count()
    response = client.post("/api/v1/incidents/", {**incident_payload(), "serverity": "SEV1"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"serverity": ['Unknown field; did you mean "severity"?']}
    assert Incident.objects.count() == before


def test_it_lists_the_fields_the_request_takes_when_none_is_close(client, world):
    response = client.patch(
        f"/api/v1/incidents/{world.incident.reference}/", {"colour": "red"}, format="json"
    )

    assert response.status_code == 400
    [message] = response.json()["errors"]["colour"]
    assert message == (
        "Unknown field. This request takes: title, description, severity, harm_types, harm_level, "
        "mit_domain, mit_subdomain, affected_parties, sector, model."
    )


def test_it_reports_unknown_fields_together_with_the_other_field_errors(client, world):
    response = client.post("/api/v1/incidents/", {"system": "target", "serverity": "SEV1"}, format="json")

    errors = response.json()["errors"]
    assert set(errors) == {"serverity", "title", "occurred_at", "severity"}
    assert errors["title"] == ["This field is required."]


def test_it_takes_back_a_representation_read_with_get_read_only_fields_and_all(client, world):
    system = client.get("/api/v1/ai-systems/target/").json()
    response = client.put("/api/v1/ai-systems/target/", {**system, "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"


def test_it_names_unknown_fields_inside_nested_objects_and_batch_items(client, world):
    nested = client.patch(
        "/api/v1/ai-systems/target/", {"models": [{"model": world.model.pk, "rol": "primary"}]}, format="json"
    )
    assert nested.status_code == 400
    assert nested.json()["errors"]["models"]["0"]["rol"] == ['Unknown field; did you mean "role"?']

    answers = client.post(
        f"/api/v1/transparency-assessments/{world.assessment.pk}/answers/",
        {"answers": {"d0": {"answr": "satisfied"}}},
        format="json",
    )
    assert answers.json()["errors"]["answers"]["d0"]["answr"] == ['Unknown field; did you mean "answer"?']

    before = ChangeEvent.objects.count()
    batch = client.post(
        "/api/v1/hallucination-findings/",
        [FINDING, {**FINDING, "sample_id": "q-2", "clam": "Also wrong."}],
        format="json",
    )
    assert batch.status_code == 400
    assert batch.json()["errors"] == {"1": {"clam": ['Unknown field; did you mean "claim"?']}}
    assert ChangeEvent.objects.count() == before


def test_it_names_an_unknown_field_of_the_run_part_and_an_unknown_part_of_an_upload(client, world):
    def upload(**parts):
        results = SimpleUploadedFile("results.jsonl", b'{"sample_id": "q-1", "grade": "correct"}\n')
        return client.post(
            "/api/v1/evaluation-runs/", {"sample_results": results, **parts}, format="multipart"
        )

    in_run = upload(run=json.dumps(run_fields(judge_nmae="grader")))
    assert in_run.status_code == 400
    assert in_run.json()["errors"] == {"judge_nmae": ['Unknown field; did you mean "judge_name"?']}

    extra_part = upload(run=json.dumps(run_fields()), samples="results.jsonl")
    assert extra_part.status_code == 400
    assert extra_part.json()["errors"] == {
        "samples": ["Unknown field. This request takes: run, sample_results."]
    }


def test_it_refuses_a_body_on_an_action_that_takes_none(client, world):
    response = client.post(f"/api/v1/reviews/{world.review.pk}/start/", {"note": "mine"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"note": ["Unknown field. This request takes no fields."]}


def test_it_reads_every_request_body_through_a_serializer_that_refuses_unknown_fields():
    """Every serializer of the API modules derives from governance.api.base: bodies through
    ``Serializer``/``ModelSerializer``, query strings through ``QuerySerializer``."""
    import importlib
    import inspect
    import pkgutil

    from rest_framework import serializers

    from governance.api import base

    offenders = []
    checked = 0
    for package in ("governance.api", "incidents.api"):
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__ or not issubclass(cls, serializers.BaseSerializer):
                    continue
                if issubclass(cls, serializers.ListSerializer):
                    continue
                checked += 1
                if not issubclass(cls, base.RejectUnknownFieldsMixin | base.QuerySerializer):
                    offenders.append(f"{module.__name__}.{name}")
    assert offenders == []
    assert checked > 60  # every module was found, packages' modules included


def test_it_writes_every_link_in_a_response_as_an_absolute_url(client, world):
    """No string in any list of the API is a bare path: links are complete URLs."""
    from governance.services import pack_builds

    pack = pack_builds.request_pack(actor=world.officer, frameworks=[world.iso_a.framework])
    pack.status, pack.sha256 = pack.Status.READY, "0" * 64
    pack.save()

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    endpoints = client.get("/api/v1/").json()
    for name, url in endpoints.items():
        response = client.get(url)
        if response.status_code != 200:
            continue  # POST-only actions, and trends that need ?system=
        relative = [text for text in strings(response.json()) if text.startswith("/")]
        assert relative == [], name
    listed = client.get("/api/v1/evidence-packs/").json()["results"]
    assert [p["download_url"] for p in listed if p["status"] == "ready"] == [
        f"http://testserver/api/v1/evidence-packs/{pack.pk}/download/"
    ]
