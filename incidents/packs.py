"""The incident sections of an evidence pack, registered with governance's pack registry in
``IncidentsConfig.ready()``: incidents with their timelines, hallucination findings and
evaluation runs, read through ``visible_to(user)`` and limited to the pack's systems and period;
and the incident parts of ``report.html``, computed with aggregate queries: incidents per month by
severity, serious incidents with their Art. 73 reporting clock, and the hallucination rate of the
latest evaluation run per system and benchmark against its limit."""

from __future__ import annotations

from django.db.models import Case, CharField, Count, F, Func, Q, Value, When
from django.db.models.functions import TruncMonth

from governance.admin.charts import percent
from governance.packs import MAX_REPORT_ROWS, PackScope, ReportPart, register_report_part, register_section
from governance.packs.audit_log import register_event_scope
from governance.packs.tables import QueryRows
from incidents.choices import ReportState, Severity
from incidents.models import EvaluationRun, HallucinationFinding, Incident, TimelineEntry

REPORT_MONTHS = 36


# An incident's Art. 3(49) grounds in one CSV cell or report column: the values joined with "; ",
# in the order they are stored (``SeriousIncidentGround``'s).
GROUNDS_TEXT = "serious_grounds_text"


def _with_grounds_text(queryset):
    return queryset.annotate(
        **{
            GROUNDS_TEXT: Func(
                F("serious_grounds"), Value("; "), function="array_to_string", output_field=CharField()
            )
        }
    )


def _period(scope: PackScope, field: str) -> Q:
    condition = Q()
    if scope.start:
        condition &= Q(**{f"{field}__date__gte": scope.start})
    if scope.end:
        condition &= Q(**{f"{field}__date__lte": scope.end})
    return condition


def incidents(scope: PackScope):
    selected = (
        Incident.objects.visible_to(scope.user)
        .filter(system__in=scope.system_queryset())
        .filter(_period(scope, "occurred_at"))
    )
    fields = [
        "id", "reference", "system__slug", "team__slug", "title", "description", "occurred_at", "detected_at",
        "became_aware_at", "source", "external_id", "severity", "status", "harm_level", "is_serious",
        "serious_grounds", "widespread_infringement", "report_due_at", "report_due_rule",
        "initial_report_sent_at", "complete_report_sent_at", "authority_reference", "report_state",
        "respond_by", "responded_at", "respond_state", "resolve_by", "resolved_at", "resolve_state",
    ]  # fmt: skip
    rows = _with_grounds_text(selected.with_clocks(scope.moment()).order_by("id"))
    columns = [GROUNDS_TEXT if field == "serious_grounds" else field for field in fields]
    yield "incidents/incidents.csv", QueryRows(rows, columns, header=fields)
    timeline = TimelineEntry.objects.visible_to(scope.user).filter(incident__in=selected.values("pk"))
    fields = ["id", "incident_id", "incident__reference", "kind", "at", "author__username", "author_label"]
    fields.append("body")
    yield "incidents/timeline.csv", QueryRows(timeline.order_by("incident_id", "at", "id"), fields)


def hallucination_findings(scope: PackScope):
    selected = (
        HallucinationFinding.objects.visible_to(scope.user)
        .filter(system__in=scope.system_queryset())
        .filter(_period(scope, "created_at"))
    )
    fields = [
        "id", "run_id", "system__slug", "team__slug", "model_name", "model_version", "benchmark_name",
        "sample_id", "claim", "reference", "kind", "subtype", "grade", "detector_score", "severity", "status",
        "created_at",
    ]  # fmt: skip
    yield "incidents/hallucination_findings.csv", QueryRows(selected.order_by("id"), fields)


def evaluation_runs(scope: PackScope):
    selected = (
        EvaluationRun.objects.visible_to(scope.user)
        .filter(system__in=scope.system_queryset())
        .filter(_period(scope, "created_at"))
    )
    fields = [
        "id", "system__slug", "model_name", "model_version", "benchmark_name", "benchmark_version",
        "task_kind", "judge_kind", "judge_name", "samples", "attempted", "abstained", "correct",
        "hallucinated", "rate_basis", "hallucination_rate", "interval_low", "interval_high", "limit_rate",
        "exceeded_limit", "code_commit", "started_at", "finished_at", "created_at",
    ]  # fmt: skip
    yield "incidents/evaluation_runs.csv", QueryRows(selected.order_by("id"), fields)


# --- report.html parts ----------------------------------------------------------------------------


def _scoped_incidents(scope: PackScope):
    return (
        Incident.objects.visible_to(scope.user)
        .filter(system__in=scope.system_queryset())
        .filter(_period(scope, "occurred_at"))
    )


def incidents_by_month(scope: PackScope) -> ReportPart:
    """Incidents per month of occurrence and severity (the last ``REPORT_MONTHS`` months with any)."""
    counts: dict = {}
    aggregated = (
        _scoped_incidents(scope)
        .order_by()
        .annotate(month=TruncMonth("occurred_at"))
        .values_list("month", "severity")
        .annotate(n=Count("id"))
        .values_list("month", "severity", "n")
    )
    for month, severity, n in aggregated:
        counts.setdefault(month.strftime("%Y-%m"), {})[severity] = n
    months = sorted(counts)
    total = sum(sum(by.values()) for by in counts.values())
    shown = months[-REPORT_MONTHS:]
    severities = [s.value for s in Severity]
    note = (
        f" (the last {len(shown)} of {len(months)} months with incidents shown)"
        if len(shown) < len(months)
        else ""
    )
    return ReportPart(
        heading="Incidents per month by severity",
        text=f"{total} incidents occurred in the period{note}.",
        header=("month", *severities, "total"),
        rows=tuple((m, *(counts[m].get(s, 0) for s in severities), sum(counts[m].values())) for m in shown),
        chart={
            "title": "Incidents per month by severity",
            "categories": shown,
            "series": [(s, [counts[m].get(s, 0) for m in shown]) for s in severities],
        },
    )


# Most urgent first.
_CLOCK_STATES = (
    ReportState.OVERDUE,
    ReportState.DUE_SOON,
    ReportState.ON_TRACK,
    ReportState.REPORTED_LATE,
    ReportState.REPORTED_ON_TIME,
    ReportState.NO_DEADLINE,
)


def serious_incidents(scope: PackScope) -> ReportPart:
    """Serious incidents (Art. 73) by the state of their reporting clock, the most urgent listed."""
    rank = Case(*(When(report_state=state.value, then=Value(i)) for i, state in enumerate(_CLOCK_STATES)))
    serious = _scoped_incidents(scope).filter(is_serious=True).with_clocks(scope.moment())
    by_state = serious.order_by().values_list("report_state").annotate(n=Count("id"))
    counts = dict(by_state.values_list("report_state", "n"))
    total = sum(counts.values())
    listed = _with_grounds_text(serious.annotate(rank=rank)).order_by("rank", "report_due_at", "id")
    rows = listed[:MAX_REPORT_ROWS].values_list(
        "reference", "system__slug", GROUNDS_TEXT, "report_due_rule", "report_due_at",
        "initial_report_sent_at", "report_state",
    )  # fmt: skip
    states = [s for s in _CLOCK_STATES if counts.get(s.value)]
    shown = f"; the {MAX_REPORT_ROWS} most urgent are listed" if total > MAX_REPORT_ROWS else ""
    summary = ", ".join(f"{counts[s.value]} {s.label}" for s in states) or "none"
    return ReportPart(
        heading="Serious incidents and their reporting clock",
        text=f"{total} serious incidents (EU AI Act Art. 73): {summary}{shown}.",
        header=("reference", "system", "grounds", "rule", "report due", "initial report sent", "clock"),
        rows=tuple((*row[:-1], ReportState(row[-1]).label) for row in rows),
        chart={
            "title": "Serious incidents by reporting clock state",
            "categories": [s.label for s in states],
            "series": [("serious incidents", [counts[s.value] for s in states])],
        },
    )


def hallucination_rates(scope: PackScope) -> ReportPart:
    """The hallucination rate of the latest evaluation run per system and benchmark, with its limit."""
    runs = (
        EvaluationRun.objects.visible_to(scope.user)
        .filter(system__in=scope.system_queryset())
        .filter(_period(scope, "created_at"))
        .order_by("system_id", "benchmark_name", "-created_at", "-id")
        .distinct("system_id", "benchmark_name")
    )
    total = runs.count()
    rows = list(
        runs.values_list(
            "system__slug", "benchmark_name", "model_version", "created_at", "hallucination_rate",
            "interval_low", "interval_high", "limit_rate", "exceeded_limit",
        )[:MAX_REPORT_ROWS]
    )  # fmt: skip
    shown = f" (the first {len(rows)} shown)" if total > len(rows) else ""
    categories = [f"{slug} · {benchmark}" for slug, benchmark, *_ in rows]
    return ReportPart(
        heading="Hallucination rate of the latest evaluation run",
        text=f"The latest run per system and benchmark in the period: {total}{shown}.",
        header=(
            "system",
            "benchmark",
            "model version",
            "run at",
            "rate",
            "95 % interval",
            "limit",
            "over limit",
        ),
        rows=tuple(
            (
                slug,
                bench,
                version,
                at,
                percent(rate),
                "—" if low is None else f"{percent(low)} – {percent(high)}",
                percent(limit),
                "yes" if over else "no",
            )
            for slug, bench, version, at, rate, low, high, limit, over in rows
        ),  # fmt: skip
        chart={
            "title": "Hallucination rate of the latest run, with its limit",
            "categories": categories,
            "series": [
                ("within limit", [None if row[8] else row[4] for row in rows]),
                ("over limit", [row[4] if row[8] else None for row in rows]),
            ],
            "percent": True,
            "markers": [row[7] for row in rows],
            "marker_label": "limit",
        },
    )


def register() -> None:
    register_section("incidents", incidents)
    register_section("hallucination_findings", hallucination_findings)
    register_section("evaluation_runs", evaluation_runs)
    register_report_part("incidents_by_month", incidents_by_month)
    register_report_part("serious_incidents", serious_incidents)
    register_report_part("hallucination_rates", hallucination_rates)
    register_event_scope("incidents_incident", _incidents_in_scope)


def _incidents_in_scope(scope: PackScope):
    """The incidents whose audit events a reader with a partial view gets in ``audit_log.jsonl``."""
    return Incident.objects.visible_to(scope.user).filter(system__in=scope.system_queryset()).values("pk")
