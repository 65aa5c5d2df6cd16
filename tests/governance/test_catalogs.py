"""The shipped framework catalogs, checked against the reference tables they were built from
(``tests/governance/reference/``, see its README)."""

import csv
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from governance.choices import AnnexIIIArea
from governance.models import ChangeEvent, Framework, Requirement, RequirementMapping
from governance.services.catalogs import CATALOG_ROOT, CatalogError, load_catalogs

REFERENCE = Path(__file__).parent / "reference"

ISO = ("iso-iec-42001", "2023")
RMF = ("nist-ai-rmf", "1.0")
GAI = ("nist-ai-600-1", "1.0")
EU = ("eu-ai-act", "2024-1689")

# Documented in governance/catalogs/README.md.
ISO_KIND_CHANGES = {"6.1": "clause", "A.6": "section"}
ISO_ADDED = {"6.1.1", "6.1.2", "6.1.3", "6.1.4"}
GAI_RISK_LABELS = {
    "Environmental": ["Environmental Impacts"],
    "CBRN Information and Capability": ["CBRN Information or Capabilities"],
    "Human AI Configuration": ["Human-AI Configuration"],
    "Human-AI Configuration, Dangerous, Violent, or Hateful Content": [
        "Human-AI Configuration",
        "Dangerous, Violent, or Hateful Content",
    ],
    "Civil Rights violations": ["Harmful Bias and Homogenization"],
}
LIGATURES = "\ufb00\ufb01\ufb02\ufb03\ufb04"


def _reference(relative):
    with (REFERENCE / relative).open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _plain(text):
    for ligature, letters in zip(LIGATURES, ["ff", "fi", "fl", "ffi", "ffl"], strict=True):
        text = text.replace(ligature, letters)
    return re.sub(r"\s+", " ", text).strip()


def _requirements(framework):
    code, version = framework
    return Requirement.objects.filter(framework__code=code, framework__version=version)


def _mapping_pairs(source, target):
    rows = RequirementMapping.objects.filter(
        source__framework__code=source[0],
        source__framework__version=source[1],
        target__framework__code=target[0],
        target__framework__version=target[1],
    )
    return set(rows.values_list("source__ref_id", "target__ref_id"))


def _snapshot():
    return {
        "frameworks": Framework.objects.count(),
        "requirements": Requirement.objects.count(),
        "mappings": RequirementMapping.objects.count(),
        "events": ChangeEvent.objects.count(),
        "framework_updated": sorted(Framework.objects.values_list("updated_at", flat=True)),
    }


@pytest.fixture
def loaded(db):
    return load_catalogs()


def test_it_loads_iso_42001_annex_a_controls_under_their_objectives(loaded):
    structure = _reference("iso-iec-42001-2023_structure.csv")
    expected_controls = [r for r in structure if r["kind"] == "control"]
    expected_objectives = {r["parent_ref_id"] for r in expected_controls}
    assert (len(expected_controls), len(expected_objectives)) == (38, 10)

    controls = _requirements(ISO).filter(kind="control").select_related("parent")
    assert controls.count() == len(expected_controls)
    assert {c.parent.ref_id for c in controls} == expected_objectives
    assert {c.parent.kind for c in controls} == {"control_objective"}
    assert _requirements(ISO).filter(kind="control_objective").count() == len(expected_objectives)
    assert all(c.assessable for c in controls)

    loaded_rows = {r.ref_id: r for r in _requirements(ISO).select_related("parent")}
    for row in structure:
        requirement = loaded_rows[row["ref_id"]]
        assert requirement.title == row["title"]
        assert (requirement.parent.ref_id if requirement.parent else "") == row["parent_ref_id"]
        assert requirement.kind == ISO_KIND_CHANGES.get(row["ref_id"], row["kind"])
    assert set(loaded_rows) - {r["ref_id"] for r in structure} == ISO_ADDED
    assert {loaded_rows[ref].parent.ref_id for ref in ISO_ADDED} == {"6.1"}
    assessable = {ref for ref, r in loaded_rows.items() if r.assessable}
    assert assessable == {
        ref for ref, r in loaded_rows.items() if r.kind in ("control", "clause_requirement")
    }


def test_it_ships_iso_identifiers_and_titles_but_no_iso_text(loaded):
    rows = list(_requirements(ISO))
    assert rows
    assert all(r.text == "" for r in rows)
    assert all(r.description and r.description != r.title for r in rows)
    assert len({r.description for r in rows}) == len(rows)
    framework = Framework.objects.get(code=ISO[0], version=ISO[1])
    assert "descriptions © Verity contributors" in framework.licence


def test_it_loads_the_ai_rmf_core_with_nist_text(loaded):
    core = _reference("nist-ai-rmf-1.0_core.csv")
    categories = {r["category_id"]: r["category_text"] for r in core}
    assert (len({r["function_id"] for r in core}), len(categories), len(core)) == (4, 19, 72)

    requirements = _requirements(RMF).select_related("parent")
    subcategories = {r.ref_id: r for r in requirements.filter(kind="subcategory")}
    assert len(subcategories) == len(core)
    for row in core:
        subcategory = subcategories[row["subcategory_id"]]
        assert subcategory.text == row["subcategory_text"]
        assert subcategory.parent.ref_id == row["category_id"]
        assert subcategory.assessable
    loaded_categories = {r.ref_id: r for r in requirements.filter(kind="category")}
    assert {ref: r.text for ref, r in loaded_categories.items()} == categories
    assert {r.parent.kind for r in loaded_categories.values()} == {"function"}
    assert requirements.filter(kind="function").count() == 4


def test_it_loads_the_genai_profile_actions_and_risks(loaded):
    actions = _reference("ai-600-1-1.0-actions.csv")
    canonical = set()
    for row in actions:
        for label in row["gai_risks"].split("|"):
            label = _plain(label)
            canonical.update(GAI_RISK_LABELS.get(label, [label]))
    assert (len(actions), len(canonical)) == (212, 12)

    risks = _requirements(GAI).filter(kind="risk")
    assert set(risks.values_list("title", flat=True)) == canonical
    assert all(ref.startswith("GAI-RISK-") for ref in risks.values_list("ref_id", flat=True))

    loaded_actions = {r.ref_id: r for r in _requirements(GAI).filter(kind="action")}
    expected_ids = {row["action_id"].replace("GV4.3--001", "GV-4.3-001") for row in actions}
    assert set(loaded_actions) == expected_ids
    assert loaded_actions["GV-4.3-001"].attributes["id_as_printed"] == "GV4.3--001"
    risk_refs = set(risks.values_list("ref_id", flat=True))
    for row in actions:
        action = loaded_actions[row["action_id"].replace("GV4.3--001", "GV-4.3-001")]
        assert action.text == _plain(row["suggested_action"])
        assert not set(LIGATURES) & set(action.text + action.title)
        assert action.attributes["gai_risks"] and set(action.attributes["gai_risks"]) <= risk_refs
        assert action.attributes["ai_actor_tasks"]

    to_rmf = _mapping_pairs(GAI, RMF)
    assert to_rmf == {
        (row["action_id"].replace("GV4.3--001", "GV-4.3-001"), row["subcategory_id"]) for row in actions
    }
    to_risks = _mapping_pairs(GAI, GAI)
    assert to_risks == {
        (ref, risk) for ref, a in loaded_actions.items() for risk in a.attributes["gai_risks"]
    }
    assert {risk for _, risk in to_risks} == risk_refs


def test_it_loads_every_crosswalk_pair_with_both_endpoints(loaded):
    reference = _reference("nist-ai-rmf-1.0_to_iso-iec-42001_crosswalk_pairs.csv")
    expected = {(r["ai_rmf_subcategory"], r["iso42001_2023_ref"]) for r in reference}
    assert len(expected) == 280
    assert _mapping_pairs(RMF, ISO) == expected
    anomalies = RequirementMapping.objects.filter(source__framework__code=RMF[0]).exclude(rationale="")
    assert anomalies.count() == sum(1 for r in reference if r["notes"])


def test_it_loads_the_annex_iii_use_cases_under_eight_areas(loaded):
    reference = _reference("eu-ai-act-2024-1689_annex-iii_high-risk-use-cases.csv")
    assert (len(reference), len({r["area_no"] for r in reference})) == (25, 8)

    areas = _requirements(EU).filter(kind="annex_area").select_related("parent")
    assert areas.count() == 8
    assert {a.parent.ref_id for a in areas} == {"Annex III"}
    assert {a.attributes["inventory_area"] for a in areas} == set(AnnexIIIArea.values)
    points = _requirements(EU).filter(kind="annex_point").select_related("parent")
    assert points.count() == len(reference)
    by_source_ref = {p.attributes["ref_in_source"]: p for p in points}
    for row in reference:
        point = by_source_ref[row["ref"]]
        assert point.text == _plain(row["text"])
        assert point.parent.ref_id == f"Annex III({row['area_no']})"
        assert point.attributes["inventory_area"] == point.parent.attributes["inventory_area"]
        assert not point.assessable


def test_it_loads_the_eu_ai_act_articles_with_their_text(loaded):
    articles = {int(r["article"]): r for r in _reference("eu-ai-act-2024-1689_articles.csv")}
    numbers = [*range(9, 28), 50, 72, 73]
    loaded_articles = {r.ref_id: r for r in _requirements(EU).filter(kind="article")}
    assert set(loaded_articles) == {f"Art. {n}" for n in numbers}
    for number in numbers:
        article = loaded_articles[f"Art. {number}"]
        assert article.title == articles[number]["article_name"].strip()
        assert article.text == _plain(articles[number]["content"])
        assert article.assessable and article.description
    framework = Framework.objects.get(code=EU[0], version=EU[1])
    assert "© European Union" in framework.attribution


def test_it_maps_eu_ai_act_articles_to_existing_iso_items(loaded):
    rows = RequirementMapping.objects.filter(source__framework__code=EU[0], target__framework__code=ISO[0])
    assert 20 <= rows.count() <= 40
    assert all(m.rationale and m.provenance == "Verity mapping (2026)" for m in rows)
    assert {m.relationship for m in rows} <= {"intersect", "related", "subset"}
    assert ("Art. 12", "A.6.2.8") in _mapping_pairs(EU, ISO)


def test_it_changes_nothing_on_a_second_run(loaded):
    first = _snapshot()
    assert first["events"] > 0
    again = load_catalogs()
    assert _snapshot() == first
    for info in [*again["frameworks"].values(), *again["mappings"].values()]:
        assert info["created"] == info["updated"] == 0
        assert info["unchanged"] == info["rows"]
    assert {info["framework"] for info in again["frameworks"].values()} == {"unchanged"}


def test_it_answers_mappings_in_both_directions(loaded):
    govern = _requirements(RMF).get(ref_id="GOVERN 1.1")
    assert {"4.1", "6.2", "A.2.2", "A.2.4"} <= set(
        govern.mappings_out.values_list("target__ref_id", flat=True)
    )
    logs = _requirements(ISO).get(ref_id="A.6.2.8")
    sources = set(logs.mappings_in.values_list("source__framework__code", "source__ref_id"))
    assert {("eu-ai-act", "Art. 12"), ("eu-ai-act", "Art. 19")} <= sources
    assert any(code == "nist-ai-rmf" for code, _ in sources)


def test_it_writes_only_what_changed_and_adds_a_new_version_beside_the_old(loaded, tmp_path):
    root = tmp_path / "catalogs"
    shutil.copytree(CATALOG_ROOT / "nist-ai-rmf", root / "nist-ai-rmf")
    path = root / "nist-ai-rmf" / "1.0" / "requirements.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace(",Govern,", ",Govern (edited),", 1), encoding="utf-8"
    )
    shutil.copytree(root / "nist-ai-rmf" / "1.0", root / "nist-ai-rmf" / "1.1")
    meta = root / "nist-ai-rmf" / "1.1" / "framework.json"
    meta.write_text(meta.read_text(encoding="utf-8").replace('"1.0"', '"1.1"'), encoding="utf-8")
    events = ChangeEvent.objects.count()

    result = load_catalogs(root)

    assert result["frameworks"]["nist-ai-rmf:1.0"]["updated"] == 1
    assert result["frameworks"]["nist-ai-rmf:1.0"]["framework"] == "updated"  # loaded_from moved
    assert result["frameworks"]["nist-ai-rmf:1.1"]["created"] == 95
    assert _requirements(RMF).get(ref_id="GOVERN").title == "Govern (edited)"
    assert _requirements(("nist-ai-rmf", "1.1")).filter(kind="subcategory").count() == 72
    assert _mapping_pairs(RMF, ISO), "the old version keeps its mappings"
    assert ChangeEvent.objects.count() == events + 1 + 1 + 1 + 95


def _write_catalog(root, rows, mappings=None):
    folder = root / "demo" / "1"
    folder.mkdir(parents=True)
    (folder / "framework.json").write_text(
        '{"code": "demo", "version": "1", "name": "Demo", "short_name": "Demo", '
        '"publisher": "Us", "licence": "CC0-1.0"}',
        encoding="utf-8",
    )
    header = "ref_id,parent_ref_id,kind,title,text,description,order,assessable,attributes\n"
    (folder / "requirements.csv").write_text(header + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    if mappings:
        (root / "mappings").mkdir()
        (root / "mappings" / "demo.csv").write_text(
            "source_framework,source_version,source_ref,target_framework,target_version,target_ref,"
            "relationship,provenance,rationale\n" + "".join(f"{m}\n" for m in mappings),
            encoding="utf-8",
        )


@pytest.mark.parametrize(
    ("rows", "mappings", "where", "message"),
    [
        (
            ["A,,clause,Alpha,,,1,false,{}", "B,A,paragraph,Beta,,,2,true,{}"],
            None,
            r"requirements\.csv:3",
            "unknown kind 'paragraph'",
        ),
        (
            ["A,,clause,Alpha,,,1,false,{}", "B,Z,control,Beta,,,2,true,{}"],
            None,
            r"requirements\.csv:3",
            "unknown parent",
        ),
        (
            ["A,,clause,Alpha,,,1,false,{}", "A,,clause,Again,,,2,false,{}"],
            None,
            r"requirements\.csv:3",
            "duplicate ref_id 'A'",
        ),
        (
            ["A,,clause,Alpha,,,1,false,{}", 'B,A,control,"Beta,\nwrapped",,,2,maybe,{}'],
            None,
            r"requirements\.csv:3",
            "assessable",
        ),
        (["A,,clause,Alpha,,,1,false,[1]"], None, r"requirements\.csv:2", "JSON object"),
        (
            ["A,,clause,Alpha,,,1,false,{}", "B,A,control,Beta,,,2,true,{}"],
            ["demo,1,A,demo,1,B,related,Test,", "demo,1,A,demo,1,C,related,Test,"],
            r"demo\.csv:3",
            "unknown target requirement demo 1 'C'",
        ),
        (
            ["A,,clause,Alpha,,,1,false,{}"],
            ["demo,1,A,other,9,X,related,Test,"],
            r"demo\.csv:2",
            "unknown target framework",
        ),
    ],
)
def test_it_rejects_a_bad_catalog_naming_file_and_line(db, tmp_path, rows, mappings, where, message):
    _write_catalog(tmp_path, rows, mappings)
    with pytest.raises(CatalogError, match=rf"{where}: .*{re.escape(message)}"):
        load_catalogs(root=tmp_path)
    assert not Framework.objects.filter(code="demo").exists(), "nothing is written from a bad catalog"


def test_it_reports_counts_from_the_command(db, capsys):
    call_command("load_catalogs")
    out = capsys.readouterr().out
    assert "ISO/IEC 42001:2023 [iso-iec-42001:2023, framework created]: 92 requirements" in out
    assert "38 control" in out and "10 control objective" in out
    call_command("load_catalogs")
    out = capsys.readouterr().out
    assert "created 0, updated 0, unchanged 280" in out
