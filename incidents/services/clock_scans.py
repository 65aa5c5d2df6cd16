"""The incident clock scan: outbox rows for breached SLAs and for Art. 73 reports due soon.

Run every five minutes by the beat (``incidents.tasks.scan_incident_clocks``). Each kind is one
set-based ``INSERT … SELECT`` through ``enqueue_from_sql``, whatever the number of incidents; the
dedupe keys name the event (the incident and the breach, or the incident and its report deadline),
never the scan, so each is written once however often the scan runs, and a scan after an outage
catches up on everything that is still true.

Recipients: the governance officers and the system's business and technical owners.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from governance.choices import NotificationKind, Role
from governance.models import AISystem, User
from governance.services.notifications import enqueue_from_sql
from incidents import choices
from incidents.models import Incident

Status = choices.IncidentStatus

# Not yet resolved and not set aside: the SLA clocks still run for these (the API's
# ``ACTIVE_STATUSES``; a test keeps the two equal).
OPEN_STATUSES = [Status.REPORTED, Status.TRIAGED, Status.INVESTIGATING, Status.MITIGATED]
# Warn this long before an Art. 73 initial report is due (the API's "due soon").
REPORT_DUE_SOON = timedelta(hours=24)
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

# Respond and resolve deadlines passed while the incident is still open and the step not done.
# Parameters: open statuses, now, open statuses, now.
_SLA_SQL = f"""
    SELECT people.user_id, 'incidents.incident', i.id::text, i.reference || ' ' || i.title,
           'incident:' || i.id || ':sla:' || i.breach,
           jsonb_build_object({_INCIDENT_PAYLOAD}, 'breach', i.breach, 'due_at', i.due_at)
      FROM (SELECT inc.*, 'respond' AS breach, inc.respond_by AS due_at
              FROM {_T["incident"]} inc
             WHERE inc.status = ANY(%s::varchar[]) AND inc.responded_at IS NULL AND inc.respond_by < %s
            UNION ALL
            SELECT inc.*, 'resolve', inc.resolve_by
              FROM {_T["incident"]} inc
             WHERE inc.status = ANY(%s::varchar[]) AND inc.resolved_at IS NULL AND inc.resolve_by < %s
           ) AS i
      JOIN {_T["system"]} s ON s.id = i.system_id
      {_PEOPLE}
     WHERE people.user_id IS NOT NULL
"""

# Serious incidents whose initial report is not sent and is due within a day (or came due
# recently without a warning). A deadline moved by a new ground is a new event.
# Parameters: now, earliest due, latest due.
_ART73_SQL = f"""
    SELECT people.user_id, 'incidents.incident', i.id::text, i.reference || ' ' || i.title,
           'incident:' || i.id || ':art73:' || to_char(i.report_due_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI'),
           jsonb_build_object({_INCIDENT_PAYLOAD}, 'report_due_at', i.report_due_at,
                              'report_due_rule', i.report_due_rule, 'overdue', i.report_due_at < %s)
      FROM {_T["incident"]} i
      JOIN {_T["system"]} s ON s.id = i.system_id
      {_PEOPLE}
     WHERE people.user_id IS NOT NULL
       AND i.is_serious AND i.initial_report_sent_at IS NULL
       AND i.report_due_at >= %s AND i.report_due_at <= %s
"""


@transaction.atomic
def scan_incident_clocks(*, now: datetime | None = None) -> dict[str, int]:
    """Write ``incident_sla_breach`` rows (per incident and breach: ``respond`` or ``resolve``) for
    open incidents past a deadline, and ``art73_deadline`` rows for serious incidents whose initial
    report is due within 24 hours and not sent; each once. Returns the rows written per kind."""
    now = now or timezone.now()
    statuses = [str(status) for status in OPEN_STATUSES]
    breaches = enqueue_from_sql(
        kind=NotificationKind.INCIDENT_SLA_BREACH,
        source_sql=_SLA_SQL,
        params=[statuses, now, statuses, now],
        now=now,
    )
    reports = enqueue_from_sql(
        kind=NotificationKind.ART73_DEADLINE,
        source_sql=_ART73_SQL,
        params=[now, now - REPORT_CATCH_UP, now + REPORT_DUE_SOON],
        now=now,
    )
    return {NotificationKind.INCIDENT_SLA_BREACH: breaches, NotificationKind.ART73_DEADLINE: reports}
