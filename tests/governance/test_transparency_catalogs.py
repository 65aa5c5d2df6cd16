"""Transparency indicator sets shipped as data, and the FMTI import of the shipped published scores
(``governance/data/fmti``), checked against the FMTI files they come from and the verified totals of
``tests/governance/reference/fmti_totals_computed.csv``."""

import csv
import shutil
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from governance.models import AIModel, AssessmentAnswer, ChangeEvent, IndicatorSet, TransparencyAssessment
from governance.services.catalogs import load_catalogs
from governance.services.fmti_import import FMTI_DIR, FMTIImportError, import_fmti
from governance.services.transparency_catalogs import TRANSPARENCY_DIR, load_indicator_sets

REFERENCE = Path(__file__).parent / "reference"  # see its README
FMTI = FMTI_DIR

FMTI_ATTRIBUTION = (
    "Foundation Model Transparency Index, Stanford CRFM, CC BY 4.0, github.com/stanford-crfm/fmti"
)
EDITION_SETS = {"2023 (v1.0, Oct 2023)": "fmti-2023", "2024 (v1.1, May 2024)": "fmti-2024"}
DOMAIN_COUNTS = {
    "fmti-2023": {"Upstream": 32, "Model": 33, "Downstream": 35},
    "fmti-2024": {"Upstream": 32, "Model": 33, "Downstream": 35},
    "fmti-2025": {"Upstream": 34, "Model": 30, "Downstream": 36},
}
DEPLOYMENT = "verity-deployment-1"


def _csv(path):
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _plain(text):
    return " ".join(text.replace("\u2028", "").split())


def _expected_totals():
    """{(set key, developer): (upstream, model, downstream, total)} from the verified totals."""
    with (REFERENCE / "fmti_totals_computed.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {
        (EDITION_SETS.get(r["edition"], "fmti-2025"), r["developer"]): tuple(
            int(r[c]) for c in ("upstream", "model", "downstream", "total_computed")
        )
        for r in rows
    }


def _totals_from_answers():
    """Per imported assessment, the satisfied indicators per domain and in total, counted in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.import_key,
                   COUNT(*) FILTER (WHERE i.domain = 'Upstream' AND ans.answer = 'satisfied'),
                   COUNT(*) FILTER (WHERE i.domain = 'Model' AND ans.answer = 'satisfied'),
                   COUNT(*) FILTER (WHERE i.domain = 'Downstream' AND ans.answer = 'satisfied'),
                   COUNT(*) FILTER (WHERE ans.answer = 'satisfied'),
                   COUNT(*)
              FROM governance_transparencyassessment a
              JOIN governance_assessmentanswer ans ON ans.assessment_id = a.id
              JOIN governance_indicator i ON i.id = ans.indicator_id
             WHERE a.source = 'import'
             GROUP BY a.import_key
            """
        )
        return {key: rest for key, *rest in cursor.fetchall()}


def _snapshot():
    return {
        "events": ChangeEvent.objects.count(),
        "sets": sorted(IndicatorSet.objects.values_list("key", "updated_at")),
        "assessments": sorted(TransparencyAssessment.objects.values_list("import_key", "updated_at")),
        "answers": AssessmentAnswer.objects.count(),
        "models": AIModel.objects.count(),
    }


@pytest.fixture
def sets(db):
    return load_indicator_sets()


@pytest.fixture
def imported(sets):
    return import_fmti(FMTI)


# --- Indicator sets -------------------------------------------------------------------------------


def test_it_loads_the_three_fmti_editions_and_the_deployment_set(sets):
    assert set(sets) == {"fmti-2023", "fmti-2024", "fmti-2025", DEPLOYMENT}
    for key, counts in DOMAIN_COUNTS.items():
        indicator_set = IndicatorSet.objects.get(key=key)
        assert indicator_set.indicators.count() == 100
        assert Counter(indicator_set.indicators.values_list("domain", flat=True)) == counts
        assert [d["domain"] for d in indicator_set.domains] == ["Upstream", "Model", "Downstream"]
        assert sets[key]["domains"] == counts
        assert (indicator_set.subject_kind, indicator_set.licence) == ("model", "CC BY 4.0")
        assert indicator_set.attribution.startswith(FMTI_ATTRIBUTION)
        assert set(indicator_set.indicators.values_list("weight", flat=True)) == {Decimal("1.00")}
    subdomains = {
        key: sum(len(d["subdomains"]) for d in IndicatorSet.objects.get(key=key).domains)
        for key in DOMAIN_COUNTS
    }
    assert subdomains == {"fmti-2023": 23, "fmti-2024": 23, "fmti-2025": 19}  # "Accountability " trimmed

    deployment = IndicatorSet.objects.get(key=DEPLOYMENT)
    indicators = list(deployment.indicators.all())
    assert 20 <= len(indicators) <= 40
    assert deployment.subject_kind == "system"
    assert [d["domain"] for d in deployment.domains] == [
        "Disclosure to people",
        "Documentation",
        "Models and changes",
        "Evaluation and incidents",
        "Oversight and data",
    ]
    assert all(i.rationale and i.definition for i in indicators)
    keys = {i.key for i in indicators}
    assert {
        "ai-use-disclosed",
        "intended-use-documented",
        "known-limitations",
        "models-named",
        "system-prompt-versioned",
        "guardrails-documented",
        "evaluation-published",
        "hallucination-rate",
        "public-incident-channel",
        "data-sources",
        "human-oversight",
        "change-log",
    } <= keys
    assert "Art. 50" in deployment.indicators.get(key="ai-use-disclosed").rationale


def test_it_takes_fmti_definitions_and_each_editions_names_from_upstream(sets):
    definitions = _csv(REFERENCE / "fmti" / "fmti-indicators.csv")
    names = {
        "fmti-2023": [r["Indicator"] for r in _csv(FMTI / "October2023" / "October2023_scores.csv")][:100],
        "fmti-2024": [r["Indicator"] for r in _csv(FMTI / "May2024" / "May2024_scores.csv")][:100],
    }
    for key in ("fmti-2023", "fmti-2024"):
        loaded = list(IndicatorSet.objects.get(key=key).indicators.order_by("order"))
        assert [i.name for i in loaded] == [n.strip() for n in names[key]]
        assert [(i.domain, i.subdomain, _plain(i.definition), _plain(i.notes)) for i in loaded] == [
            (r["Domain"], r["Subdomain"].strip(), _plain(r["Definition"]), _plain(r["Notes"]))
            for r in definitions
        ]
    v10 = IndicatorSet.objects.get(key="fmti-2023").indicators
    v11 = IndicatorSet.objects.get(key="fmti-2024").indicators
    assert v10.get(order=71).name == "Model Asset License" and v11.get(order=71).name == "License"
    assert v11.get(order=8).name == "Data copyright status"

    upstream_2025 = _csv(REFERENCE / "fmti" / "Dec2025_indicators.csv")
    loaded = list(IndicatorSet.objects.get(key="fmti-2025").indicators.order_by("order"))
    assert [(i.domain, i.subdomain, i.name, _plain(i.definition)) for i in loaded] == [
        (r["Domain"], r["Subdomain"].strip(), r["Indicator"].strip(), _plain(r["Definition"]))
        for r in upstream_2025
    ]


def test_it_loads_the_sets_with_the_catalogs_and_a_second_run_changes_nothing(db, capsys):
    first = load_catalogs()
    assert {k: v["created"] for k, v in first["indicator_sets"].items()} == {
        "fmti-2023": 100,
        "fmti-2024": 100,
        "fmti-2025": 100,
        DEPLOYMENT: IndicatorSet.objects.get(key=DEPLOYMENT).indicators.count(),
    }
    before = _snapshot()
    again = load_catalogs()
    assert _snapshot() == before
    for info in again["indicator_sets"].values():
        assert (info["set"], info["created"], info["updated"], info["unchanged"]) == (
            "unchanged",
            0,
            0,
            info["rows"],
        )
    call_command("load_catalogs")
    out = capsys.readouterr().out
    assert "[fmti-2024, set unchanged]: 100 indicators (Upstream 32, Model 33, Downstream 35)" in out
    assert _snapshot() == before


def test_it_writes_only_an_indicator_that_changed(sets, tmp_path):
    folder = tmp_path / "transparency"
    shutil.copytree(TRANSPARENCY_DIR, folder)
    path = folder / "verity-deployment-1.0.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Change log kept", "Change log kept and dated"))
    events = ChangeEvent.objects.count()

    result = load_indicator_sets(folder)

    assert (result[DEPLOYMENT]["updated"], result[DEPLOYMENT]["set"]) == (1, "unchanged")
    assert sum(info["updated"] + info["created"] for info in result.values()) == 1
    assert ChangeEvent.objects.count() == events + 1
    assert IndicatorSet.objects.get(key=DEPLOYMENT).indicators.get(key="change-log").name.endswith("dated")


# --- FMTI import ------------------------------------------------------------------------------


def test_it_imports_every_developer_edition_with_the_published_totals_and_subtotals(imported):
    expected = _expected_totals()
    assert len(expected) == 37
    assert {year: info["developers"] for year, info in imported["editions"].items()} == {
        "2023": 10,
        "2024": 14,
        "2025": 13,
    }
    from_answers = _totals_from_answers()
    assert from_answers == {
        f"{key}:{developer}": [*figures, 100] for (key, developer), figures in expected.items()
    }
    for key, developer, total in [
        ("fmti-2023", "Meta", 54),
        ("fmti-2023", "Amazon", 12),
        ("fmti-2024", "BigCode", 85),
        ("fmti-2024", "Adept", 33),
        ("fmti-2025", "IBM", 95),
        ("fmti-2025", "xAI", 14),
    ]:
        assert from_answers[f"{key}:{developer}"][3] == total

    stored = {
        a.import_key: (a.points, a.possible_points, a.score)
        for a in TransparencyAssessment.objects.filter(source="import")
    }
    assert stored == {
        f"{key}:{developer}": (Decimal(figures[3]), Decimal(100), Decimal(figures[3]))
        for (key, developer), figures in expected.items()
    }
    assert imported["scored"] == 37


def test_it_records_each_edition_against_the_developers_flagship_model(imported):
    assessments = TransparencyAssessment.objects.filter(source="import").select_related(
        "model", "indicator_set"
    )
    assert assessments.count() == 37
    assert {(a.status, a.system_id, a.assessor_id) for a in assessments} == {("final", None, None)}
    by_key = {a.import_key: a for a in assessments}

    bigcode = by_key["fmti-2024:BigCode"]
    assert bigcode.indicator_set.key == "fmti-2024"
    assert bigcode.assessor_label == "Stanford CRFM (FMTI 2024)"
    assert bigcode.assessed_on == date(2024, 5, 21)
    assert FMTI_ATTRIBUTION in bigcode.notes
    assert str(by_key["fmti-2023:Meta"].model) == "Meta Llama 2"
    assert by_key["fmti-2023:Meta"].model == by_key["fmti-2024:Meta"].model, "one model, two editions"
    assert str(by_key["fmti-2025:Meta"].model) == "Meta Llama 4 Maverick"
    assert by_key["fmti-2025:IBM"].assessor_label == "Stanford CRFM (FMTI 2025)"
    assert by_key["fmti-2023:Meta"].assessed_on == date(2023, 10, 18)
    assert by_key["fmti-2024:Stability"].model.provider == "Stability AI"

    flagships = {(a.model.provider, a.model.name, a.model.version) for a in assessments}
    assert AIModel.objects.count() == len(flagships) == imported["models"]["created"]
    assert {a.model.model_type for a in assessments} == {"foundation"}


def test_it_takes_disclosures_and_justifications_from_the_reports(imported):
    answers = AssessmentAnswer.objects.filter(assessment__source="import")
    assert not answers.filter(assessment__indicator_set__key="fmti-2023").exclude(disclosure="").exists()

    report = _csv(
        FMTI / "May2024" / "reports" / "BigCode_Hugging Face_ServiceNow_fmtransparencyreport_May2024.csv"
    )
    loaded = list(answers.filter(assessment__import_key="fmti-2024:BigCode").order_by("indicator__order"))
    assert [a.disclosure for a in loaded] == [r["Disclosure"].strip() for r in report]
    assert [a.answer == "satisfied" for a in loaded] == [r["Score"] == "1" for r in report]

    report = _csv(FMTI / "Dec2025" / "reports" / "IBM_fmtransparencyreport_Dec2025.csv")
    loaded = list(answers.filter(assessment__import_key="fmti-2025:IBM").order_by("indicator__order"))
    assert [_plain(a.justification) for a in loaded] == [_plain(r["Justification"]) for r in report]
    assert answers.exclude(evidence_url="").filter(evidence_url__startswith="http").exists()
    assert not answers.exclude(evidence_url="").exclude(evidence_url__startswith="http").exists()

    adept = answers.filter(assessment__import_key="fmti-2024:Adept")  # report's first header mislabelled
    assert adept.count() == 100 and adept.filter(answer="satisfied").count() == 33


def test_a_second_import_changes_nothing(imported, capsys):
    before = _snapshot()
    again = import_fmti(FMTI)
    assert _snapshot() == before
    for kind in ("models", "assessments", "answers"):
        assert again[kind]["created"] == again[kind]["updated"] == 0
    assert again["answers"]["unchanged"] == 3700
    assert again["scored"] == 0
    call_command("import_fmti")  # no folder: the copy shipped in governance/data/fmti
    assert "assessments: created 0, updated 0, unchanged 37" in capsys.readouterr().out
    call_command("import_fmti", str(FMTI))
    assert "answers: created 0, updated 0, unchanged 3700" in capsys.readouterr().out
    assert _snapshot() == before


def test_it_uses_a_model_already_in_the_register_without_changing_it(sets):
    model = AIModel.objects.create(
        provider="Meta",
        name="Llama",
        version="2",
        modality="text",
        model_type="foundation",
        weights="open",
        hosting="self_hosted",
        notes="Ours.",
    )
    import_fmti(FMTI)
    model.refresh_from_db()
    assert (model.hosting, model.notes) == ("self_hosted", "Ours.")
    assert set(
        TransparencyAssessment.objects.filter(
            import_key__in=["fmti-2023:Meta", "fmti-2024:Meta"]
        ).values_list("model_id", flat=True)
    ) == {model.pk}
    assert AIModel.objects.filter(provider="Meta", name="Llama", version="2").count() == 1


def test_it_rejects_scores_out_of_order_naming_file_and_line(sets, tmp_path):
    folder = tmp_path / "fmti"
    shutil.copytree(FMTI, folder)
    path = folder / "May2024" / "May2024_scores.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]  # "Data size" and "Data sources" swap places
    path.chmod(0o644)
    path.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(
        FMTIImportError, match=r"May2024_scores\.csv:2: indicator 'Data sources' is not 'Data size'"
    ):
        import_fmti(folder)
    assert not TransparencyAssessment.objects.exists()
    assert not AIModel.objects.exists()


def test_it_asks_for_the_sets_when_they_are_not_loaded(db):
    with pytest.raises(FMTIImportError, match="indicator sets not loaded"):
        import_fmti(FMTI)
