"""One valid request per write operation of the API, built from the world of objects that
``tests/governance/test_api_writes.py`` makes; that module checks the table covers every write."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import (
    incident_payload,
    system_payload,
)
from tests.governance.evidence_helpers import make_pdf

UNKNOWN = "bogus_field"


@dataclass(frozen=True)
class Write:
    """One valid request: ``url`` and ``body`` are built from the world of objects below."""

    url: Callable[[SimpleNamespace], str]
    body: Callable[[SimpleNamespace], dict]
    multipart: bool = False


def run_fields(**extra) -> dict:
    return {
        "system": "target",
        "model_provider": "Example AI",
        "model_name": "example-chat",
        "model_version": "2026-03",
        "benchmark": "SimpleQA",
        "task_kind": "short_qa",
        "judge_kind": "rule",
        "rate_basis": "attempted",
        **extra,
    }


_MODEL = {
    "provider": "Acme AI",
    "name": "acme-new",
    "version": "2",
    "modality": "text",
    "model_type": "foundation",
    "weights": "open",
    "hosting": "self_hosted",
}
_CONTROL = {"code": "ctl-new", "title": "New control", "control_type": "process", "frequency": "quarterly"}
_RISK = {
    "system": "target",
    "title": "Wrong refunds",
    "characteristic": "valid_reliable",
    "likelihood": 2,
    "impact": 3,
    "treatment": "mitigate",
}
_LINK = {"kind": "link", "title": "AI policy", "url": "https://intranet.example.com/policy", "team": "team-a"}
FINDING = {
    "system": "target",
    "model_name": "example-chat",
    "model_version": "2026-03",
    "benchmark": "SimpleQA",
    "sample_id": "q-1",
    "claim": "The Eiffel Tower was completed in 1901.",
    "kind": "extrinsic",
    "subtype": "wrong_fact",
    "severity": "SEV3",
}

# (method, path as the OpenAPI schema writes it) -> one valid request
WRITES: dict[tuple[str, str], list[Write]] = {
    ("POST", "/api/v1/ai-models/"): [Write(lambda w: "/api/v1/ai-models/", lambda w: _MODEL)],
    ("PUT", "/api/v1/ai-models/{id}/"): [
        Write(lambda w: f"/api/v1/ai-models/{w.model.pk}/", lambda w: {**_MODEL, "name": "renamed"})
    ],
    ("PATCH", "/api/v1/ai-models/{id}/"): [
        Write(lambda w: f"/api/v1/ai-models/{w.model.pk}/", lambda w: {"notes": "checked"})
    ],
    ("POST", "/api/v1/ai-systems/"): [Write(lambda w: "/api/v1/ai-systems/", lambda w: system_payload())],
    ("PUT", "/api/v1/ai-systems/{slug}/"): [
        Write(lambda w: "/api/v1/ai-systems/target/", lambda w: system_payload(slug="target"))
    ],
    ("PATCH", "/api/v1/ai-systems/{slug}/"): [
        Write(lambda w: "/api/v1/ai-systems/target/", lambda w: {"name": "Renamed"})
    ],
    ("POST", "/api/v1/teams/"): [
        Write(lambda w: "/api/v1/teams/", lambda w: {"slug": "team-new", "name": "Team New"})
    ],
    ("PUT", "/api/v1/teams/{slug}/"): [
        Write(lambda w: "/api/v1/teams/team-a/", lambda w: {"slug": "team-a", "name": "Team A renamed"})
    ],
    ("PATCH", "/api/v1/teams/{slug}/"): [
        Write(lambda w: "/api/v1/teams/team-a/", lambda w: {"description": "Payments"})
    ],
    ("POST", "/api/v1/controls/"): [Write(lambda w: "/api/v1/controls/", lambda w: _CONTROL)],
    ("PUT", "/api/v1/controls/{code}/"): [
        Write(lambda w: "/api/v1/controls/ctl-target/", lambda w: {**_CONTROL, "code": "ctl-target"})
    ],
    ("PATCH", "/api/v1/controls/{code}/"): [
        Write(lambda w: "/api/v1/controls/ctl-target/", lambda w: {"title": "Renamed"})
    ],
    ("POST", "/api/v1/control-implementations/"): [
        Write(
            lambda w: "/api/v1/control-implementations/",
            lambda w: {"control": "ctl-spare", "system": "target", "status": "in_progress"},
        )
    ],
    ("PUT", "/api/v1/control-implementations/{id}/"): [
        Write(
            lambda w: f"/api/v1/control-implementations/{w.implementation.pk}/",
            lambda w: {"control": "ctl-target", "system": "target", "status": "not_started"},
        )
    ],
    ("PATCH", "/api/v1/control-implementations/{id}/"): [
        Write(
            lambda w: f"/api/v1/control-implementations/{w.implementation.pk}/",
            lambda w: {"justification": "Tested quarterly."},
        )
    ],
    ("POST", "/api/v1/requirement-mappings/"): [
        Write(
            lambda w: "/api/v1/requirement-mappings/",
            lambda w: {
                "source": w.iso_b.pk,
                "target": w.nist.pk,
                "relationship": "intersect",
                "provenance": "Review",
            },
        )
    ],
    ("PUT", "/api/v1/requirement-mappings/{id}/"): [
        Write(
            lambda w: f"/api/v1/requirement-mappings/{w.mapping.pk}/",
            lambda w: {
                "source": w.iso_a.pk,
                "target": w.nist.pk,
                "relationship": "subset",
                "provenance": "Review",
            },
        )
    ],
    ("PATCH", "/api/v1/requirement-mappings/{id}/"): [
        Write(lambda w: f"/api/v1/requirement-mappings/{w.mapping.pk}/", lambda w: {"rationale": "Reviewed."})
    ],
    ("POST", "/api/v1/risks/"): [Write(lambda w: "/api/v1/risks/", lambda w: _RISK)],
    ("PUT", "/api/v1/risks/{id}/"): [Write(lambda w: f"/api/v1/risks/{w.risk.pk}/", lambda w: _RISK)],
    ("PATCH", "/api/v1/risks/{id}/"): [
        Write(lambda w: f"/api/v1/risks/{w.risk.pk}/", lambda w: {"title": "Renamed"})
    ],
    ("POST", "/api/v1/evidence/"): [
        Write(lambda w: "/api/v1/evidence/", lambda w: {**_LINK, "collected_on": "2026-01-05"}),
        Write(
            lambda w: "/api/v1/evidence/",
            lambda w: {
                "title": "Bias evaluation",
                "team": "team-a",
                "collected_on": "2026-01-05",
                "file": SimpleUploadedFile("report.pdf", make_pdf(), content_type="application/pdf"),
            },
            multipart=True,
        ),
    ],
    ("PUT", "/api/v1/evidence/{id}/"): [
        Write(
            lambda w: f"/api/v1/evidence/{w.evidence.pk}/",
            lambda w: {**_LINK, "title": "AI policy v2", "collected_on": "2026-01-05"},
        )
    ],
    ("PATCH", "/api/v1/evidence/{id}/"): [
        Write(lambda w: f"/api/v1/evidence/{w.evidence.pk}/", lambda w: {"title": "AI policy v3"})
    ],
    ("POST", "/api/v1/evidence-packs/"): [
        Write(lambda w: "/api/v1/evidence-packs/", lambda w: {"frameworks": ["iso-iec-42001"]})
    ],
    ("POST", "/api/v1/evidence-packs/{id}/retry/"): [
        Write(lambda w: f"/api/v1/evidence-packs/{w.failed_pack.pk}/retry/", lambda w: {})
    ],
    ("PUT", "/api/v1/soa/applicability/"): [
        Write(
            lambda w: "/api/v1/soa/applicability/",
            lambda w: {"framework": "iso-iec-42001", "ref_id": "A.2.2", "applicable": True},
        )
    ],
    ("POST", "/api/v1/soa/approve/"): [
        Write(lambda w: "/api/v1/soa/approve/", lambda w: {"framework": "iso-iec-42001", "note": "Board"})
    ],
    ("POST", "/api/v1/reviews/{id}/start/"): [
        Write(lambda w: f"/api/v1/reviews/{w.review.pk}/start/", lambda w: {})
    ],
    ("POST", "/api/v1/reviews/{id}/complete/"): [
        Write(
            lambda w: f"/api/v1/reviews/{w.review.pk}/complete/",
            lambda w: {"outcome": "approved", "answers": {"purpose": "Yes.", "incidents": "None."}},
        )
    ],
    ("POST", "/api/v1/reviews/{id}/waive/"): [
        Write(lambda w: f"/api/v1/reviews/{w.review.pk}/waive/", lambda w: {"reason": "Retired next week."})
    ],
    ("PUT", "/api/v1/notification-preferences/{kind}/"): [
        Write(
            lambda w: "/api/v1/notification-preferences/review_due/",
            lambda w: {"channels": ["email"], "digest": True},
        )
    ],
    ("POST", "/api/v1/notifications/{id}/read/"): [
        Write(lambda w: f"/api/v1/notifications/{w.notification.pk}/read/", lambda w: {})
    ],
    ("POST", "/api/v1/webhook-endpoints/"): [
        Write(
            lambda w: "/api/v1/webhook-endpoints/",
            lambda w: {"name": "CI alerts", "url": "https://ci.example.com/hooks/verity"},
        )
    ],
    ("PATCH", "/api/v1/webhook-endpoints/{id}/"): [
        Write(lambda w: f"/api/v1/webhook-endpoints/{w.webhook.pk}/", lambda w: {"name": "Renamed"})
    ],
    ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret/"): [
        Write(lambda w: f"/api/v1/webhook-endpoints/{w.webhook.pk}/rotate-secret/", lambda w: {})
    ],
    ("POST", "/api/v1/transparency-assessments/"): [
        Write(
            lambda w: "/api/v1/transparency-assessments/",
            lambda w: {"indicator_set": "deploy-1", "system": "other"},
        )
    ],
    ("POST", "/api/v1/transparency-assessments/{id}/answers/"): [
        Write(
            lambda w: f"/api/v1/transparency-assessments/{w.assessment.pk}/answers/",
            lambda w: {"answers": {"d0": {"answer": "satisfied"}}},
        )
    ],
    ("POST", "/api/v1/transparency-assessments/{id}/finalize/"): [
        Write(lambda w: f"/api/v1/transparency-assessments/{w.assessment.pk}/finalize/", lambda w: {})
    ],
    ("POST", "/api/v1/incidents/"): [
        Write(lambda w: "/api/v1/incidents/", lambda w: incident_payload(severity="SEV2"))
    ],
    ("PATCH", "/api/v1/incidents/{reference}/"): [
        Write(lambda w: f"/api/v1/incidents/{w.incident.reference}/", lambda w: {"title": "Renamed"})
    ],
    ("POST", "/api/v1/incidents/{reference}/transition/"): [
        Write(lambda w: f"/api/v1/incidents/{w.incident.reference}/transition/", lambda w: {"to": "triaged"})
    ],
    ("POST", "/api/v1/incidents/{reference}/timeline/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.incident.reference}/timeline/",
            lambda w: {"body": "Rolled back to 2.3."},
        )
    ],
    ("POST", "/api/v1/incidents/{reference}/corrective-actions/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.incident.reference}/corrective-actions/",
            lambda w: {"description": "Add a refund-policy check to the prompt."},
        )
    ],
    ("PATCH", "/api/v1/incidents/{reference}/corrective-actions/{action_id}/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.incident.reference}/corrective-actions/{w.action.pk}/",
            lambda w: {"description": "Add a check."},
        )
    ],
    ("POST", "/api/v1/incidents/{reference}/serious/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.incident.reference}/serious/", lambda w: {"grounds": ["health"]}
        )
    ],
    ("PUT", "/api/v1/incidents/{reference}/serious/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.serious.reference}/serious/",
            lambda w: {"grounds": ["health", "death"], "widespread": False},
        )
    ],
    ("POST", "/api/v1/incidents/{reference}/authority-reports/"): [
        Write(
            lambda w: f"/api/v1/incidents/{w.serious.reference}/authority-reports/",
            lambda w: {"report": "initial", "authority_reference": "MSA-1"},
        )
    ],
    ("POST", "/api/v1/evaluation-runs/"): [
        Write(
            lambda w: "/api/v1/evaluation-runs/",
            lambda w: run_fields(samples=10, attempted=10, correct=9, hallucinated=1),
        ),
        Write(
            lambda w: "/api/v1/evaluation-runs/",
            lambda w: {
                "run": json.dumps(run_fields()),
                "sample_results": SimpleUploadedFile(
                    "results.jsonl", b'{"sample_id": "q-1", "grade": "correct"}\n'
                ),
            },
            multipart=True,
        ),
    ],
    ("POST", "/api/v1/hallucination-findings/"): [
        Write(lambda w: "/api/v1/hallucination-findings/", lambda w: FINDING)
    ],
    ("PATCH", "/api/v1/hallucination-findings/{id}/"): [
        Write(lambda w: f"/api/v1/hallucination-findings/{w.finding.pk}/", lambda w: {"status": "confirmed"})
    ],
    ("POST", "/api/v1/hallucination-limits/"): [
        Write(
            lambda w: "/api/v1/hallucination-limits/",
            lambda w: {"system": "target", "benchmark": "TruthfulQA", "max_rate": 0.2},
        )
    ],
    ("PATCH", "/api/v1/hallucination-limits/{id}/"): [
        Write(lambda w: f"/api/v1/hallucination-limits/{w.limit.pk}/", lambda w: {"max_rate": 0.3})
    ],
}

CASES = [
    pytest.param(method, write, id=f"{method} {path}{' multipart' if write.multipart else ''}")
    for (method, path), writes in WRITES.items()
    for write in writes
]
JSON_CASES = [case for case in CASES if not case.values[1].multipart]
