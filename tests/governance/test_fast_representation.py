"""``FastRepresentation`` renders every serializer that uses it exactly as DRF's own field-by-field
rendering would, for rows read through the list query (annotated) and for plain instances."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from governance.api.base import FastRepresentation
from governance.api.inventory import AISystemSerializer
from governance.choices import Role
from governance.models import AISystem
from incidents.api.evaluations.findings import HallucinationFindingSerializer
from incidents.api.evaluations.limits import HallucinationLimitSerializer
from incidents.api.evaluations.runs import EvaluationRunSerializer
from incidents.api.evaluations.samples import EvaluationSampleSerializer
from incidents.api.incidents.serializers import IncidentSerializer
from incidents.models import (
    EvaluationRun,
    EvaluationSample,
    HallucinationFinding,
    HallucinationLimit,
    Incident,
)
from incidents.services import evaluations
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    IncidentFactory,
    SystemModelFactory,
    UserFactory,
)


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _system_rows(team_a):
    owner = UserFactory(username="owner-1")
    system = AISystemFactory(
        owning_team=team_a,
        business_owner=owner,
        deployed_on=date(2026, 3, 1),
        tags=["chat", "support"],
        jurisdictions=["DE", "EU"],
    )
    SystemModelFactory(system=system, model=AIModelFactory(name="m-1"))
    bare = AISystemFactory(owning_team=team_a)
    listed = list(AISystem.objects.filter(pk__in=[system.pk, bare.pk]).with_related().order_by("pk"))
    return [system, bare, *listed]


def _incident_rows(team_a):
    now = timezone.now()
    system = AISystemFactory(owning_team=team_a)
    model = AIModelFactory(name="m-2")
    SystemModelFactory(system=system, model=model)
    original = IncidentFactory(
        system=system,
        model=model,
        reporter=UserFactory(username="reporter-1"),
        harm_types=["financial_loss", "reputational"],
        harm_level="harm_occurred",
        affected_parties=["customers"],
        sector="banking",
    )
    serious = IncidentFactory(
        system=system,
        severity="SEV1",
        status="investigating",
        is_serious=True,
        serious_grounds=["death", "critical_infrastructure"],
        widespread_infringement=True,
        report_due_at=now + timedelta(days=2),
        report_due_rule="Art. 73(4)",
        initial_report_sent_at=now - timedelta(hours=1),
        authority_reference="MSA-7",
        responded_at=now - timedelta(hours=3),
    )
    overdue = IncidentFactory(
        system=system, is_serious=True, serious_grounds=["health"], report_due_at=now - timedelta(days=1)
    )
    duplicate = IncidentFactory(system=system, status="duplicate", duplicate_of=original)
    resolved = IncidentFactory(
        system=system, status="resolved", responded_at=now - timedelta(hours=1), resolved_at=now
    )
    pks = [original.pk, serious.pk, overdue.pk, duplicate.pk, resolved.pk]
    rows = Incident.objects.filter(pk__in=pks).with_clocks(now).order_by("pk")
    # The list's rows carry the names as annotations; the others read each relation.
    return [*rows.with_names(), *rows]


def _evaluated_system(team_a):
    """A system with a model, a limit of 10 % on SimpleQA and 5 % on every other benchmark, two
    runs (one with per-sample results, over its limit, which opens an incident; one with counts
    only) and findings (one found in a run, one on its own, one marked a duplicate of it)."""
    officer = UserFactory(username="officer-1", role=Role.OFFICER)
    system = AISystemFactory(owning_team=team_a)
    model = AIModelFactory(name="m-3")
    SystemModelFactory(system=system, model=model)
    evaluations.set_limit(actor=officer, system=system, benchmark_name="SimpleQA", max_rate=0.1)
    evaluations.set_limit(actor=officer, system=system, max_rate=0.05, judged_on="lower_bound")
    run_fields = {
        "system": system,
        "task_kind": "short_qa",
        "judge_kind": "llm_judge",
        "rate_basis": "attempted",
    }
    grades = ["incorrect", "correct", "not_attempted", "unverifiable"] * 5
    sampled = evaluations.record_run(
        actor=officer,
        data={**run_fields, "model": model, "benchmark_name": "SimpleQA", "parameters": {"temperature": 0.2}},
        samples=[
            {
                "sample_id": f"q-{n}",
                "grade": grade,
                "claims": 2,
                "hallucinated_claims": 1,
                "score": 0.5 if n % 2 else None,
            }
            for n, grade in enumerate(grades, start=1)
        ],
    )
    counted = evaluations.record_run(
        actor=officer,
        data={
            **run_fields,
            "model_provider": "Example AI",
            "model_name": "other-chat",
            "model_version": "2026-01",
            "benchmark_name": "TruthfulQA",
            "samples": 100,
            "attempted": 100,
            "correct": 99,
            "hallucinated": 1,
        },
    )
    found, _ = evaluations.record_finding(
        actor=officer,
        data={
            "run": sampled,
            "sample_id": "q-1",
            "claim": "It opened in 1887.",
            "kind": "extrinsic",
            "subtype": "wrong_fact",
            "severity": "SEV3",
            "detector_score": 0.9,
            "detector_threshold": 0.5,
        },
    )
    alone, _ = evaluations.record_finding(
        actor=officer,
        data={
            "system": system,
            "model_name": "other-chat",
            "model_version": "2026-01",
            "claim": "Paris is in Spain.",
            "kind": "extrinsic",
            "subtype": "wrong_fact",
            "severity": "SEV4",
            "prompt": "Where is Paris?",
            "prompt_sensitive": True,
        },
    )
    again, _ = evaluations.record_finding(
        actor=officer,
        data={
            "system": system,
            "model_name": "other-chat",
            "model_version": "2026-01",
            "claim": "Paris is in Italy.",
            "kind": "intrinsic",
            "subtype": "context_contradiction",
            "severity": "SEV4",
        },
    )
    evaluations.update_finding_status(actor=officer, finding=again, status="duplicate", duplicate_of=alone)
    assert sampled.incident_id is not None and sampled.has_samples and not counted.has_samples
    return system, [sampled, counted], [found, alone, again]


def _listed_and_plain(model, pks):
    rows = model.objects.filter(pk__in=pks).order_by("pk")
    return [*rows.with_names(), *rows]


def _run_rows(team_a):
    _, runs, _ = _evaluated_system(team_a)
    return _listed_and_plain(EvaluationRun, [run.pk for run in runs])


def _sample_rows(team_a):
    _, runs, _ = _evaluated_system(team_a)
    return list(EvaluationSample.objects.filter(run__in=runs).order_by("line"))


def _finding_rows(team_a):
    _, _, findings = _evaluated_system(team_a)
    return _listed_and_plain(HallucinationFinding, [finding.pk for finding in findings])


def _limit_rows(team_a):
    system, _, _ = _evaluated_system(team_a)
    return _listed_and_plain(
        HallucinationLimit, HallucinationLimit.objects.filter(system=system).values("pk")
    )


CASES = {
    AISystemSerializer: _system_rows,
    IncidentSerializer: _incident_rows,
    EvaluationRunSerializer: _run_rows,
    EvaluationSampleSerializer: _sample_rows,
    HallucinationFindingSerializer: _finding_rows,
    HallucinationLimitSerializer: _limit_rows,
}


def test_it_checks_every_serializer_that_renders_fast():
    assert set(_all_subclasses(FastRepresentation)) <= set(CASES)


@pytest.mark.parametrize("serializer_class", list(CASES), ids=lambda cls: cls.__name__)
def test_it_renders_exactly_as_drf_would(serializer_class, team_a):
    rows = CASES[serializer_class](team_a)
    assert rows
    for row in rows:
        serializer = serializer_class()
        fast = serializer.to_representation(row)
        by_drf = serializers.ModelSerializer.to_representation(serializer, row)
        assert fast == dict(by_drf)
        assert list(fast) == list(by_drf)  # the declared order too
