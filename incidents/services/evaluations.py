"""Evaluation runs, hallucination limits with escalation to incidents, and hallucination trends.

Every write is one transaction, takes keyword arguments only and the acting user explicitly.
Officers act on every system, engineers (people or service accounts) on their teams' systems;
only officers set limits. The findings services (``incidents.services.findings``) and the
per-sample names (``incidents.services.evaluation_samples``) are re-exported here, so the API and
admin reach every evaluation service through this module.

Runs
----
A run comes with its counts, or with per-sample results from which the counts are computed
(:func:`record_run`). Per-sample rows are streamed into ``EvaluationSample`` with ``COPY`` as they
arrive, never held in memory together; a malformed row raises ``InvalidSample`` (a
``ValidationError``) naming its 1-based line, and the whole run rolls back. The rate's numerator
and denominator follow the run's basis (:func:`incidents.services.stats.rate_counts`), the
interval its method; an empty basis leaves the rate and the interval empty.

Counts: ``attempted <= samples``; ``abstained`` is ``samples − attempted`` (computed when left
out); ``correct + hallucinated <= attempted`` (the rest are unverifiable); claims come as a pair,
``hallucinated_claims <= claims``, and the claims basis needs them. From per-sample results:
``samples`` is the number of rows, ``abstained`` those graded ``not_attempted``, ``correct`` and
``hallucinated`` those graded ``correct`` and ``incorrect``; claims are summed when every row has
them.

Limits and escalation
---------------------
A system's limit for the run's benchmark applies, else its limit for every benchmark
(``benchmark_name`` empty). A run exceeds it when the judged value (the rate, or the interval's
lower bound) is strictly above ``max_rate``. Such a run adds an ``evaluation`` timeline entry to the
active incident (``clock_rules.ACTIVE_STATUSES``) of an earlier run with the same escalation key
(system, model version and benchmark), or opens one with its first entry: never two
open incidents per key, also when runs arrive at once (an advisory lock on the key serialises
them). The opened incident's severity is SEV2 when the interval's lower bound is above the limit
(exceeded beyond reasonable doubt), SEV3 otherwise; its reporter is the run's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from governance.models import AISystem, User
from incidents import choices
from incidents.clock_rules import active_q
from incidents.models import EvaluationRun, HallucinationLimit, Incident
from incidents.services import stats
from incidents.services.evaluation_samples import (
    MAX_COUNT,
    MAX_SAMPLES,
    InvalidSample,
    is_count,
    stream_samples,
)

# Findings live in their own module; the API and admin reach every evaluation service from here.
from incidents.services.findings import (
    MAX_BULK_FINDINGS,
    BulkInvalid,
    finding_dedupe_hash,
    normalise,
    record_finding,
    record_findings,
    update_finding_status,
)
from incidents.services.incidents import (
    add_timeline_entry,
    create_incident,
    may_act_for_team,
    refuse_future,
    require_incident_permission,
    require_model_of_system,
    require_officer,
)

COUNT_FIELDS = (
    "samples",
    "attempted",
    "abstained",
    "correct",
    "hallucinated",
    "claims",
    "hallucinated_claims",
)
RUN_FIELDS = frozenset(
    {
        "system",
        "model",
        "model_provider",
        "model_name",
        "model_version",
        "benchmark_name",
        "benchmark_version",
        "dataset_sha256",
        "task_kind",
        "judge_kind",
        "judge_name",
        "judge_version",
        "parameters",
        "code_commit",
        "started_at",
        "finished_at",
        "rate_basis",
        "interval_method",
        "artifact_uri",
        "artifact_sha256",
        *COUNT_FIELDS,
    }
)
_REQUIRED_COUNTS = ("samples", "attempted", "correct", "hallucinated")
# Set here, never by the caller; left out of the first validation, before the counts are known.
_COMPUTED_RUN_FIELDS = [
    "rate_numerator",
    "rate_denominator",
    "hallucination_rate",
    "interval_low",
    "interval_high",
    "limit_rate",
    "exceeded_limit",
    "escalation_key",
]
_RUN_REFERENCES = ["system", "team", "model", "incident", "reporter"]

_METHOD_NAMES = {
    choices.IntervalMethod.WILSON: "Wilson",
    choices.IntervalMethod.CLOPPER_PEARSON: "Clopper–Pearson",
}
_NEXT_RUN_ID = "SELECT nextval(pg_get_serial_sequence(%s, 'id'))"
_ESCALATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


# --- Runs ---------------------------------------------------------------------------------------


COUNT_MESSAGE = f"Must be a whole number from 0 to {MAX_COUNT}."


def validate_counts(counts: Mapping[str, object], *, rate_basis: str) -> dict[str, int | None]:
    """The run's counts, checked for consistency, with ``abstained`` filled in when left out."""
    errors: dict[str, str] = {}
    for field in _REQUIRED_COUNTS:
        if counts.get(field) is None:
            errors[field] = "This count is required."
        elif not is_count(counts[field]):
            errors[field] = COUNT_MESSAGE
    for field in ("abstained", "claims", "hallucinated_claims"):
        if counts.get(field) is not None and not is_count(counts[field]):
            errors[field] = COUNT_MESSAGE
    if errors:
        raise ValidationError(errors)
    result: dict[str, int | None] = {field: counts.get(field) for field in COUNT_FIELDS}
    samples, attempted = result["samples"], result["attempted"]
    if samples == 0:
        errors["samples"] = "A run needs at least one sample."
    if attempted > samples:
        errors["attempted"] = "Cannot exceed samples."
    elif result["abstained"] is None:
        result["abstained"] = samples - attempted
    elif result["abstained"] != samples - attempted:
        errors["abstained"] = f"Must be samples − attempted ({samples - attempted})."
    if result["correct"] + result["hallucinated"] > attempted:
        errors["hallucinated"] = "correct + hallucinated cannot exceed attempted."
    if (result["claims"] is None) != (result["hallucinated_claims"] is None):
        errors["hallucinated_claims"] = "Give claims and hallucinated_claims together."
    elif result["claims"] is not None and result["hallucinated_claims"] > result["claims"]:
        errors["hallucinated_claims"] = "Cannot exceed claims."
    elif rate_basis == choices.RateBasis.CLAIMS and result["claims"] is None:
        errors["claims"] = "The claims basis needs claims and hallucinated_claims."
    if errors:
        raise ValidationError(errors)
    return result


def escalation_key(*, system_id: int, model_version: str, benchmark_name: str) -> str:
    """What makes runs "the same" for escalation: system, model version and benchmark."""
    return json.dumps([system_id, normalise(model_version), normalise(benchmark_name)], ensure_ascii=False)


def applicable_limit(*, system: AISystem, benchmark_name: str) -> HallucinationLimit | None:
    """The system's limit for the benchmark, else its limit for every benchmark, else None."""
    limits = {
        limit.benchmark_name: limit
        for limit in HallucinationLimit.objects.filter(system=system, benchmark_name__in=[benchmark_name, ""])
    }
    return limits.get(benchmark_name) or limits.get("")


def _apply_rate(run: EvaluationRun) -> None:
    numerator, denominator = stats.rate_counts(
        run.rate_basis,
        samples=run.samples,
        attempted=run.attempted,
        correct=run.correct,
        hallucinated=run.hallucinated,
        claims=run.claims,
        hallucinated_claims=run.hallucinated_claims,
    )
    run.rate_numerator, run.rate_denominator = numerator, denominator
    if denominator == 0:
        run.hallucination_rate = run.interval_low = run.interval_high = None
        return
    run.hallucination_rate = numerator / denominator
    run.interval_low, run.interval_high = stats.interval(numerator, denominator, run.interval_method)


def _judge(run: EvaluationRun, limit: HallucinationLimit | None) -> None:
    run.limit_rate = limit.max_rate if limit else None
    judged = None
    if limit is not None:
        judged = (
            run.interval_low
            if limit.judged_on == choices.LimitJudgedOn.LOWER_BOUND
            else run.hallucination_rate
        )
    run.exceeded_limit = judged is not None and judged > limit.max_rate


def _next_run_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_RUN_ID, [EvaluationRun._meta.db_table])
        return cursor.fetchone()[0]


@transaction.atomic
def record_run(
    *, actor: User, data: Mapping[str, object], samples: Iterable[object] | None = None
) -> EvaluationRun:
    """Record an evaluation run of an AI system the actor's team owns (officers: any system).

    ``data`` holds the run's fields (:data:`RUN_FIELDS`); ``system`` is an ``AISystem``, ``model``
    an optional ``AIModel`` linked to it, whose provider, name and version fill those left empty.
    Without ``samples``, ``data`` carries the counts. With ``samples`` (per-sample result objects
    with ``sample_id``, ``grade`` and optionally ``claims``, ``hallucinated_claims`` and ``score``)
    the counts are computed from them; counts also given in ``data`` must agree. At most
    :data:`MAX_SAMPLES` samples (more raise ``TooLarge``).

    Computes the rate and its interval, judges the applicable limit and, above it, escalates
    (:func:`escalate`). Returns the saved run.
    """
    require_incident_permission(actor, "add_evaluationrun")
    data = dict(data)
    unknown = sorted(set(data) - RUN_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    system = data.get("system")
    if not isinstance(system, AISystem):
        raise ValidationError({"system": "Name the AI system that was evaluated."})
    if not may_act_for_team(actor, system.owning_team_id):
        raise ValidationError({"system": "You can only record runs of your teams' systems."})
    model = data.get("model")
    require_model_of_system(model, system)
    if model is not None:
        for field, value in (
            ("model_provider", model.provider),
            ("model_name", model.name),
            ("model_version", model.version),
        ):
            data[field] = data.get(field) or value
    refuse_future(timezone.now(), started_at=data.get("started_at"), finished_at=data.get("finished_at"))
    if data.get("started_at") and data.get("finished_at") and data["finished_at"] < data["started_at"]:
        raise ValidationError({"finished_at": "A run cannot finish before it started."})

    given_counts = {field: data.pop(field) for field in COUNT_FIELDS if field in data}
    given_counts = {field: value for field, value in given_counts.items() if value is not None}
    run = EvaluationRun(
        **data, team_id=system.owning_team_id, reporter=actor, has_samples=samples is not None
    )
    # Everything but the counts first: a bad field is refused before any sample is read.
    run.full_clean(
        exclude=[*COUNT_FIELDS, *_COMPUTED_RUN_FIELDS, *_RUN_REFERENCES],
        validate_unique=False,
        validate_constraints=False,
    )
    # The id comes first so the samples can be copied before the run row exists, and the run is
    # inserted once, with its final counts, into the change history.
    run.pk = _next_run_id()
    if samples is None:
        counts = validate_counts(given_counts, rate_basis=run.rate_basis)
    else:
        counts = stream_samples(run_id=run.pk, rows=samples)
        mismatched = {
            field: f"Does not match the per-sample results ({counts[field]})."
            for field, value in given_counts.items()
            if value != counts[field]
        }
        if mismatched:
            raise ValidationError(mismatched)
        counts = validate_counts(counts, rate_basis=run.rate_basis)
    for field, value in counts.items():
        setattr(run, field, value)
    _apply_rate(run)
    _judge(run, applicable_limit(system=system, benchmark_name=run.benchmark_name))
    run.escalation_key = escalation_key(
        system_id=system.pk, model_version=run.model_version, benchmark_name=run.benchmark_name
    )
    run.save(force_insert=True)
    if run.exceeded_limit:
        escalate(run=run)
    return run


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _figures(run: EvaluationRun) -> str:
    method = _METHOD_NAMES.get(run.interval_method, run.interval_method)
    return (
        f"hallucination rate {_percent(run.hallucination_rate)} ({run.rate_numerator} of"
        f" {run.rate_denominator}, basis: {choices.RateBasis(run.rate_basis).label.lower()}),"
        f" 95 % {method} interval {_percent(run.interval_low)} to {_percent(run.interval_high)};"
        f" limit {_percent(run.limit_rate)}"
    )


def _entry_data(run: EvaluationRun, limit: HallucinationLimit | None) -> dict[str, object]:
    return {
        "run": run.pk,
        "model_version": run.model_version,
        "benchmark": run.benchmark_name,
        "rate": run.hallucination_rate,
        "interval": [run.interval_low, run.interval_high],
        "interval_method": run.interval_method,
        "limit": run.limit_rate,
        "judged_on": limit.judged_on if limit else None,
    }


def _description(run: EvaluationRun, limit: HallucinationLimit | None, figures: str) -> str:
    benchmark = " ".join(filter(None, [run.benchmark_name, run.benchmark_version]))
    model = " ".join(filter(None, [run.model_provider, run.model_name, run.model_version]))
    judge = " ".join(filter(None, [run.get_judge_kind_display().lower(), run.judge_name, run.judge_version]))
    judged_on = choices.LimitJudgedOn(limit.judged_on if limit else choices.LimitJudgedOn.RATE).label
    return (
        f"Evaluation run {run.pk} of {model} on {benchmark} ({run.samples} samples, judge: {judge}):"
        f" {figures}, judged on {judged_on[0].lower()}{judged_on[1:]}."
    )


def open_incident_for(key: str) -> Incident | None:
    """The open incident an earlier run with this escalation key opened or added to."""
    return (
        Incident.objects.filter(evaluation_runs__escalation_key=key)
        .filter(active_q())
        .order_by("created_at", "id")
        .first()
    )


def escalation_severity(run: EvaluationRun) -> str:
    """SEV2 when even the interval's lower bound is above the limit, SEV3 otherwise."""
    if run.interval_low is not None and run.limit_rate is not None and run.interval_low > run.limit_rate:
        return choices.Severity.SEV2
    return choices.Severity.SEV3


@transaction.atomic
def escalate(*, run: EvaluationRun) -> Incident:
    """Link a run above its limit to an incident: the open one of its escalation key, with an
    ``evaluation`` timeline entry, or a new one (source ``evaluation``) with its first entry.

    A transaction-level advisory lock on the key makes concurrent escalations of one key wait for
    each other, so the second finds the first's incident instead of opening another. The run's
    reporter acts for both the incident and the entry.
    """
    if not run.exceeded_limit:
        raise ValueError(f"Run {run.pk} is within its limit: there is nothing to escalate.")
    with connection.cursor() as cursor:
        cursor.execute(_ESCALATION_LOCK, [f"verity.evaluation-escalation:{run.escalation_key}"])
    limit = applicable_limit(system=run.system, benchmark_name=run.benchmark_name)
    figures = _figures(run)
    incident = open_incident_for(run.escalation_key)
    if incident is None:
        incident, _ = create_incident(
            actor=run.reporter,
            data={
                "system": run.system,
                "model": run.model,
                "source": choices.IncidentSource.EVALUATION,
                "severity": escalation_severity(run),
                "title": f"Hallucination rate above limit: {run.benchmark_name} on {run.model_version}"[:200],
                "description": _description(run, limit, figures),
                "occurred_at": run.finished_at or timezone.now(),
            },
        )
        body = f"Run {run.pk} opened this incident: {figures}."
    else:
        body = f"Run {run.pk} is above the limit again: {figures}."
    add_timeline_entry(
        actor=run.reporter,
        incident=incident,
        kind=choices.TimelineKind.EVALUATION,
        body=body,
        data=_entry_data(run, limit),
    )
    run.incident = incident
    run.save(update_fields=["incident"])
    return incident


# --- Limits -------------------------------------------------------------------------------------


@transaction.atomic
def set_limit(
    *,
    actor: User,
    system: AISystem,
    benchmark_name: str = "",
    max_rate: float,
    judged_on: str = choices.LimitJudgedOn.RATE,
) -> HallucinationLimit:
    """Set the system's highest hallucination rate on one benchmark (``benchmark_name`` empty:
    on every benchmark without a limit of its own), judged on the rate or on the lower bound.
    Officers only. Applies to runs recorded from now on."""
    require_incident_permission(actor, "change_hallucinationlimit")
    require_officer(actor, "set hallucination limits")
    benchmark_name = (benchmark_name or "").strip()
    candidate = HallucinationLimit(
        system=system, benchmark_name=benchmark_name, max_rate=max_rate, judged_on=judged_on
    )
    candidate.full_clean(exclude=["system"], validate_unique=False, validate_constraints=False)
    if not 0.0 <= candidate.max_rate <= 1.0:
        raise ValidationError({"max_rate": "A rate lies between 0 and 1."})
    limit, _ = HallucinationLimit.objects.update_or_create(
        system=system,
        benchmark_name=benchmark_name,
        defaults={"max_rate": candidate.max_rate, "judged_on": candidate.judged_on},
    )
    return limit


@transaction.atomic
def delete_limit(*, actor: User, limit: HallucinationLimit) -> None:
    """Remove a limit: later runs are judged by the next applicable one, if any. Officers only."""
    require_incident_permission(actor, "delete_hallucinationlimit")
    require_officer(actor, "remove hallucination limits")
    limit.delete()


# --- Trends -------------------------------------------------------------------------------------


TREND_COLUMNS = {
    "run": "id",
    "created_at": "created_at",
    "model_version": "model_version",
    "benchmark": "benchmark_name",
    "rate": "hallucination_rate",
    "low": "interval_low",
    "high": "interval_high",
    "n": "rate_denominator",
    "numerator": "rate_numerator",
    "rate_basis": "rate_basis",
    "interval_method": "interval_method",
    "exceeded_limit": "exceeded_limit",
}


def trend_runs(
    *,
    system: AISystem,
    model_version: str | None = None,
    benchmark: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[EvaluationRun]:
    """The query behind a trend: the system's runs created in ``since`` (inclusive) .. ``until``
    (exclusive), either open, oldest first, as ``values()`` rows of the columns of
    ``TREND_COLUMNS`` (``trend_point`` turns one into a point), so a caller can bound it by page."""
    runs = EvaluationRun.objects.filter(system=system)
    if model_version is not None:
        runs = runs.filter(model_version=model_version)
    if benchmark is not None:
        runs = runs.filter(benchmark_name=benchmark)
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    if until is not None:
        runs = runs.filter(created_at__lt=until)
    return runs.order_by("created_at", "id").values(*TREND_COLUMNS.values())


def trend_point(row: dict[str, Any]) -> dict[str, Any]:
    """One row of ``trend_runs`` as a trend point."""
    return {key: row[column] for key, column in TREND_COLUMNS.items()}


def trend(
    *,
    system: AISystem,
    model_version: str | None = None,
    benchmark: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The system's runs, oldest first, as points: ``run`` (id), ``created_at``,
    ``model_version``, ``benchmark``, ``rate``, ``low``, ``high`` (the run's interval), ``n``
    (the rate's denominator), ``numerator``, ``rate_basis``, ``interval_method`` and
    ``exceeded_limit``. Optionally only one model version and/or one benchmark, and only runs
    created in ``since``..``until`` (``trend_runs``). With ``limit``, only the latest ``limit``
    runs of those (still oldest first); without, unbounded (the API pages ``trend_runs``
    instead). Scoping is the caller's: pass a system the user may see."""
    rows = trend_runs(
        system=system, model_version=model_version, benchmark=benchmark, since=since, until=until
    )
    if limit is not None:
        rows = list(rows.reverse()[:limit])[::-1]
    return [trend_point(row) for row in rows]


def compare_versions(
    *,
    system: AISystem,
    benchmark: str,
    version_a: str,
    version_b: str,
    rate_basis: str | None = None,
) -> dict[str, Any]:
    """Two model versions' hallucination rates on one benchmark, and whether they differ.

    Each version's runs are pooled: numerators and denominators are summed, which treats the
    runs as independent samples (re-running one fixed data set overstates the precision). Rates
    of different bases cannot be pooled: when the runs use more than one, name ``rate_basis``.

    Returns ``{"benchmark", "rate_basis", "a", "b", "difference", "z", "p_value",
    "standard_error"}``; ``a`` and ``b`` hold ``model_version``, ``runs``, ``numerator``, ``n``,
    ``rate`` and its Wilson ``low`` and ``high``; ``difference`` is b's rate minus a's, from
    :func:`incidents.services.stats.two_proportion_test` (all four None when a side has no data).
    """
    runs = EvaluationRun.objects.filter(
        system=system, benchmark_name=benchmark, model_version__in=[version_a, version_b]
    )
    if rate_basis is not None:
        runs = runs.filter(rate_basis=rate_basis)
    bases = sorted(set(runs.values_list("rate_basis", flat=True)))
    if len(bases) > 1:
        raise ValidationError(
            {"rate_basis": f"The runs use different rate bases ({', '.join(bases)}); name one."}
        )
    totals = {
        row["model_version"]: row
        for row in runs.order_by()
        .values("model_version")
        .annotate(runs=Count("id"), numerator=Sum("rate_numerator"), n=Sum("rate_denominator"))
    }

    def side(version: str) -> dict[str, Any]:
        row = totals.get(version, {})
        numerator, n = row.get("numerator") or 0, row.get("n") or 0
        low, high = stats.wilson_interval(numerator, n) if n else (None, None)
        return {
            "model_version": version,
            "runs": row.get("runs", 0),
            "numerator": numerator,
            "n": n,
            "rate": numerator / n if n else None,
            "low": low,
            "high": high,
        }

    a, b = side(version_a), side(version_b)
    test = stats.two_proportion_test(a["numerator"], a["n"], b["numerator"], b["n"])
    return {
        "benchmark": benchmark,
        "rate_basis": rate_basis or (bases[0] if bases else None),
        "a": a,
        "b": b,
        **test._asdict(),
    }


__all__ = [
    "MAX_BULK_FINDINGS",
    "MAX_SAMPLES",
    "BulkInvalid",
    "InvalidSample",
    "applicable_limit",
    "compare_versions",
    "delete_limit",
    "escalate",
    "escalation_key",
    "finding_dedupe_hash",
    "normalise",
    "record_finding",
    "record_findings",
    "record_run",
    "set_limit",
    "trend",
    "trend_point",
    "trend_runs",
    "update_finding_status",
    "validate_counts",
]
