"""The incident sections of an evidence pack, registered with governance's pack registry in
``IncidentsConfig.ready()``: incidents with their timelines, hallucination findings and
evaluation runs, read through ``visible_to(user)`` and limited to the pack's systems and period."""

from __future__ import annotations

from django.db.models import Q

from governance.packs import PackScope, register_section
from incidents.models import EvaluationRun, HallucinationFinding, Incident, TimelineEntry


def _rows(queryset, fields: list[str]):
    yield fields
    yield from queryset.values_list(*fields).iterator(chunk_size=2000)


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
        "source", "external_id", "severity", "status", "harm_level", "is_serious", "serious_ground",
        "report_due_at", "initial_report_sent_at", "complete_report_sent_at", "responded_at", "resolved_at",
    ]  # fmt: skip
    yield "incidents/incidents.csv", _rows(selected.order_by("id"), fields)
    timeline = TimelineEntry.objects.visible_to(scope.user).filter(incident__in=selected.values("pk"))
    fields = ["id", "incident_id", "incident__reference", "kind", "at", "author__username", "author_label"]
    fields.append("body")
    yield "incidents/timeline.csv", _rows(timeline.order_by("incident_id", "at", "id"), fields)


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
    yield "incidents/hallucination_findings.csv", _rows(selected.order_by("id"), fields)


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
    yield "incidents/evaluation_runs.csv", _rows(selected.order_by("id"), fields)


def register() -> None:
    register_section("incidents", incidents)
    register_section("hallucination_findings", hallucination_findings)
    register_section("evaluation_runs", evaluation_runs)
