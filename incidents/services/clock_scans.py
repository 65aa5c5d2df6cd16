"""The incident clock scan: outbox rows for breached SLAs and for Art. 73 reports due soon.

Run every five minutes by the beat (``incidents.tasks.scan_incident_clocks``). Which incidents
are due is decided by the rules of ``incidents.clock_rules``, as querysets; each kind is then one
set-based ``INSERT … SELECT`` through ``enqueue_from_sql`` over that queryset's SQL, whatever the
number of incidents. The dedupe keys name the event (the incident and the breach, or the incident
and its report deadline), never the scan, so each is written once however often the scan runs,
and a scan after an outage catches up on everything that is still true.

Recipients: the governance officers and the system's business and technical owners.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from governance.choices import NotificationKind, Role
from governance.models import AISystem, User
from governance.services.notifications import enqueue_from_sql
from incidents import clock_rules
from incidents.choices import ReportState
from incidents.models import Incident

# A report deadline that passed unwarned (the workers were down) is still told this long after.
REPORT_CATCH_UP = timedelta(days=7)

_T = {
    "incident": Incident._meta.db_table,
    "system": AISystem._meta.db_table,
    "user_groups": User.groups.through._meta.db_table,
    "group": Group._meta.db_table,
}

# The officers and the owners of the system of each row ``i`` (with its system ``s``).
_PEOPLE = f"""
     CROSS JOIN LATERAL (SELECT s.business_owner_id UNION SELECT s.technical_owner_id
                         UNION SELECT ug.user_id FROM {_T["user_groups"]} ug
                                JOIN {_T["group"]} g ON g.id = ug.group_id AND g.name = '{Role.OFFICER}'
                        ) AS people(user_id)
"""

_INCIDENT_PAYLOAD = """
           'incident', i.id, 'reference', i.reference, 'title', i.title, 'severity', i.severity,
           'status', i.status, 'system', s.slug, 'system_name', s.name"""

# One row per overdue step ``b`` (incident_id, breach, due_at), from the queryset below.
_SLA_SQL = f"""
    SELECT people.user_id, 'incidents.incident', i.id::text, i.reference || ' ' || i.title,
           'incident:' || i.id || ':sla:' || b.breach,
           jsonb_build_object({_INCIDENT_PAYLOAD}, 'breach', b.breach, 'due_at', b.due_at)
      FROM ({{breaches}}) AS b
      JOIN {_T["incident"]} i ON i.id = b.incident_id
      JOIN {_T["system"]} s ON s.id = i.system_id
      {_PEOPLE}
     WHERE people.user_id IS NOT NULL
"""

# One row per serious incident ``r`` to warn about (incident_id, report_state), from the
# queryset below. A deadline moved by a new ground is a new event.
_ART73_SQL = f"""
    SELECT people.user_id, 'incidents.incident', i.id::text, i.reference || ' ' || i.title,
           'incident:' || i.id || ':art73:' || to_char(i.report_due_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI'),
           jsonb_build_object({_INCIDENT_PAYLOAD}, 'report_due_at', i.report_due_at,
                              'report_due_rule', i.report_due_rule,
                              'overdue', r.report_state = '{ReportState.OVERDUE.value}')
      FROM ({{reports}}) AS r
      JOIN {_T["incident"]} i ON i.id = r.incident_id
      JOIN {_T["system"]} s ON s.id = i.system_id
      {_PEOPLE}
     WHERE people.user_id IS NOT NULL
"""


def overdue_steps(now: datetime):
    """``(incident_id, breach, due_at)`` of every SLA step overdue at ``now`` (the step not done,
    the incident active, its limit passed): ``breach`` is ``respond`` or ``resolve``. A step done
    late is breached too, but there is nothing left to chase, so it is not notified."""
    parts = [
        Incident.objects.filter(clock_rules.step_overdue_q(step, now))
        .order_by()
        .values(incident_id=F("id"), breach=Value(step.name), due_at=F(step.limit))
        for step in clock_rules.STEPS
    ]
    return parts[0].union(*parts[1:], all=True)


def reports_to_warn(now: datetime):
    """``(incident_id, report_state)`` of serious incidents whose initial report is due soon, or
    overdue since at most ``REPORT_CATCH_UP`` (older ones were warned of, or are history)."""
    due_soon = clock_rules.report_due_soon_q(now)
    recently_overdue = clock_rules.report_overdue_q(now) & Q(report_due_at__gte=now - REPORT_CATCH_UP)
    return (
        Incident.objects.filter(due_soon | recently_overdue)
        .order_by()
        .values(incident_id=F("id"), report_state=clock_rules.report_state(now))
    )


def _sql(queryset) -> tuple[str, list]:
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


@transaction.atomic
def scan_incident_clocks(*, now: datetime | None = None) -> dict[str, int]:
    """Write ``incident_sla_breach`` rows (per incident and breach: ``respond`` or ``resolve``) for
    active incidents with a step overdue, and ``art73_deadline`` rows for serious incidents whose
    initial report is due soon (within ``clock_rules.REPORT_DUE_SOON``) or recently overdue; each
    once. The conditions are those of ``incidents.clock_rules``. Returns the rows written per kind."""
    now = now or timezone.now()
    breaches, breach_params = _sql(overdue_steps(now))
    written_breaches = enqueue_from_sql(
        kind=NotificationKind.INCIDENT_SLA_BREACH,
        source_sql=_SLA_SQL.format(breaches=breaches),
        params=breach_params,
        now=now,
    )
    reports, report_params = _sql(reports_to_warn(now))
    written_reports = enqueue_from_sql(
        kind=NotificationKind.ART73_DEADLINE,
        source_sql=_ART73_SQL.format(reports=reports),
        params=report_params,
        now=now,
    )
    return {
        NotificationKind.INCIDENT_SLA_BREACH: written_breaches,
        NotificationKind.ART73_DEADLINE: written_reports,
    }
