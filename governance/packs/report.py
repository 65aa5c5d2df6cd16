"""``report.html`` of an evidence pack, and ``report.pdf`` where WeasyPrint can render it.

The report is the pack's parameters, then the registered report parts (governance's own first:
framework coverage, systems by risk tier and EU AI Act class, reviews by status, transparency
scores; then those other apps register, such as incidents'), then the audit chain head and
segment and a summary of the files. Every part is computed with aggregate queries and has a
bounded size, so the report costs the same for ten incidents or a million. Every value is escaped;
the charts are inline SVG drawn on the server, so the report renders offline.
"""

from __future__ import annotations

import datetime
import html
import json
import logging
import threading
from collections.abc import Iterable

from django.db.models import Count
from django.utils import timezone

from governance import choices
from governance.admin.charts import bar_chart_svg
from governance.models import TransparencyAssessment
from governance.packs import (
    MAX_REPORT_ROWS,
    PackScope,
    ReportPart,
    register_report_part,
    registered_report_parts,
    sections,
)
from governance.services import coverage

logger = logging.getLogger(__name__)

STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #1f2328; margin: 1.5em; }
@media print { body { margin: 0; } }
h1 { font-size: 18pt; } h2 { font-size: 13pt; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #d0d7de; padding: 2px 6px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f6f8fa; } td.n { text-align: right; }
code { font-size: 8pt; word-break: break-all; }
svg { width: 100%; max-width: 860px; height: auto; display: block; }
section { page-break-inside: avoid; }
p.note { color: #57606a; }
"""


SHORT_STATES = {
    "covered": "covered",
    "needs_evidence": "needs evidence",
    "covered_via_crosswalk": "via crosswalk",
    "partial_via_crosswalk": "partly via crosswalk",
    "gap": "gap",
    "not_applicable": "not applicable",
}


# --- Governance's parts --------------------------------------------------------------------------


def coverage_part(scope: PackScope) -> ReportPart | None:
    """Requirements per coverage state, for each framework (and each listed system)."""
    if not scope.frameworks:
        return None
    targets = list(scope.system_queryset()[:MAX_REPORT_ROWS]) if scope.systems else [None]
    states = list(coverage.STATES)
    rows, categories = [], []
    for framework in scope.frameworks:
        for system in targets:
            cov_scope = coverage.Scope(system=system, team=None if system else scope.team)
            summary = coverage.coverage_summary(framework=framework, scope=cov_scope, today=scope.end)
            name = f"{framework.code} {framework.version}"
            rows.append(
                (
                    name,
                    summary["scope"],
                    *(summary["counts"][s] for s in states),
                    f"{summary['percentages']['covered']} %",
                )
            )
            categories.append(f"{name} · {system.slug}" if system else name)
            if len(rows) >= MAX_REPORT_ROWS:
                break
    series = [(SHORT_STATES[s], [row[2 + i] for row in rows]) for i, s in enumerate(states)]
    return ReportPart(
        heading="Framework coverage",
        text="Assessable requirements per coverage state (coverage/ holds each requirement).",
        header=("framework", "scope", *(coverage.STATE_LABELS[s] for s in states), "covered"),
        rows=tuple(rows),
        chart={"title": "Requirements per coverage state", "categories": categories, "series": series},
    )


def systems_part(scope: PackScope) -> ReportPart:
    """Systems in scope by risk tier (rows) and EU AI Act class (columns)."""
    counts = {
        (tier, eu_class): n
        for tier, eu_class, n in scope.system_queryset()
        .order_by()
        .values_list("risk_tier", "eu_ai_act_class")
        .annotate(n=Count("id"))
        .values_list("risk_tier", "eu_ai_act_class", "n")
    }
    tiers = [t for t in choices.RiskTier.values if any(k[0] == t for k in counts)]
    classes = [c for c in choices.EUAIActClass.values if any(k[1] == c for k in counts)]
    rows = [
        (choices.RiskTier(t).label, *(counts.get((t, c), 0) for c in classes), sum(
            counts.get((t, c), 0) for c in classes
        ))
        for t in tiers
    ]  # fmt: skip
    return ReportPart(
        heading="AI systems by risk tier and EU AI Act class",
        text=f"{sum(counts.values())} systems in scope.",
        header=("risk tier", *classes, "total"),
        rows=tuple(rows),
        chart={
            "title": "Systems by risk tier and EU AI Act class",
            "categories": [choices.RiskTier(t).label for t in tiers],
            "series": [(c, [counts.get((t, c), 0) for t in tiers]) for c in classes],
        },
    )


def reviews_part(scope: PackScope) -> ReportPart:
    """Reviews due in the period, by due state as of the pack's moment (the ``due_state`` column of
    ``reviews.csv``): an open review past its due date counts as overdue whatever its stored status."""
    queryset = sections.reviews_in_scope(scope)
    by_state = queryset.order_by().values_list("due_state").annotate(n=Count("id"))
    counts = dict(by_state.values_list("due_state", "n"))
    states = [s for s in choices.ReviewDueState if counts.get(s.value)]
    return ReportPart(
        heading="Reviews due in the period",
        text=f"{sum(counts.values())} reviews by due state.",
        header=("due state", "reviews"),
        rows=tuple((s.label, counts[s.value]) for s in states),
        chart={
            "title": "Reviews by due state",
            "categories": [s.label for s in states],
            "series": [("reviews", [counts[s.value] for s in states])],
        },
    )


def transparency_part(scope: PackScope) -> ReportPart:
    """The latest transparency assessment of each system in scope per indicator set."""
    queryset = TransparencyAssessment.objects.visible_to(scope.user).filter(
        system__in=scope.system_queryset()
    )
    if scope.end:
        queryset = queryset.filter(assessed_on__lte=scope.end)
    latest = queryset.order_by("system_id", "indicator_set_id", "-assessed_on", "-id").distinct(
        "system_id", "indicator_set_id"
    )
    total = latest.count()
    rows = list(
        latest.values_list("system__name", "indicator_set__key", "assessed_on", "status", "score")[
            :MAX_REPORT_ROWS
        ]
    )
    shown = f" (the first {len(rows)} shown)" if total > len(rows) else ""
    return ReportPart(
        heading="Transparency scores",
        text=f"The latest assessment of each system per indicator set: {total}{shown}.",
        header=("system", "indicator set", "assessed on", "status", "score"),
        rows=tuple((s, k, d, st, "—" if sc is None else f"{sc} %") for s, k, d, st, sc in rows),
        chart={
            "title": "Latest transparency score per system",
            "categories": [f"{s} · {k}" for s, k, *_ in rows],
            "series": [("score", [None if sc is None else float(sc) / 100 for *_, sc in rows])],
            "percent": True,
        },
    )


GOVERNANCE_PARTS = {
    "coverage": coverage_part,
    "systems": systems_part,
    "reviews": reviews_part,
    "transparency": transparency_part,
}


def register() -> None:
    for name, builder in GOVERNANCE_PARTS.items():
        register_report_part(name, builder)


# --- Rendering -----------------------------------------------------------------------------------


def _parts(scope: PackScope) -> Iterable[ReportPart]:
    registered = registered_report_parts()
    names = [n for n in GOVERNANCE_PARTS if n in registered]
    names += [n for n in registered if n not in GOVERNANCE_PARTS]
    for name in names:
        built = registered[name](scope)
        if built is None:
            continue
        yield from [built] if isinstance(built, ReportPart) else built


class Code(str):
    """A cell shown as code, broken anywhere (hashes)."""


def _cell(value) -> str:
    if isinstance(value, Code):
        return f"<td><code>{html.escape(value)}</code></td>"
    if value is None:
        text = "—"
    elif isinstance(value, datetime.datetime):
        text = value.isoformat(timespec="minutes")
    else:
        text = str(value)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f"<td class='n'>{html.escape(text)}</td>" if numeric else f"<td>{html.escape(text)}</td>"


def _table(header: Iterable, rows: Iterable[Iterable]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _chart(spec: dict) -> str:
    categories = [str(c) for c in spec["categories"]][:MAX_REPORT_ROWS]
    series = [(str(name), list(values)[: len(categories)]) for name, values in spec["series"]]
    markers = spec.get("markers")
    # bar_chart_svg escapes every string it is given (format_html).
    return str(
        bar_chart_svg(
            categories,
            series,
            title=str(spec.get("title", "")),
            stacked=spec.get("stacked", True),
            percent_values=spec.get("percent", False),
            markers=list(markers)[: len(categories)] if markers else None,
            marker_label=str(spec.get("marker_label", "limit")),
        )
    )


def _part_html(part: ReportPart) -> str:
    out = [f"<section><h2>{html.escape(part.heading)}</h2>"]
    if part.text:
        out.append(f"<p>{html.escape(part.text)}</p>")
    if part.chart and part.chart.get("categories"):
        out.append(_chart(part.chart))
    if part.header:
        out.append(_table(part.header, list(part.rows)[:MAX_REPORT_ROWS]))
    elif not part.chart:
        out.append("<p class='note'>Nothing in scope.</p>")
    out.append("</section>")
    return "".join(out)


def _files(writer) -> str:
    """Top-level files one by one; each folder as one line (manifest.json lists every file)."""
    folders: dict[str, list[int]] = {}
    top = []
    for entry in writer.entries:
        path = entry["path"]
        rows = writer.rows.get(path)
        if "/" in path:
            folder = folders.setdefault(path.split("/", 1)[0] + "/", [0, 0, 0])
            folder[0] += 1
            folder[1] += rows or 0
            folder[2] += entry["size"]
        else:
            top.append((path, "" if rows is None else rows, entry["size"], Code(entry["sha256"])))
    rows = [
        *top,
        *(
            (f"{name} ({n} files)", r or "", size, "see manifest.json")
            for name, (n, r, size) in folders.items()
        ),
    ]
    return _table(("file", "rows", "bytes", "SHA-256"), rows)


def _hash(key: str, value):
    return Code(value) if key.endswith("hash") and isinstance(value, str) else value


def summary_html(scope: PackScope, parameters: dict, head: dict, generated_at: datetime.datetime) -> str:
    """The report's summary: parameters, every registered part and the audit chain head.

    It depends on nothing written into the pack, so ``report.pdf`` can be rendered from it while
    the files are being written."""
    esc = html.escape
    params = "".join(
        f"<tr><th>{esc(key)}</th><td>{esc(json.dumps(value))}</td></tr>" for key, value in parameters.items()
    )
    parts = "".join(_part_html(part) for part in _parts(scope))
    return (
        f"<h1>Verity evidence pack</h1><p>Generated {esc(generated_at.isoformat())}. "
        "manifest.json lists every file with its SHA-256; verify.py checks them.</p>"
        f"<h2>Parameters</h2><table>{params}</table>"
        f"{parts}"
        f"<section><h2>Audit chain head</h2>{_chain_table('head', head)}</section>"
    )


def _chain_table(prefix: str, values: dict) -> str:
    return _table(("", "value"), [(f"{prefix} {k}", _hash(k, v)) for k, v in values.items()])


# report.html is opened from a folder, with no server to send a Content-Security-Policy: it carries
# its own. The report runs no script and loads nothing; its charts are inline SVG.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _document(body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{POLICY}\"><title>Verity evidence pack</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def pdf_document(summary: str) -> str:
    """What ``report.pdf`` shows: the summary (the segment and the files are in report.html)."""
    return _document(
        summary + "<p class='note'>The audit chain segment of this pack and the list of its files are in "
        "report.html; manifest.json lists every file with its SHA-256.</p>"
    )


def render_html(summary: str, chain: dict, writer) -> str:
    """``report.html``: the summary, the audit chain segment in the pack and its files."""
    segment = chain.get("segment") or {}
    segment_html = (
        _chain_table("segment", segment)
        if segment
        else "<p class='note'>No audit chain segment in this pack.</p>"
    )
    return _document(
        summary + f"<section><h2>Audit chain segment</h2>{segment_html}</section>"
        f"<h2>Files</h2>{_files(writer)}"
        "<p class='note'>report.pdf, when present, is this report's summary as PDF.</p>"
    )


# --- PDF -----------------------------------------------------------------------------------------


def weasyprint_module():
    """WeasyPrint, or ``None`` when it or its system libraries (Pango, HarfBuzz…) are missing."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        logger.info("report.pdf skipped: WeasyPrint is not available (%s)", exc)
        return None
    return weasyprint


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the evidence pack report loads nothing from elsewhere ({url[:80]!r})")


def _render_pdf(document: str) -> bytes:
    weasyprint = weasyprint_module()
    if weasyprint is None:
        return b""
    return weasyprint.HTML(string=document, url_fetcher=_no_fetch).write_pdf()


def render_pdf(document: str) -> bytes | None:
    """``document`` as PDF, or ``None`` when it cannot be rendered here (never raises)."""
    started = timezone.now()
    try:
        pdf = _render_pdf(document)
    except Exception:
        logger.exception("report.pdf could not be rendered; the pack is written without it")
        return None
    if not pdf:
        return None
    logger.info("report.pdf rendered in %.1f s", (timezone.now() - started).total_seconds())
    return pdf


class BackgroundPdf:
    """Renders ``document`` to PDF in a thread while the pack's files are written.

    The rendering holds no database connection and shares nothing with the writer; ``result()``
    waits for it."""

    def __init__(self, document: str):
        self._pdf: bytes | None = None
        self._thread = threading.Thread(
            target=self._run, args=(document,), name="pack-report-pdf", daemon=True
        )
        self._thread.start()

    def _run(self, document: str) -> None:
        self._pdf = render_pdf(document)

    def result(self) -> bytes | None:
        self._thread.join()
        return self._pdf


def warm_up() -> None:
    """Load WeasyPrint and its fonts once (a worker does this when it starts), so that no pack
    pays for them. Never raises: a pack then simply has no report.pdf."""
    started = timezone.now()
    try:
        loaded = bool(_render_pdf(_document("<p>Verity</p>")))
    except Exception:
        logger.exception("The PDF renderer could not be loaded; packs will have no report.pdf")
        return
    if loaded:
        logger.info("PDF renderer loaded in %.1f s", (timezone.now() - started).total_seconds())
