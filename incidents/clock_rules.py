"""The incident clock rules, written once: which statuses keep the SLA clocks running, when a
respond or resolve step is on time, late or overdue, and where an Art. 73 report stands.

They are query expressions. ``IncidentQuerySet.with_clocks(now)`` annotates every incident with
``respond_state``, ``resolve_state`` and ``report_state`` from them, and the API (representation
and filters), the admin columns, the evidence packs and the clock scans read those annotations
or filter with the Q objects below, which are the same conditions the annotations are built from.
Python never recomputes a state for one object: it reads the annotation.

The rules
---------
* A step (respond, then resolve) done after its limit is **late**; done by its limit (the limit
  itself included) it is **on time**. Both are final, whatever the status.
* A step not done is **overdue** when the incident is still active (its clocks run, see
  :data:`ACTIVE_STATUSES`) and now is past the limit, **on track** while active before it,
  and **not applicable** once the incident is no longer active without the step (rejected,
  duplicate, or closed without it): nothing is left to do late.
* **Breached** means late or overdue.
* The Art. 73 deadline is met by the **initial** report (Art. 73(5) lets an incomplete first
  report be completed later). A serious incident without it is **overdue** past ``report_due_at``
  and **due soon** within :data:`REPORT_DUE_SOON` of it (the deadline itself still on time);
  once sent it was **reported on time** or **reported late**. The report clock does not depend
  on the incident's status: seriousness is what creates the duty.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Case, CharField, F, Q, Value, When
from django.db.models.expressions import RawSQL

from incidents.choices import IncidentStatus, ReportState, SlaStepState

# Active incidents: not yet resolved and not set aside. Their SLA clocks run; the admin's triage
# queue and the evaluation escalation ("the open incident of a run") take these too.
ACTIVE_STATUSES = (
    IncidentStatus.REPORTED,
    IncidentStatus.TRIAGED,
    IncidentStatus.INVESTIGATING,
    IncidentStatus.MITIGATED,
)
# An Art. 73 report not sent is "due soon" this long before its deadline.
REPORT_DUE_SOON = timedelta(hours=24)
# The step states that count as a breached SLA.
BREACHED_STEP_STATES = (SlaStepState.LATE, SlaStepState.OVERDUE)


@dataclass(frozen=True)
class Step:
    """One SLA step: its name, the field stamped when it is done and the field holding its limit."""

    name: str
    done: str
    limit: str


RESPOND = Step("respond", done="responded_at", limit="respond_by")
RESOLVE = Step("resolve", done="resolved_at", limit="resolve_by")
STEPS = (RESPOND, RESOLVE)


# --- SLA steps ------------------------------------------------------------------------------------


def active_q() -> Q:
    """Active incidents (:data:`ACTIVE_STATUSES`): their SLA clocks still run."""
    return Q(status__in=ACTIVE_STATUSES)


def step_done_q(step: Step) -> Q:
    return Q(**{f"{step.done}__isnull": False})


def step_late_q(step: Step) -> Q:
    """Done after the limit."""
    return Q(**{f"{step.done}__gt": F(step.limit)})


def step_waiting_q(step: Step) -> Q:
    """Not done while the incident is active."""
    return Q(**{f"{step.done}__isnull": True}) & active_q()


def step_overdue_q(step: Step, now: datetime) -> Q:
    """Not done, the incident active, and now past the limit."""
    return step_waiting_q(step) & Q(**{f"{step.limit}__lt": now})


def step_breached_q(step: Step, now: datetime) -> Q:
    return step_late_q(step) | step_overdue_q(step, now)


def sla_breached_q(now: datetime) -> Q:
    """The response or the resolution SLA is breached (late or overdue)."""
    return step_breached_q(RESPOND, now) | step_breached_q(RESOLVE, now)


def step_state(step: Step, now: datetime) -> Case:
    """The :class:`SlaStepState` of ``step``, from the conditions above (first match wins)."""
    return Case(
        When(step_late_q(step), then=Value(SlaStepState.LATE.value)),
        When(step_done_q(step), then=Value(SlaStepState.ON_TIME.value)),
        When(step_overdue_q(step, now), then=Value(SlaStepState.OVERDUE.value)),
        When(step_waiting_q(step), then=Value(SlaStepState.ON_TRACK.value)),
        default=Value(SlaStepState.NOT_APPLICABLE.value),
        output_field=CharField(),
    )


# --- Art. 73 report -------------------------------------------------------------------------------


def report_sent_q() -> Q:
    return Q(initial_report_sent_at__isnull=False)


def report_sent_late_q() -> Q:
    return Q(initial_report_sent_at__gt=F("report_due_at"))


def report_pending_q() -> Q:
    """Serious, with a deadline, and the initial report not sent."""
    return Q(is_serious=True, initial_report_sent_at__isnull=True, report_due_at__isnull=False)


def report_overdue_q(now: datetime) -> Q:
    return report_pending_q() & Q(report_due_at__lt=now)


def report_due_soon_q(now: datetime) -> Q:
    return report_pending_q() & Q(report_due_at__gte=now, report_due_at__lte=now + REPORT_DUE_SOON)


def report_state(now: datetime) -> Case:
    """The :class:`ReportState` of the Art. 73 initial report (first match wins)."""
    return Case(
        When(is_serious=False, then=Value(ReportState.NOT_SERIOUS.value)),
        When(report_sent_q() & report_sent_late_q(), then=Value(ReportState.REPORTED_LATE.value)),
        When(report_sent_q(), then=Value(ReportState.REPORTED_ON_TIME.value)),
        When(report_due_at__isnull=True, then=Value(ReportState.NO_DEADLINE.value)),
        When(report_overdue_q(now), then=Value(ReportState.OVERDUE.value)),
        When(report_due_soon_q(now), then=Value(ReportState.DUE_SOON.value)),
        default=Value(ReportState.ON_TRACK.value),
        output_field=CharField(),
    )


def clock_states(now: datetime) -> dict[str, Case]:
    """``respond_state``, ``resolve_state`` and ``report_state`` at ``now``, as expressions."""
    return {
        "respond_state": step_state(RESPOND, now),
        "resolve_state": step_state(RESOLVE, now),
        "report_state": report_state(now),
    }


# --- The annotations' fast path -------------------------------------------------------------------
# Resolving and compiling the Case trees above cost more than the rest of a detail request
# (about 2 ms of a 3 ms GET), and their SQL never changes: only ``now`` does. So the SQL is
# compiled once per process, at a fixed moment, and each query binds its own ``now`` in place of
# that moment (every datetime in the rules is ``now`` plus a fixed offset). The conditions stay
# written once, above; this only caches what Django would compile from them.

_COMPILED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def clock_annotations(now: datetime) -> dict[str, RawSQL]:
    """:func:`clock_states` as annotations of a query over ``Incident`` (compiled once)."""
    return {
        name: _CompiledState(sql, [_at(now, param) for param in params], output_field=CharField())
        for name, (sql, params) in _compiled_states().items()
    }


class _CompiledState(RawSQL):
    """A clock state's compiled SQL. It names the incident table as the query's own alias; when
    Django relabels that alias (the query becomes a subquery), the SQL follows."""

    def relabeled_clone(self, change_map):
        from incidents.models import Incident

        table = Incident._meta.db_table
        if table not in change_map:
            return self
        clone = self.copy()
        # Django writes a relabelled alias (U0, T2) unquoted, so PostgreSQL folds it; so must we.
        clone.sql = self.sql.replace(f'"{table}".', f"{change_map[table]}.")
        return clone


def read_states(incident, now: datetime) -> None:
    """Set the clock states at ``now`` on one incident held in memory (just written), from the
    same compiled SQL evaluated over its own values: one short statement, no table read."""
    attributes, sql = _states_over_values()
    params = [_at(now, param) for _, compiled in _compiled_states().values() for param in compiled]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(getattr(incident, name) for name in attributes)])
        states = cursor.fetchone()
    for name, state in zip(_compiled_states(), states, strict=True):
        setattr(incident, name, state)


@functools.cache
def _states_over_values() -> tuple[tuple[str, ...], str]:
    """The compiled states as one SELECT over a VALUES row standing in for the incident's table:
    the columns they read, each cast to its column type (a NULL would otherwise be text)."""
    from incidents.models import Incident

    table = Incident._meta.db_table
    compiled = _compiled_states()
    columns = tuple(
        dict.fromkeys(re.findall(rf'"{table}"\."(\w+)"', " ".join(sql for sql, _ in compiled.values())))
    )
    fields = {field.column: field for field in Incident._meta.concrete_fields}
    casts = ", ".join(f"%s::{fields[column].db_type(connection)}" for column in columns)
    sql = (
        f"SELECT {', '.join(sql for sql, _ in compiled.values())}"
        f' FROM (VALUES ({casts})) AS "{table}" ({", ".join(columns)})'
    )
    return tuple(fields[column].attname for column in columns), sql


def _at(now: datetime, param):
    return now + (param - _COMPILED_AT) if isinstance(param, datetime) else param


@functools.cache
def _compiled_states() -> dict[str, tuple[str, tuple]]:
    from incidents.models import Incident

    query = Incident.objects.annotate(**clock_states(_COMPILED_AT)).query
    compiler = query.get_compiler(DEFAULT_DB_ALIAS)
    return {name: _sql(compiler, query.annotations[name]) for name in clock_states(_COMPILED_AT)}


def _sql(compiler, expression) -> tuple[str, tuple]:
    sql, params = compiler.compile(expression)
    return sql, tuple(params)
