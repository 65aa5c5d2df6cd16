"""Fixtures for the evidence and Statement of Applicability test modules.

None of them is autouse: the evidence modules apply ``evidence_dir`` to every test through their
``pytestmark``; the SoA modules request ``iso`` and ``scenario`` by name.
"""

import datetime
from types import SimpleNamespace

import pytest
from django.core.files.storage import storages

from governance.choices import ImplementationStatus, RequirementKind
from governance.models import Evidence
from governance.services import soa
from tests.factories import FrameworkFactory, RequirementFactory
from tests.governance.soa_helpers import ANNEX_A, TODAY, _control, _evidence, _implementation

# --- Evidence -------------------------------------------------------------------------------


@pytest.fixture
def evidence_dir(settings, tmp_path, monkeypatch):
    """Evidence files go to a fresh directory; the storages handler is rebuilt for it."""
    location = tmp_path / "evidence"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": None},
        },
    }
    storages._storages = {}
    # The model field resolved its storage when the model was defined: point it here too.
    monkeypatch.setattr(Evidence._meta.get_field("file"), "storage", storages["evidence"])
    return location


# --- Statement of Applicability -------------------------------------------------------------


@pytest.fixture
def iso(db):
    """A small ISO/IEC 42001 catalog: three objectives, five Annex A controls and one clause."""
    framework = FrameworkFactory(
        code="iso-iec-42001", version="2023", name="ISO/IEC 42001:2023", short_name="ISO/IEC 42001"
    )
    nodes = {}
    for ref_id, title, order, parent in [
        ("A.2", "Policies related to AI", 100, None),
        ("A.6", "AI system life cycle", 600, None),
        ("A.6.1", "Management guidance for AI system development", 610, "A.6"),
    ]:
        nodes[ref_id] = RequirementFactory(
            framework=framework,
            ref_id=ref_id,
            title=title,
            order=order,
            parent=nodes.get(parent),
            kind=RequirementKind.CONTROL_OBJECTIVE,
            assessable=False,
        )
    RequirementFactory(
        framework=framework, ref_id="6.1.3", title="AI risk treatment", order=50, kind="clause_requirement"
    )
    controls = {}
    for position, (ref_id, title, parent) in enumerate(ANNEX_A):
        order = nodes[parent].order + position + 1
        controls[ref_id] = RequirementFactory(
            framework=framework, ref_id=ref_id, title=title, order=order, parent=nodes[parent]
        )
    return SimpleNamespace(framework=framework, req=controls)


@pytest.fixture
def scenario(iso, officer, system_a, team_a, team_b):
    """Implementations, evidence and decisions that give every derived status somewhere."""
    policy = _control("ctl-ai-policy", iso.req["A.2.2"], title="Publish and maintain the AI policy")
    _control("ctl-policy-alignment", iso.req["A.2.3"])
    review = _control("ctl-policy-review", iso.req["A.2.4"])
    design = _control("ctl-design-process", iso.req["A.6.1.3"])

    policy_org = _implementation(policy)
    _implementation(review, status=ImplementationStatus.IN_PROGRESS)
    design_a = _implementation(design, system_a)

    expired = _evidence(
        "AI policy v3", valid_until=TODAY - datetime.timedelta(days=1), implementations=[policy_org]
    )
    memo = _evidence(
        "Development objectives memo",
        valid_until=TODAY + datetime.timedelta(days=90),
        requirements=[iso.req["A.6.1.2"]],
    )
    design_review = _evidence("System A design review", team=team_a, implementations=[design_a])
    _evidence("Team B notes", team=team_b, requirements=[iso.req["A.6.1.2"]])

    soa.set_applicability(
        actor=officer,
        requirement=iso.req["A.2.4"],
        applicable=False,
        justification="Covered by the group-wide policy review.",
    )
    soa.set_applicability(
        actor=officer,
        requirement=iso.req["A.2.4"],
        system=system_a,
        applicable=True,
        justification="Reviewed for this system.",
    )
    return SimpleNamespace(
        policy=policy, review=review, design=design, expired=expired, memo=memo, design_review=design_review
    )
