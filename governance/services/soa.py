"""The Statement of Applicability (ISO/IEC 42001 clause 6.1.3).

A statement covers one framework's Annex A controls (requirements of kind ``control``) for one
scope: the organisation (``system=None``) or one AI system. For a system, its own applicability
decisions override the organisation's, and organisation-wide control implementations count for
every system.

Evidence shown in a scope is limited to what every reader of that scope may see: organisation-wide
evidence everywhere, plus the owning team's evidence in a system's statement. An approved (frozen)
statement therefore never reveals another team's evidence to an engineer.

Reads take a fixed number of queries however many requirements, controls and evidence exist;
writes are one transaction each, take keyword arguments only and the acting user explicitly.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from governance.choices import ImplementationStatus, RequirementKind
from governance.models import (
    AISystem,
    Applicability,
    Control,
    ControlImplementation,
    Evidence,
    Framework,
    Requirement,
    SoAVersion,
    User,
)
from governance.querysets import evidence_expired
from governance.services.access import require_permission
from governance.services.exports import csv_text

Statement = list[dict[str, Any]]

# Statuses of a statement entry, beyond the implementation statuses themselves.
NO_CONTROL = "no_control"
NOT_APPLICABLE = ImplementationStatus.NOT_APPLICABLE.value

CSV_COLUMNS = (
    "ref_id",
    "objective",
    "title",
    "applicable",
    "justification",
    "status",
    "controls",
    "evidence",
)

# Fields of an entry compared by ``statement_changes`` (``ref_id`` is the key).
_COMPARED_FIELDS = (
    "title",
    "objective",
    "applicable",
    "justification",
    "decided_for",
    "status",
    "controls",
    "evidence",
)


# --- Reading ------------------------------------------------------------------------------------


def annex_a_controls(framework: Framework):
    """The framework's Annex A controls in reading order (a query set, not yet evaluated)."""
    return Requirement.objects.filter(framework=framework, kind=RequirementKind.CONTROL).order_by(
        "order", "ref_id"
    )


def build_statement(
    *, framework: Framework, system: AISystem | None = None, today: datetime.date | None = None
) -> Statement:
    """The current statement for a scope: one entry per Annex A control, in the framework's order.

    Each entry holds ``ref_id``, ``title``, ``objective`` (``{"ref_id", "title"}`` of the parent
    node, or ``None``), ``applicable`` (``True`` when nobody decided), ``justification``,
    ``decided_for`` (``"system"``, ``"organisation"`` or ``None``), ``status`` (see
    ``_requirement_status``), ``controls`` (code, title and in-scope status of each mapped control)
    and ``evidence`` (id, title, sha256, valid_until, expired) linked to the in-scope
    implementations of those controls or directly to the requirement.

    Six queries, whatever the amount of data.
    """
    today = today or timezone.localdate()
    requirements = list(
        annex_a_controls(framework).values("id", "ref_id", "title", "parent__ref_id", "parent__title")
    )
    annex_a = Q(requirement__framework=framework, requirement__kind=RequirementKind.CONTROL)
    in_scope = Q(system_id__isnull=True)
    if system is not None:
        in_scope |= Q(system_id=system.pk)

    decisions = _decisions(annex_a, in_scope)
    controls_by_requirement, statuses_by_control, evidence_by_control = _controls_in_scope(
        annex_a, in_scope, system, today
    )
    evidence_by_requirement = _requirement_evidence(annex_a, system, today)

    statement = []
    for row in requirements:
        decision = decisions.get(row["id"])
        applicable = decision["applicable"] if decision else True
        controls, evidence = [], {}
        for control in controls_by_requirement.get(row["id"], []):
            control_status = _control_status(statuses_by_control.get(control["id"], ()))
            controls.append({"code": control["code"], "title": control["title"], "status": control_status})
            evidence.update(evidence_by_control.get(control["id"], {}))
        evidence.update(evidence_by_requirement.get(row["id"], {}))
        statement.append(
            {
                "ref_id": row["ref_id"],
                "title": row["title"],
                "objective": (
                    {"ref_id": row["parent__ref_id"], "title": row["parent__title"]}
                    if row["parent__ref_id"] is not None
                    else None
                ),
                "applicable": applicable,
                "justification": decision["justification"] if decision else "",
                "decided_for": decision["decided_for"] if decision else None,
                "status": _requirement_status(
                    applicable,
                    controls,
                    [
                        statuses_by_control.get(c["id"], ())
                        for c in controls_by_requirement.get(row["id"], [])
                    ],
                ),
                "controls": controls,
                "evidence": [evidence[key] for key in sorted(evidence)],
            }
        )
    return statement


def _decisions(annex_a: Q, in_scope: Q) -> dict[int, dict]:
    """Applicability decisions by requirement id; a system's own decision beats the organisation's."""
    decisions: dict[int, dict] = {}
    rows = Applicability.objects.filter(annex_a, in_scope).values(
        "requirement_id", "system_id", "applicable", "justification"
    )
    for row in rows:
        if row["system_id"] is None and row["requirement_id"] in decisions:
            continue
        decisions[row["requirement_id"]] = {
            "applicable": row["applicable"],
            "justification": row["justification"],
            "decided_for": "organisation" if row["system_id"] is None else "system",
        }
    return decisions


def _controls_in_scope(annex_a: Q, in_scope: Q, system: AISystem | None, today: datetime.date):
    """Mapped controls per requirement, implementation statuses and evidence per control."""
    links = Control.requirements.through.objects.filter(annex_a).order_by("control__code")
    controls_by_requirement: dict[int, list[dict]] = defaultdict(list)
    for link in links.values("requirement_id", "control_id", "control__code", "control__title"):
        controls_by_requirement[link["requirement_id"]].append(
            {"id": link["control_id"], "code": link["control__code"], "title": link["control__title"]}
        )

    mapped_controls = Control.requirements.through.objects.filter(annex_a).values("control_id")
    implementations = ControlImplementation.objects.filter(
        in_scope, control_id__in=mapped_controls
    ).order_by()
    statuses_by_control: dict[int, list[str]] = defaultdict(list)
    for impl in implementations.values("control_id", "status"):
        statuses_by_control[impl["control_id"]].append(impl["status"])

    evidence_by_control: dict[int, dict[int, dict]] = defaultdict(dict)
    rows = (
        Evidence.implementations.through.objects.filter(
            _visible_evidence(system, "evidence__"),
            controlimplementation__in=implementations.values("id"),
        )
        .annotate(evidence_expired=evidence_expired(today, "evidence__"))
        .values(
            "controlimplementation__control_id",
            "evidence_id",
            "evidence__title",
            "evidence__sha256",
            "evidence__valid_until",
            "evidence_expired",
        )
    )
    for row in rows:
        by_control = evidence_by_control[row["controlimplementation__control_id"]]
        by_control[row["evidence_id"]] = _evidence_entry(row)
    return controls_by_requirement, statuses_by_control, evidence_by_control


def _requirement_evidence(annex_a: Q, system: AISystem | None, today: datetime.date) -> dict[int, dict]:
    """Evidence linked directly to each requirement, limited to what the scope may show."""
    by_requirement: dict[int, dict[int, dict]] = defaultdict(dict)
    rows = (
        Evidence.requirements.through.objects.filter(annex_a, _visible_evidence(system, "evidence__"))
        .annotate(evidence_expired=evidence_expired(today, "evidence__"))
        .values(
            "requirement_id",
            "evidence_id",
            "evidence__title",
            "evidence__sha256",
            "evidence__valid_until",
            "evidence_expired",
        )
    )
    for row in rows:
        by_requirement[row["requirement_id"]][row["evidence_id"]] = _evidence_entry(row)
    return by_requirement


def _visible_evidence(system: AISystem | None, prefix: str = "") -> Q:
    """Organisation-wide evidence, and for a system also its owning team's evidence."""
    condition = Q(**{f"{prefix}team__isnull": True})
    if system is not None:
        condition |= Q(**{f"{prefix}team_id": system.owning_team_id})
    return condition


def _evidence_entry(row: Mapping[str, Any]) -> dict:
    valid_until = row["evidence__valid_until"]
    return {
        "id": row["evidence_id"],
        "title": row["evidence__title"],
        "sha256": row["evidence__sha256"],
        "valid_until": valid_until.isoformat() if valid_until else None,
        "expired": row["evidence_expired"],
    }


def _control_status(statuses: Iterable[str]) -> str:
    """One control's status in a scope, from its implementations there."""
    statuses = set(statuses)
    if ImplementationStatus.IMPLEMENTED in statuses:
        return ImplementationStatus.IMPLEMENTED.value
    if ImplementationStatus.IN_PROGRESS in statuses:
        return ImplementationStatus.IN_PROGRESS.value
    if statuses and statuses <= {ImplementationStatus.NOT_APPLICABLE}:
        return NOT_APPLICABLE
    return ImplementationStatus.NOT_STARTED.value


def _requirement_status(applicable: bool, controls: list, statuses_per_control: list) -> str:
    """``not_applicable`` when excluded (or when every implementation in scope says so);
    ``no_control`` when nothing maps to it; else the best of its controls' implementations in
    scope: ``implemented``, ``in_progress`` or ``not_started``."""
    if not applicable:
        return NOT_APPLICABLE
    if not controls:
        return NO_CONTROL
    return _control_status(status for per_control in statuses_per_control for status in per_control)


def latest_version(*, framework: Framework, system: AISystem | None = None) -> SoAVersion | None:
    """The scope's most recently approved version, with its approver, or ``None``."""
    return (
        SoAVersion.objects.filter(framework=framework, system=system)
        .select_related("approved_by", "framework", "system")
        .order_by("-number")
        .first()
    )


def statement_changes(
    *,
    framework: Framework,
    system: AISystem | None = None,
    current: Statement | None = None,
    approved: SoAVersion | None = None,
) -> list[dict]:
    """How the current statement differs from the last approved version, control by control.

    Each change is ``{"ref_id", "title", "change": "added" | "removed" | "changed", "fields":
    {name: {"old": …, "new": …}}}``; empty when nothing was approved yet or nothing changed.
    ``current`` and ``approved`` spare the queries when the caller already has them.
    """
    if approved is None:
        approved = latest_version(framework=framework, system=system)
    if approved is None:
        return []
    if current is None:
        current = build_statement(framework=framework, system=system)
    return diff_statements(approved.content, current)


def diff_statements(old: Statement, new: Statement) -> list[dict]:
    """Per-control differences between two statements, in the new statement's order."""
    old_by_ref = {entry["ref_id"]: entry for entry in old}
    new_refs = {entry["ref_id"] for entry in new}
    changes = []
    for entry in new:
        before = old_by_ref.get(entry["ref_id"])
        if before is None:
            changes.append(
                {"ref_id": entry["ref_id"], "title": entry["title"], "change": "added", "fields": {}}
            )
            continue
        fields = {
            name: {"old": before.get(name), "new": entry.get(name)}
            for name in _COMPARED_FIELDS
            if before.get(name) != entry.get(name)
        }
        if fields:
            changes.append(
                {"ref_id": entry["ref_id"], "title": entry["title"], "change": "changed", "fields": fields}
            )
    for entry in old:
        if entry["ref_id"] not in new_refs:
            changes.append(
                {
                    "ref_id": entry["ref_id"],
                    "title": entry.get("title", ""),
                    "change": "removed",
                    "fields": {},
                }
            )
    return changes


# --- Writing ------------------------------------------------------------------------------------


@transaction.atomic
def set_applicability(
    *,
    actor: User,
    requirement: Requirement,
    system: AISystem | None = None,
    applicable: bool,
    justification: str = "",
) -> Applicability:
    """Decide whether an Annex A control applies, organisation-wide or for one system.

    Officers only. Excluding a control needs a justification. Creates the decision or updates
    the scope's existing one; an unchanged decision is not written again.
    """
    require_permission(actor, "change_applicability")
    require_permission(actor, "add_applicability")
    justification = (justification or "").strip()
    if requirement.kind != RequirementKind.CONTROL:
        raise ValidationError({"ref_id": f"{requirement.ref_id} is not an Annex A control."})
    if not applicable and not justification:
        raise ValidationError({"justification": "Say why the control is not applicable."})
    decision = (
        Applicability.objects.select_for_update().filter(requirement=requirement, system=system).first()
    )
    if decision is None:
        decision = Applicability(requirement=requirement, system=system)
    elif decision.applicable == applicable and decision.justification == justification:
        return decision
    decision.applicable = applicable
    decision.justification = justification
    decision.full_clean(validate_unique=decision.pk is None, validate_constraints=decision.pk is None)
    decision.save()
    return decision


@transaction.atomic
def remove_applicability(*, actor: User, decision: Applicability) -> None:
    """Withdraw a decision: the control falls back to the organisation's decision or the default."""
    require_permission(actor, "delete_applicability")
    decision.delete()


@transaction.atomic
def approve_statement(
    *, actor: User, framework: Framework, system: AISystem | None = None, note: str = ""
) -> SoAVersion:
    """Freeze the scope's current statement as the next approved version. Officers only.

    A transaction-level advisory lock per scope serialises concurrent approvals, so each gets
    its own number (1, 2, …) instead of colliding on the unique constraint.
    """
    require_permission(actor, "add_soaversion")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"verity.soa:{framework.pk}:{system.pk if system else 0}"],
        )
    content = build_statement(framework=framework, system=system)
    if not content:
        raise ValidationError(f"{framework} has no Annex A controls to approve.")
    previous = SoAVersion.objects.filter(framework=framework, system=system).aggregate(n=Max("number"))["n"]
    return SoAVersion.objects.create(
        framework=framework,
        system=system,
        number=(previous or 0) + 1,
        approved_by=actor,
        approved_at=timezone.now(),
        note=(note or "").strip(),
        content=content,
        content_sha256=content_digest(content),
    )


def content_digest(content: Statement) -> str:
    """SHA-256 of the canonical JSON of a statement (sorted keys, compact separators)."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def canonical_json(content: Statement) -> str:
    """The canonical JSON text a version's ``content_sha256`` is computed over."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


# --- Exports ------------------------------------------------------------------------------------


def export_csv(rows: Statement) -> str:
    """The statement as CSV, one row per control, safe to open in a spreadsheet."""
    return csv_text(CSV_COLUMNS, (_csv_row(entry) for entry in rows))


def _csv_row(entry: Mapping[str, Any]) -> list[str]:
    objective = entry.get("objective")
    controls = "; ".join(f"{c['code']}: {c['title']} ({c['status']})" for c in entry["controls"])
    evidence = "; ".join(_evidence_cell(e) for e in entry["evidence"])
    return [
        entry["ref_id"],
        f"{objective['ref_id']} {objective['title']}" if objective else "",
        entry["title"],
        "yes" if entry["applicable"] else "no",
        entry["justification"],
        entry["status"],
        controls,
        evidence,
    ]


def _evidence_cell(evidence: Mapping[str, Any]) -> str:
    text = f"{evidence['title']} (#{evidence['id']}"
    if evidence["sha256"]:
        text += f", sha256 {evidence['sha256']}"
    if evidence["valid_until"]:
        text += f", valid until {evidence['valid_until']}"
    if evidence["expired"]:
        text += ", EXPIRED"
    return text + ")"


def export_json(rows: Statement) -> str:
    """The statement as JSON text: exactly the list ``build_statement`` returns."""
    return json.dumps(rows, indent=2, ensure_ascii=False)
