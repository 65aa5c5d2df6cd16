"""What happens when an incident service asks for people to be told (``notification_requested``).

Two receivers, connected in ``IncidentsConfig.ready()``, each in its own transaction so that one
failing (it is logged by ``send_robust``) does not undo the other:

- :func:`write_outbox_rows` writes the notification to the outbox for the officers, the system's
  business and technical owners and the leads of the system's owning team;
- :func:`require_review_for_sev1` makes a review of the system due now, as a SEV1 incident is a
  material change.

The signal is sent after the incident's transaction commits, so neither runs for a rolled-back
write.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from governance.choices import OPEN_REVIEW_STATUSES, Role
from governance.models import Review, TeamMembership, User
from governance.services import notifications, reviews
from incidents.models import Incident
from incidents.services.notifications import SERIOUS_INCIDENT, SEV1

logger = logging.getLogger(__name__)

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


def _dedupe_key(kind: str, incident: Incident) -> str:
    # Flagging an incident serious again with another ground moves its deadline: that is news.
    # Anything else is told once per incident.
    if kind == SERIOUS_INCIDENT and incident.report_due_at is not None:
        return f"incident:{incident.pk}:{kind}:{incident.report_due_at:%Y%m%d%H%M}"
    return f"incident:{incident.pk}:{kind}"


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
        "respond_by": incident.respond_by,
        "resolve_by": incident.resolve_by,
        "report_due_at": incident.report_due_at,
        "report_due_rule": incident.report_due_rule,
        **extra,
    }


@transaction.atomic
def notify(*, kind: str, incident: Incident, reason: str, now: datetime | None = None) -> int:
    """Write the outbox rows of one incident notification (``sev1`` or ``serious_incident``);
    returns how many were written (none when this notification was written before)."""
    incident = Incident.objects.select_related("system").get(pk=incident.pk)
    return notifications.enqueue(
        kind=kind,
        recipients=incident_recipients(incident),
        subject_type=SUBJECT_TYPE,
        subject_id=str(incident.pk),
        subject_label=f"{incident.reference} {incident.title}",
        key=_dedupe_key(kind, incident),
        payload=incident_payload(incident, reason=reason),
        now=now,
    )


def write_outbox_rows(sender, *, kind: str, incident: Incident, reason: str, **kwargs) -> int:
    """Receiver of ``notification_requested``: the outbox rows for the people to be told."""
    return notify(kind=kind, incident=incident, reason=reason)


@transaction.atomic
def require_review_for_sev1(sender, *, kind: str, incident: Incident, **kwargs) -> None:
    """Receiver of ``notification_requested``: a SEV1 incident makes a review of its system due now."""
    if kind != SEV1:
        return
    system = Incident.objects.select_related("system").get(pk=incident.pk).system
    reason = f"SEV1 incident {incident.reference}"
    # Raised to SEV1 a second time while the review it opened is still open: nothing new to add
    # (the review service joins the reasons of several changes with "; ").
    open_review = Review.objects.filter(system=system, status__in=OPEN_REVIEW_STATUSES).first()
    if open_review is not None and reason in open_review.reason.split("; "):
        return
    reviews.require_review_now(system=system, reason=reason)
