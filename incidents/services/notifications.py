"""Telling people about an incident: outbox rows for a SEV1 or a serious incident, and the review
a SEV1 makes due.

Incident services call :func:`notify_incident` inside their own transaction, so the incident, its
outbox rows and the review commit together or not at all: a process that dies right after the
commit has already written everything, and one that dies before it has written nothing. Only the
delivery kick (queueing the Celery deliveries of the new rows) waits for the commit, in
``governance.services.notifications.enqueue``; if it never runs, the beat's ``deliver_due`` sweep
sends the rows, each once, by their dedupe keys and leases.

Kinds:

- ``sev1``: an incident was reported as, or raised to, SEV1; it also makes a review of the
  system due now, as a SEV1 incident is a material change;
- ``serious_incident``: an incident was flagged serious (EU AI Act Art. 73) or its report
  deadline moved.

Recipients: the active officers, the system's business and technical owners and the leads of the
system's owning team.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q

from governance.choices import OPEN_REVIEW_STATUSES, Role
from governance.models import Review, TeamMembership, User
from governance.services import notifications, reviews
from incidents.models import Incident

SEV1 = "sev1"
SERIOUS_INCIDENT = "serious_incident"
SUBJECT_TYPE = "incidents.incident"


def incident_recipients(incident: Incident) -> list[User]:
    """The active officers, the system's business and technical owners and the leads of the team
    that owns the system, each once."""
    system = incident.system
    owners = [pk for pk in (system.business_owner_id, system.technical_owner_id) if pk]
    leads = TeamMembership.objects.filter(team_id=system.owning_team_id, is_lead=True).values("user_id")
    officers = User.groups.through.objects.filter(group__name=Role.OFFICER).values("user_id")
    return list(
        User.objects.filter(Q(pk__in=owners) | Q(pk__in=leads) | Q(pk__in=officers), is_active=True).order_by(
            "pk"
        )
    )


def _utc(value: datetime | None) -> datetime | None:
    # The deadline is computed in Brussels time; payloads carry instants in UTC like the scans'.
    return value.astimezone(UTC) if value is not None else None


def incident_payload(incident: Incident, **extra) -> dict:
    system = incident.system
    return {
        "incident": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "system": system.slug,
        "system_name": system.name,
        "respond_by": _utc(incident.respond_by),
        "resolve_by": _utc(incident.resolve_by),
        "serious_grounds": list(incident.serious_grounds),
        "report_due_at": _utc(incident.report_due_at),
        "report_due_rule": incident.report_due_rule,
        **extra,
    }


@transaction.atomic
def notify_incident(
    *, kind: str, incident: Incident, reason: str, event: str = "", now: datetime | None = None
) -> int:
    """Write the outbox rows of one incident notification (``sev1`` or ``serious_incident``) in the
    caller's transaction and, for a SEV1, make a review of the system due now. Returns how many
    rows were written (none when this notification was written before).

    ``event`` names what is being told when an incident can have several of that kind (the
    timeline entry of a serious flag or a moved deadline); without it the notification is told
    once per incident.
    """
    key = f"incident:{incident.pk}:{kind}" + (f":{event}" if event else "")
    written = notifications.enqueue(
        kind=kind,
        recipients=incident_recipients(incident),
        subject_type=SUBJECT_TYPE,
        subject_id=str(incident.pk),
        subject_label=f"{incident.reference} {incident.title}",
        key=key,
        payload=incident_payload(incident, reason=reason),
        now=now,
    )
    if kind == SEV1:
        _require_review_for_sev1(incident)
    return written


def _require_review_for_sev1(incident: Incident) -> None:
    """A SEV1 incident makes a review of its system due now (a material change)."""
    reason = f"SEV1 incident {incident.reference}"
    # Raised to SEV1 a second time while the review it opened is still open: nothing new to add
    # (the review service joins the reasons of several changes with "; ").
    open_review = Review.objects.filter(system=incident.system, status__in=OPEN_REVIEW_STATUSES).first()
    if open_review is not None and reason in open_review.reason.split("; "):
        return
    reviews.require_review_now(system=incident.system, reason=reason)
