"""Scans that find due reviews and expiring evidence and write their notifications to the outbox.

Each scan is one transaction of a handful of set-based statements, whatever the size of the
register. It looks for work by time range, never by exact date: every event (a reminder's moment,
a due date, an escalation) that fell between ``now - CATCH_UP`` and ``now`` is due, so a scan
after days without a worker or broker writes each missed notification once, while the dedupe key
(which names the event, not the scan) keeps a second scan, beat or worker from writing it again.
Candidate rows are locked ``FOR UPDATE SKIP LOCKED``: a concurrent scan passes them by, and a row
a person is editing right now is taken up by the next scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from governance import choices
from governance.models import AISystem, Evidence, Review, ReviewPolicy, TeamMembership, User
from governance.models.reviews import DEFAULT_ESCALATE_AFTER_DAYS, DEFAULT_REMINDER_LEAD_DAYS
from governance.services.notifications import enqueue_from_sql

# How far back a scan still catches up; older events are history, not news.
CATCH_UP = timedelta(days=30)
EVIDENCE_LEAD_DAYS = (30, 7, 1)

_T = {
    "review": Review._meta.db_table,
    "system": AISystem._meta.db_table,
    "policy": ReviewPolicy._meta.db_table,
    "membership": TeamMembership._meta.db_table,
    "evidence": Evidence._meta.db_table,
    "user_groups": User.groups.through._meta.db_table,
    "group": Group._meta.db_table,
}

# Users in the officer group (whether they are active is checked when the rows are written).
_OFFICERS = f"""
    SELECT ug.user_id FROM {_T["user_groups"]} ug
      JOIN {_T["group"]} g ON g.id = ug.group_id AND g.name = '{choices.Role.OFFICER}'
"""

_POLICY_LIMITS_SQL = f"""
SELECT coalesce(max(lead), 0), coalesce(max(p.escalate_after_days), 0)
  FROM {_T["policy"]} p LEFT JOIN LATERAL unnest(p.reminder_lead_days) AS lead ON true
"""

# The locked reviews with their system and the system's policy (exact class, else the tier's,
# else the defaults). Parameters: default lead days, default escalation days, locked ids.
_REVIEWS = f"""
    SELECT r.id, r.due_at, r.created_at, r.status, r.trigger, r.reason, r.reviewer_id,
           s.id AS system_id, s.slug, s.name, s.owning_team_id, s.business_owner_id, s.technical_owner_id,
           coalesce(pe.reminder_lead_days, pt.reminder_lead_days, %s::int[]) AS leads,
           coalesce(pe.escalate_after_days, pt.escalate_after_days, %s) AS escalate_after_days,
           to_char(r.due_at AT TIME ZONE 'UTC', 'YYYYMMDD') AS due_day
      FROM {_T["review"]} r
      JOIN {_T["system"]} s ON s.id = r.system_id
      LEFT JOIN {_T["policy"]} pe ON pe.risk_tier = s.risk_tier AND pe.eu_ai_act_class = s.eu_ai_act_class
      LEFT JOIN {_T["policy"]} pt ON pt.risk_tier = s.risk_tier AND pt.eu_ai_act_class = ''
     WHERE r.id = ANY(%s::bigint[]) AND r.status = ANY(%s::varchar[])
"""

_PAYLOAD = """jsonb_build_object(
           'review', r.id, 'system', r.slug, 'system_name', r.name, 'due_at', r.due_at,
           'status', r.status, 'trigger', r.trigger, 'reason', r.reason{extra})"""

# Owners, reviewer and officers for each event row ``r``.
_REVIEW_PEOPLE = f"""
     CROSS JOIN LATERAL (SELECT r.business_owner_id UNION SELECT r.technical_owner_id
                         UNION SELECT r.reviewer_id UNION {_OFFICERS}) AS people(user_id)
"""

# A reminder is due once its moment (due date minus lead) has come, until the review falls due
# (then the overdue notice takes over). A moment before the review was scheduled is skipped: a
# review scheduled ten days ahead is not announced as due in thirty.
_DUE_SQL = f"""
    SELECT people.user_id, 'governance.review', r.id::text, r.name,
           'review:' || r.id || ':due:' || r.due_day || ':' || r.lead || 'd',
           {_PAYLOAD.format(extra=", 'lead_days', r.lead")}
      FROM (SELECT rv.*, lead, rv.due_at - make_interval(days => lead) AS moment
              FROM ({_REVIEWS}) rv CROSS JOIN LATERAL unnest(rv.leads) AS lead) r
      {_REVIEW_PEOPLE}
     WHERE people.user_id IS NOT NULL
       AND r.due_at > %s AND r.moment <= %s AND r.moment > %s AND r.moment >= r.created_at
"""

_OVERDUE_SQL = f"""
    SELECT people.user_id, 'governance.review', r.id::text, r.name,
           'review:' || r.id || ':overdue:' || r.due_day,
           {_PAYLOAD.format(extra="")}
      FROM ({_REVIEWS}) r
      {_REVIEW_PEOPLE}
     WHERE people.user_id IS NOT NULL AND r.due_at < %s AND r.due_at > %s
"""

# Escalation goes to the leads of the owning team and to the officers.
_ESCALATION_SQL = f"""
    SELECT people.user_id, 'governance.review', r.id::text, r.name,
           'review:' || r.id || ':escalation:' || r.due_day,
           {_PAYLOAD.format(extra=", 'escalate_after_days', r.escalate_after_days")}
      FROM (SELECT rv.*, rv.due_at + make_interval(days => rv.escalate_after_days) AS moment
              FROM ({_REVIEWS}) rv) r
     CROSS JOIN LATERAL (SELECT m.user_id FROM {_T["membership"]} m
                          WHERE m.team_id = r.owning_team_id AND m.is_lead
                         UNION {_OFFICERS}) AS people(user_id)
     WHERE r.moment <= %s AND r.moment > %s
"""


def _policy_limits() -> tuple[int, int]:
    """The longest reminder lead and escalation delay of any policy or the defaults."""
    with connection.cursor() as cursor:
        cursor.execute(_POLICY_LIMITS_SQL)
        lead, escalate = cursor.fetchone()
    return max(lead, *DEFAULT_REMINDER_LEAD_DAYS), max(escalate, DEFAULT_ESCALATE_AFTER_DAYS)


@transaction.atomic
def scan_reviews(*, now: datetime | None = None) -> dict[str, int]:
    """Mark open reviews past their due date overdue, then write the reminders (``review_due``, each
    lead time of the policy), overdue notices and escalations that have fallen due, each once.

    Returns how many reviews went overdue and how many outbox rows of each kind were written.
    """
    now = now or timezone.now()
    max_lead, max_escalate = _policy_limits()
    # Open reviews overdue by the queryset's rule that the scan has not marked yet; a row someone
    # is editing now is left to the next scan.
    unmarked = (
        Review.objects.overdue(now)
        .exclude(status=choices.ReviewStatus.OVERDUE)
        .order_by()
        .select_for_update(skip_locked=True)
        .values("id")
    )
    went_overdue = Review.objects.filter(id__in=unmarked).update(
        status=choices.ReviewStatus.OVERDUE, updated_at=now
    )
    ids = list(
        Review.objects.open()
        .filter(
            due_at__gte=now - CATCH_UP - timedelta(days=max_escalate),
            due_at__lt=now + timedelta(days=max_lead),
        )
        .order_by()
        .select_for_update(skip_locked=True)
        .values_list("id", flat=True)
    )
    result = {"overdue_reviews": went_overdue, "review_due": 0, "review_overdue": 0, "review_escalation": 0}
    if not ids:
        return result
    reviews = [
        list(DEFAULT_REMINDER_LEAD_DAYS),
        DEFAULT_ESCALATE_AFTER_DAYS,
        ids,
        list(choices.OPEN_REVIEW_STATUSES),
    ]
    oldest = now - CATCH_UP
    for kind, sql, times in (
        (choices.NotificationKind.REVIEW_DUE, _DUE_SQL, [now, now, oldest]),
        (choices.NotificationKind.REVIEW_OVERDUE, _OVERDUE_SQL, [now, oldest]),
        (choices.NotificationKind.REVIEW_ESCALATION, _ESCALATION_SQL, [now, oldest]),
    ):
        result[kind.value] = enqueue_from_sql(
            kind=kind.value, source_sql=sql, params=[*reviews, *times], now=now
        )
    return result


_EVIDENCE_SQL = f"""
    WITH locked AS (
        SELECT id FROM {_T["evidence"]}
         WHERE valid_until >= %s AND valid_until <= %s
           FOR UPDATE SKIP LOCKED
    ), due AS (
        SELECT e.id, e.title, e.valid_until, coalesce(e.owner_id, e.uploaded_by_id) AS owner_id, lead,
               e.team_id
          FROM {_T["evidence"]} e
          JOIN locked ON locked.id = e.id
         CROSS JOIN LATERAL unnest(%s::int[]) AS lead
         WHERE e.valid_until - lead <= %s AND e.valid_until - lead > %s
           AND e.valid_until - lead >= (e.created_at AT TIME ZONE %s)::date
    )
    SELECT people.user_id, 'governance.evidence', due.id::text, due.title,
           'evidence:' || due.id || ':expiring:' || due.valid_until || ':' || due.lead || 'd',
           jsonb_build_object('evidence', due.id, 'title', due.title, 'valid_until', due.valid_until,
                              'expires_at', due.valid_until, 'lead_days', due.lead, 'team', due.team_id)
      FROM due
     CROSS JOIN LATERAL (SELECT due.owner_id UNION {_OFFICERS}) AS people(user_id)
     WHERE people.user_id IS NOT NULL
"""


@transaction.atomic
def scan_evidence_expiry(*, now: datetime | None = None) -> dict[str, int]:
    """Write an ``evidence_expiring`` notification to the evidence's owner (else its uploader) and
    the officers 30, 7 and 1 days before it expires, each once; returns the rows written.

    Evidence is valid through its ``valid_until`` day (in ``TIME_ZONE``); a lead time whose day
    came before the evidence was added is skipped.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    params = [
        today,
        today + timedelta(days=max(EVIDENCE_LEAD_DAYS)),
        list(EVIDENCE_LEAD_DAYS),
        today,
        today - CATCH_UP,
        settings.TIME_ZONE,
    ]
    written = enqueue_from_sql(
        kind=choices.NotificationKind.EVIDENCE_EXPIRING.value,
        source_sql=_EVIDENCE_SQL,
        params=params,
        now=now,
    )
    return {choices.NotificationKind.EVIDENCE_EXPIRING.value: written}
