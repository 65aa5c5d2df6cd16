import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import (
    AIModel,
    AISystem,
    Applicability,
    ChangeEvent,
    Control,
    ControlImplementation,
    Evidence,
    Framework,
    Risk,
    SystemModel,
    Team,
    TransparencyAssessment,
    User,
)
from governance.services.catalogs import load_catalogs
from governance.services.coverage import coverage_rows, coverage_summary
from governance.services.demo import seed_demo
from governance.services.demo_controls import CatalogsMissing
from governance.services.transparency import ranking

HIGH_RISK = {"credit-scoring", "cv-screening", "life-insurance-pricing", "workforce-scheduling"}


def _snapshot():
    return {
        "teams": Team.objects.count(),
        "systems": AISystem.objects.count(),
        "models": AIModel.objects.count(),
        "links": SystemModel.objects.count(),
        "users": User.objects.count(),
        "controls": Control.objects.count(),
        "control_requirements": Control.requirements.through.objects.count(),
        "implementations": ControlImplementation.objects.count(),
        "evidence": Evidence.objects.count(),
        "evidence_links": Evidence.implementations.through.objects.count(),
        "applicability": Applicability.objects.count(),
        "risks": Risk.objects.count(),
        "assessments": TransparencyAssessment.objects.count(),
        "risk_controls": Risk.controls.through.objects.count(),
        "events": ChangeEvent.objects.count(),
        "updated": sorted(AISystem.objects.values_list("updated_at", flat=True)),
        "programme_updated": sorted(
            str(stamp)
            for model in (Control, ControlImplementation, Evidence, Applicability, Risk)
            for stamp in model.objects.values_list("updated_at", flat=True)
        ),
    }


def test_it_seeds_a_believable_organisation_once(db):
    call_command("seed_demo", verbosity=0)
    first = _snapshot()
    assert first["teams"] == 3
    assert 10 <= first["systems"] <= 14
    classes = set(AISystem.objects.values_list("eu_ai_act_class", flat=True))
    assert {"prohibited", "high_risk", "limited", "minimal", "unclassified"} <= classes
    assert len(set(AIModel.objects.values_list("provider", flat=True))) >= 5
    for system in AISystem.objects.all():
        system.full_clean()  # demo data obeys the same rules as user data

    call_command("seed_demo", verbosity=0)
    assert _snapshot() == first, "a second run must change nothing"


def test_it_assesses_the_deployed_demo_systems_for_transparency_once(db):
    call_command("seed_demo", verbosity=0)
    deployed = AISystem.objects.filter(lifecycle_stage="deployed")
    assessments = TransparencyAssessment.objects.filter(system__in=deployed)
    assert deployed.exists() and assessments.count() == deployed.count()
    assert all(a.status == "final" and a.score is not None for a in assessments)
    assert 20 <= min(a.score for a in assessments) and max(a.score for a in assessments) <= 100
    officer = User.objects.get(username="olivia")
    assert list(ranking(user=officer)) != []


def test_it_seeds_a_governance_programme_on_the_catalogs(db):
    call_command("seed_demo", verbosity=0)

    assert 12 <= Control.objects.count() <= 18
    for control in Control.objects.prefetch_related("requirements__framework"):
        frameworks = {r.framework.code for r in control.requirements.all()}
        assert "iso-iec-42001" in frameworks, control.code
    logging = Control.objects.get(code="ctl-logging-retention")
    assert {("iso-iec-42001", "A.6.2.8"), ("eu-ai-act", "Art. 12")} <= set(
        logging.requirements.values_list("framework__code", "ref_id")
    )

    implementations = ControlImplementation.objects.select_related("system")
    assert implementations.filter(system=None, status="implemented").exists()
    assert set(implementations.exclude(system=None).values_list("system__slug", flat=True)) == HIGH_RISK
    statuses = set(implementations.values_list("status", flat=True))
    assert statuses == {"implemented", "in_progress", "not_started", "not_applicable"}
    not_applicable = implementations.get(status="not_applicable")
    assert not_applicable.system is not None and not_applicable.justification
    assert implementations.exclude(last_tested_on=None).exclude(next_test_due=None).exists()

    evidence = Evidence.objects.all()
    assert evidence.filter(valid_until__lt="2026-11-01").count() == 1  # the demo's expired evidence
    assert all(item.implementations.exists() for item in evidence)

    decisions = Applicability.objects.filter(system=None)
    assert 2 <= decisions.count() <= 3
    excluded = decisions.get(applicable=False)
    assert excluded.requirement.kind == "control" and excluded.justification

    risks = Risk.objects.select_related("system")
    assert {risk.system.slug for risk in risks} == HIGH_RISK
    for slug in HIGH_RISK:
        assert 2 <= risks.filter(system__slug=slug).count() <= 4
    assert len(set(risks.values_list("characteristic", flat=True))) == 7
    assert risks.exclude(residual_score=None).filter(residual_score__lt=10).exists()
    assert all(risk.inherent_score == risk.likelihood * risk.impact for risk in risks)
    assert risks.filter(controls__isnull=False).distinct().count() >= len(risks) - 1

    for obj in [*Control.objects.all(), *implementations, *evidence, *decisions, *risks]:
        obj.full_clean()  # demo data obeys the same rules as user data


def test_it_shows_covered_requirements_gaps_and_expired_evidence(db):
    call_command("seed_demo", verbosity=0)
    iso = Framework.objects.get(code="iso-iec-42001")
    rmf = Framework.objects.get(code="nist-ai-rmf")

    counts = coverage_summary(framework=iso)["counts"]
    assert counts["covered"] > 0 and counts["gap"] > 0
    assert counts["needs_evidence"] > 0
    # Organisation-wide controls cover it; a control implemented for one system does not.
    covered = {row["ref_id"] for row in coverage_rows(framework=iso, state="covered")}
    assert {"6.1.2", "8.2"} <= covered and "A.6.2.8" not in covered

    rmf_counts = coverage_summary(framework=rmf)["counts"]
    # No control maps to the AI RMF directly: what it covers, it covers through the crosswalk.
    assert rmf_counts["covered"] == 0
    assert rmf_counts["covered_via_crosswalk"] + rmf_counts["partial_via_crosswalk"] > 0
    through = coverage_rows(framework=rmf, state="partial_via_crosswalk")[0]["through"]
    assert through and through[0]["framework"] == "iso-iec-42001"


def test_it_refuses_clearly_without_the_catalogs(db):
    with pytest.raises(CatalogsMissing, match="load_catalogs"):
        seed_demo()
    assert not Team.objects.exists()


def test_it_reports_a_broken_catalog_as_a_command_error(db, monkeypatch, tmp_path):
    import governance.management.commands.seed_demo as command

    monkeypatch.setattr(command, "load_catalogs", lambda: load_catalogs(tmp_path / "missing"))
    with pytest.raises(CommandError, match="framework catalogs"):
        call_command("seed_demo", verbosity=0)
