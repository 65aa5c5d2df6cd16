"""Governance's own sections of an evidence pack, all read through ``visible_to(user)``."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.core.files.storage import storages
from django.db.models import Q

from governance.models import (
    Control,
    ControlImplementation,
    Evidence,
    Review,
    Risk,
    TransparencyAssessment,
)
from governance.packs import PackScope, member_path, register_section, safe_name
from governance.packs.tables import QueryRows
from governance.services import coverage, soa

CHUNK = 64 * 1024


def _system_filter(scope: PackScope, prefix: str = "system") -> Q:
    return Q(**{f"{prefix}__in": scope.system_queryset()})


def systems(scope: PackScope):
    fields = [
        "id", "slug", "name", "purpose", "owning_team__slug", "lifecycle_stage", "eu_ai_act_class",
        "risk_tier", "operator_role", "autonomy_level", "human_oversight", "deployed_on", "retired_on",
    ]  # fmt: skip
    yield "systems.csv", QueryRows(scope.system_queryset(), fields)


def controls(scope: PackScope):
    fields = ["id", "code", "title", "description", "control_type", "frequency", "owner__username"]
    yield "controls.csv", QueryRows(Control.objects.visible_to(scope.user).order_by("id"), fields)
    implementations = (
        ControlImplementation.objects.visible_to(scope.user)
        .filter(Q(system__isnull=True) | _system_filter(scope))
        .order_by("id")
    )
    fields = [
        "id", "control__code", "control__title", "system__slug", "status", "justification",
        "owner__username", "last_tested_on", "next_test_due", "effectiveness",
    ]  # fmt: skip
    yield "control_implementations.csv", QueryRows(implementations, fields)


def risks(scope: PackScope):
    queryset = Risk.objects.visible_to(scope.user).filter(_system_filter(scope)).order_by("id")
    fields = [
        "id", "system__slug", "title", "description", "characteristic", "likelihood", "impact",
        "inherent_score", "residual_likelihood", "residual_impact", "residual_score", "treatment",
        "status", "owner__username", "review_on",
    ]  # fmt: skip
    yield "risks.csv", QueryRows(queryset, fields)


def reviews_in_scope(scope: PackScope):
    """The reviews of the pack (its systems, due in its period), with their due state as of the
    pack's moment: ``reviews.csv`` and the report's review part both read these."""
    queryset = Review.objects.visible_to(scope.user).filter(_system_filter(scope))
    if scope.start:
        queryset = queryset.filter(due_at__date__gte=scope.start)
    if scope.end:
        queryset = queryset.filter(due_at__date__lte=scope.end)
    return queryset.with_due_state(scope.moment())


def reviews(scope: PackScope):
    fields = [
        "id", "system__slug", "due_at", "status", "due_state", "trigger", "reason", "reviewer__username",
        "outcome", "conditions", "waived_reason", "signed_off_by__username", "signed_off_at",
    ]  # fmt: skip
    yield "reviews.csv", QueryRows(reviews_in_scope(scope).order_by("id"), fields)


def transparency(scope: PackScope):
    queryset = TransparencyAssessment.objects.visible_to(scope.user).filter(
        Q(system__isnull=True) | _system_filter(scope)
    )
    if scope.start:
        queryset = queryset.filter(assessed_on__gte=scope.start)
    if scope.end:
        queryset = queryset.filter(assessed_on__lte=scope.end)
    fields = [
        "id", "indicator_set__key", "model__name", "system__slug", "assessor_label", "assessed_on",
        "status", "source", "points", "possible_points", "score", "notes",
    ]  # fmt: skip
    yield "transparency_assessments.csv", QueryRows(queryset.order_by("id"), fields)


def statements(scope: PackScope):
    """The Statement of Applicability and the coverage of each framework, as CSV and JSON."""
    targets = list(scope.system_queryset()) if scope.systems else [None]
    for framework in scope.frameworks:
        base = safe_name(f"{framework.code}-{framework.version}")
        for system in targets:
            suffix = f"-{safe_name(system.slug)}" if system is not None else ""
            statement = soa.build_statement(framework=framework, system=system, today=scope.end)
            yield f"soa/{base}{suffix}.csv", _csv_lines(soa.export_csv(statement))
            yield f"soa/{base}{suffix}.json", iter([soa.export_json(statement).encode("utf-8")])
            cov_scope = coverage.Scope(system=system, team=None if system else scope.team)
            rows = coverage.coverage_rows(framework=framework, scope=cov_scope, today=scope.end)
            yield f"coverage/{base}{suffix}.csv", _coverage_rows(rows)
            summary = coverage.coverage_summary(framework=framework, scope=cov_scope, today=scope.end)
            payload = {"summary": summary, "requirements": rows}
            yield f"coverage/{base}{suffix}.json", iter([json.dumps(payload, indent=2).encode("utf-8")])


def _csv_lines(text: str):
    """Rows back from an export's CSV text, so the pack's writer neutralises them like every other."""
    import csv
    import io

    yield from csv.reader(io.StringIO(text))


def _coverage_rows(rows: list[dict]):
    yield ["id", "ref_id", "title", "kind", "state", "controls", "through"]
    for row in rows:
        yield [
            row["id"], row["ref_id"], row["title"], row["kind"], row["state"],
            "; ".join(str(c.get("code", c)) if isinstance(c, dict) else str(c) for c in row["controls"]),
            json.dumps(row["through"]),
        ]  # fmt: skip


def evidence(scope: PackScope):
    """The evidence index and each stored file, streamed from storage in chunks."""
    queryset = Evidence.objects.visible_to(scope.user)
    if scope.team is not None:
        queryset = queryset.filter(Q(team__isnull=True) | Q(team=scope.team))
    if scope.end:
        queryset = queryset.filter(collected_on__lte=scope.end)
    if scope.start:
        queryset = queryset.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=scope.start))
    queryset = queryset.order_by("id")
    fields = [
        "id", "title", "kind", "original_name", "sha256", "size", "url", "team__slug", "collected_on",
        "valid_from", "valid_until",
    ]  # fmt: skip
    yield "evidence.csv", _evidence_index(queryset, fields)
    files = queryset.exclude(file="").values("id", "file", "original_name", "title")
    for item in files.iterator(chunk_size=500):
        if item["file"]:
            yield _evidence_path(item), _file_chunks(item["file"])


def _evidence_path(item: dict) -> str:
    return member_path("evidence", item["id"], item["original_name"] or item["title"])


def _evidence_index(queryset, fields):
    """The index rows, each with the path of its file in the pack (empty for links and notes)."""
    yield [*fields, "pack_path"]
    for row in queryset.values_list(*fields, "file").iterator(chunk_size=2000):
        *values, stored = row
        item = {"id": values[0], "original_name": values[3], "title": values[1]}
        yield [*values, _evidence_path(item) if stored else ""]


def _file_chunks(name: str) -> Iterator[bytes]:
    with storages["evidence"].open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def register() -> None:
    for name, builder in [
        ("systems", systems),
        ("controls", controls),
        ("risks", risks),
        ("reviews", reviews),
        ("statements", statements),
        ("transparency", transparency),
        ("evidence", evidence),
    ]:
        register_section(name, builder)
