"""report.html and report.pdf of an evidence pack: parts with counts and SVG charts, escaping, the PDF."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.packs import PackScope, ReportPart, register_report_part, registered_report_parts, report
from tests.factories import (
    AISystemFactory,
    ControlFactory,
    ControlImplementationFactory,
    IndicatorSetFactory,
    ReviewFactory,
    TransparencyAssessmentFactory,
)
from tests.governance.pack_helpers import build_and_extract, run_verify

pytestmark = pytest.mark.usefixtures("evidence_dir")

TODAY = datetime.date.today()
SCRIPT = "<script>alert(1)</script>"


def sections(document: str) -> dict[str, str]:
    """Each ``<section>`` of the report by its heading."""
    return {
        heading: body
        for heading, body in re.findall(r"<section><h2>(.*?)</h2>(.*?)</section>", document, flags=re.S)
    }


def table(fragment: str) -> list[list[str]]:
    """The rows of the first table in ``fragment`` as lists of cell texts (header first)."""
    body = re.search(r"<table>(.*?)</table>", fragment, flags=re.S).group(1)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


@pytest.fixture
def seeded(iso):
    now = timezone.now()
    risky = AISystemFactory(name=SCRIPT, risk_tier="high", eu_ai_act_class="high_risk")
    other_risky = AISystemFactory(risk_tier="high", eu_ai_act_class="high_risk")
    small = AISystemFactory(risk_tier="low", eu_ai_act_class="minimal")
    control = ControlFactory(title=SCRIPT, requirements=[iso.req["A.2.2"], iso.req["A.2.3"]])
    ControlImplementationFactory(control=control, system=None, status="implemented")
    ReviewFactory(system=risky, status="scheduled", due_at=now - datetime.timedelta(days=2))
    ReviewFactory(system=other_risky, status="overdue", due_at=now - datetime.timedelta(days=5))
    ReviewFactory(system=small, status="overdue", due_at=now - datetime.timedelta(days=6))
    ReviewFactory(
        system=risky, status="waived", waived_reason="old", due_at=now - datetime.timedelta(days=400)
    )
    indicators = IndicatorSetFactory(key="fmti-2025")
    TransparencyAssessmentFactory(
        indicator_set=indicators, system=risky, assessed_on=TODAY - datetime.timedelta(days=40), score=40
    )
    TransparencyAssessmentFactory(
        indicator_set=indicators, system=risky, assessed_on=TODAY, score=Decimal("72.50")
    )
    return risky


@pytest.mark.django_db
def test_it_registers_governance_report_parts():
    report.register()
    assert {"coverage", "systems", "reviews", "transparency"} <= set(registered_report_parts())


@pytest.mark.django_db
def test_it_writes_tables_and_charts_with_the_counts_of_the_scope(tmp_path, seeded, iso, auditor):
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    document = (folder / "report.html").read_text()
    parts = sections(document)

    coverage = table(parts["Framework coverage"])
    assert coverage[0][:4] == ["framework", "scope", "Covered", "Needs evidence"]
    assert coverage[1][:3] == ["iso-iec-42001 2023", "organisation", "2"]
    assert coverage[1][6] == "4"  # the other four assessable requirements are gaps
    assert "<svg" in parts["Framework coverage"]

    systems = table(parts["AI systems by risk tier and EU AI Act class"])
    assert systems == [
        ["risk tier", "high_risk", "minimal", "total"],
        ["Low", "0", "1", "1"],
        ["High", "2", "0", "2"],
    ]
    reviews = table(parts["Reviews due in the period"])
    # The scheduled review two days past its due date is overdue, as the review list says, before
    # the scan has marked it; the waived one is outside the period.
    assert reviews[1:] == [["overdue", "3"]]
    transparency = table(parts["Transparency scores"])
    assert transparency[1:] == [[
        "&lt;script&gt;alert(1)&lt;/script&gt;", "fmti-2025", TODAY.isoformat(), "draft", "72.50 %"
    ]]  # fmt: skip

    assert document.count("<svg") >= 4
    assert {"Audit chain head", "Audit chain segment"} <= set(parts)
    assert "files)" in document  # folders are summarised, manifest.json lists every file
    assert any(e["path"] == "report.html" for e in manifest["files"])


@pytest.mark.django_db
def test_it_escapes_names_in_tables_and_charts(tmp_path, seeded, iso, auditor):
    _manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    document = (folder / "report.html").read_text()
    assert "<script" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    chart = re.search(
        r"<svg class=\"bar-chart\"[^>]*aria-label=\"Latest transparency.*?</svg>", document, re.S
    )
    assert "&lt;script&gt;" in chart.group(0)


@pytest.mark.django_db
def test_it_escapes_what_a_registered_part_returns(tmp_path, auditor, monkeypatch):
    monkeypatch.setattr("governance.packs._REPORT_PARTS", dict(registered_report_parts()))
    register_report_part(
        "hostile",
        lambda scope: ReportPart(
            heading=SCRIPT,
            text=SCRIPT,
            header=(SCRIPT,),
            rows=((SCRIPT,),),
            chart={"title": SCRIPT, "categories": [SCRIPT], "series": [(SCRIPT, [1])]},
        ),
    )
    _manifest, folder = build_and_extract(tmp_path, auditor)
    document = (folder / "report.html").read_text()
    assert "<script" not in document
    assert document.count("&lt;script&gt;") >= 5


def _weasyprint_libraries_missing() -> bool:
    """Only the system libraries may be missing: WeasyPrint itself is a declared dependency, so an
    ImportError fails the test below instead of skipping it."""
    try:
        import weasyprint  # noqa: F401
    except OSError:
        return True
    return False


@pytest.mark.django_db
@pytest.mark.skipif(_weasyprint_libraries_missing(), reason="Pango/HarfBuzz are not installed here")
def test_it_renders_report_pdf_and_lists_it_in_the_manifest(tmp_path, seeded, iso, auditor):
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    pdf = (folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 5000
    assert "report.pdf" in {e["path"] for e in manifest["files"]}
    assert run_verify(folder).stdout.strip() == "OK"
    assert "report.pdf" in (folder / "README.txt").read_text()


@pytest.mark.django_db
def test_a_failing_pdf_renderer_leaves_the_pack_without_report_pdf(
    tmp_path, seeded, iso, auditor, monkeypatch
):
    def broken(document):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(report, "_render_pdf", broken)
    manifest, folder = build_and_extract(tmp_path, auditor, frameworks=[iso.framework])
    assert not (folder / "report.pdf").exists()
    assert "report.pdf" not in {e["path"] for e in manifest["files"]}
    assert (folder / "report.html").exists()
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "OK"


@pytest.mark.django_db
def test_it_counts_with_aggregate_queries_whatever_the_number_of_systems(
    tmp_path, iso, auditor, django_assert_max_num_queries
):
    AISystemFactory.create_batch(60, risk_tier="medium", eu_ai_act_class="limited")
    scope = PackScope(frameworks=(iso.framework,), user=auditor, end=TODAY)
    report.register()
    with django_assert_max_num_queries(12):
        built = [report.GOVERNANCE_PARTS[name](scope) for name in report.GOVERNANCE_PARTS]
    systems = built[1]
    assert systems.rows == (("Medium", 60, 60),)


def test_warming_up_the_pdf_renderer_never_raises(monkeypatch, caplog):
    def broken(document):
        raise OSError("no fonts")

    monkeypatch.setattr(report, "_render_pdf", broken)
    report.warm_up()
    assert "could not be loaded" in caplog.text
