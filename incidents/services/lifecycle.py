"""An incident's status and its EU AI Act reporting track.

Status changes go only through :func:`transition`, along :data:`ALLOWED_TRANSITIONS`; each one
is written to the timeline. Flagging an incident serious (:func:`flag_serious`) and recording the
reports sent to the market surveillance authority (:func:`record_authority_report`) are for
governance officers.

Every write is one transaction, takes keyword arguments only and the acting user explicitly, and
validates through the model layer (``full_clean``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.exceptions import Conflict
from governance.models import User
from incidents import choices
from incidents.models import CorrectiveAction, Incident
from incidents.services import clocks
from incidents.services.incidents import (
    add_timeline_entry,
    lock_incident,
    refuse_future,
    require_incident_permission,
    require_incident_scope,
    require_officer,
    validate_incident,
)
from incidents.services.notifications import SERIOUS_INCIDENT, notify_incident

Status = choices.IncidentStatus

ALLOWED_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    Status.REPORTED: (Status.TRIAGED, Status.REJECTED, Status.DUPLICATE),
    Status.TRIAGED: (Status.INVESTIGATING, Status.REJECTED, Status.DUPLICATE),
    Status.INVESTIGATING: (Status.MITIGATED, Status.RESOLVED),
    Status.MITIGATED: (Status.RESOLVED, Status.INVESTIGATING),
    Status.RESOLVED: (Status.CLOSED, Status.INVESTIGATING),
    Status.CLOSED: (),
    Status.REJECTED: (),
    Status.DUPLICATE: (),
}
FINAL_STATUSES = frozenset(status for status, targets in ALLOWED_TRANSITIONS.items() if not targets)

REPORTS = ("initial", "complete")


class InvalidTransition(Conflict):
    """A status change the lifecycle does not allow; ``allowed`` lists the ones it does."""

    def __init__(self, *, current: str, to: str, allowed: tuple[str, ...]):
        listed = ", ".join(allowed) if allowed else f"none ({current} is final)"
        super().__init__(
            f"An incident cannot go from {current} to {to}. Allowed from {current}: {listed}.", field="to"
        )
        self.allowed = list(allowed)


def allowed_transitions(status: str) -> list[str]:
    return list(ALLOWED_TRANSITIONS.get(status, ()))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


# --- Status -------------------------------------------------------------------------------------


def _require_duplicate_target(actor: User, incident: Incident, target: Incident | None) -> None:
    if target is None:
        raise ValidationError({"duplicate_of": "Name the incident this one duplicates."})
    if target.pk == incident.pk:
        raise ValidationError({"duplicate_of": "An incident cannot duplicate itself."})
    if not Incident.objects.visible_to(actor).filter(pk=target.pk).exists():
        raise ValidationError({"duplicate_of": f"No incident {target.reference}."})
    if target.status == Status.DUPLICATE:
        original = Incident.objects.only("reference").get(pk=target.duplicate_of_id)
        message = f"{target.reference} is itself a duplicate of {original.reference}; name that one."
        raise ValidationError({"duplicate_of": message})


def _refuse_closing_with_open_actions(incident: Incident) -> None:
    open_actions = list(
        incident.corrective_actions.filter(status__in=CorrectiveAction.OPEN_STATUSES).order_by("id")
    )
    if open_actions:
        listed = "; ".join(
            f"#{action.pk} “{action.description[:60]}” ({action.get_status_display().lower()})"
            for action in open_actions
        )
        raise Conflict(
            f"The incident cannot be closed while corrective actions are open: {listed}. "
            "Verify or cancel them first."
        )


@transaction.atomic
def transition(
    *, actor: User, incident: Incident, to: str, note: str = "", duplicate_of: Incident | None = None
) -> Incident:
    """Move the incident to status ``to``, if :data:`ALLOWED_TRANSITIONS` allows it.

    The first move out of ``reported`` (triage, or deciding it is rejected or a duplicate) stamps
    ``responded_at``; resolving stamps ``resolved_at`` and reopening a resolved incident clears
    it. Marking a duplicate names the original (``duplicate_of``, itself not a duplicate). Closing
    is refused while corrective actions are open, done but unverified included. Raises
    :class:`InvalidTransition` (a ``Conflict``) for a move the lifecycle does not allow.
    """
    require_incident_permission(actor, "change_incident")
    require_incident_scope(actor, incident)
    if to not in Status.values:
        raise ValidationError({"to": f"Unknown status {to!r}; expected one of: {', '.join(Status.values)}."})
    incident = lock_incident(incident)
    current = incident.status
    if to not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(current=current, to=to, allowed=ALLOWED_TRANSITIONS[current])
    if to == Status.DUPLICATE:
        _require_duplicate_target(actor, incident, duplicate_of)
        incident.duplicate_of = duplicate_of
    elif duplicate_of is not None:
        raise ValidationError({"duplicate_of": "Only an incident marked duplicate names an original."})
    if to == Status.CLOSED:
        _refuse_closing_with_open_actions(incident)

    now = timezone.now()
    if current == Status.REPORTED and incident.responded_at is None:
        incident.responded_at = now
    if to == Status.RESOLVED:
        incident.resolved_at = now
    elif current == Status.RESOLVED and to == Status.INVESTIGATING:
        incident.resolved_at = None
    incident.status = to
    validate_incident(incident)
    incident.save()

    data = {"from": current, "to": to}
    if to == Status.DUPLICATE:
        data["duplicate_of"] = duplicate_of.reference
    add_timeline_entry(
        actor=actor, incident=incident, kind=choices.TimelineKind.STATUS_CHANGE, body=note, data=data
    )
    return incident


# --- EU AI Act Art. 73 --------------------------------------------------------------------------


@transaction.atomic
def flag_serious(*, actor: User, incident: Incident, ground: str, widespread: bool = False) -> Incident:
    """Flag a serious incident (Art. 3(49) ``ground``; ``widespread``: Art. 3(61)) and set its
    reporting deadline from when the provider became aware (Art. 73, see ``clocks``).

    Flagging again with another ground or scope recomputes the deadline; flagging again with the
    same ones changes nothing. Officers only.
    """
    require_incident_permission(actor, "change_incident")
    require_officer(actor, "flag serious incidents")
    grounds = [member.value for member in choices.SeriousIncidentGround]
    if ground not in grounds:
        allowed = ", ".join(grounds)
        raise ValidationError(
            {"ground": f"Unknown Art. 3(49) ground {ground!r}; expected one of: {allowed}."}
        )
    incident = lock_incident(incident)
    if incident.is_serious and (incident.serious_ground, incident.widespread_infringement) == (
        ground,
        widespread,
    ):
        return incident

    deadline = clocks.art73_deadline(
        ground=ground, widespread=widespread, became_aware_at=incident.became_aware_at
    )
    previous_due = incident.report_due_at
    incident.is_serious = True
    incident.serious_ground = ground
    incident.widespread_infringement = widespread
    incident.report_due_at = deadline.due_at
    incident.report_due_rule = deadline.paragraph
    validate_incident(incident)
    incident.save()
    add_timeline_entry(
        actor=actor,
        incident=incident,
        kind=choices.TimelineKind.AUTHORITY_REPORT,
        body=deadline.reason,
        data={
            "event": "flagged_serious",
            "ground": ground,
            "widespread": widespread,
            "report_due_at": _iso(deadline.due_at),
            "rule": deadline.paragraph,
        },
    )
    if previous_due != incident.report_due_at:
        # Another ground that moves the deadline is news; the same deadline again is not.
        notify_incident(
            kind=SERIOUS_INCIDENT,
            incident=incident,
            reason=deadline.reason,
            event=f"{incident.report_due_at.astimezone(UTC):%Y%m%d%H%M}",
        )
    return incident


@transaction.atomic
def record_authority_report(
    *,
    actor: User,
    incident: Incident,
    report: str,
    sent_at: datetime | None = None,
    authority_reference: str = "",
) -> Incident:
    """Record that the ``initial`` or ``complete`` Art. 73 report was sent (``sent_at``, default now),
    with the authority's reference for the case if given. A complete report also counts as the
    initial one when none was recorded. Each report is recorded once. Officers only.
    """
    require_incident_permission(actor, "change_incident")
    require_officer(actor, "record reports to authorities")
    if report not in REPORTS:
        raise ValidationError({"report": f"Expected one of: {', '.join(REPORTS)}."})
    incident = lock_incident(incident)
    if not incident.is_serious:
        raise Conflict("Only serious incidents are reported under Art. 73; flag the incident serious first.")
    field = f"{report}_report_sent_at"
    already = getattr(incident, field)
    if already is not None:
        raise Conflict(f"The {report} report was already recorded as sent at {_iso(already)}.")

    now = timezone.now()
    sent_at = sent_at or now
    refuse_future(now, sent_at=sent_at)
    if sent_at < incident.became_aware_at:
        raise ValidationError({"sent_at": "A report cannot be sent before the provider became aware."})
    if report == "complete":
        if incident.initial_report_sent_at is None:
            incident.initial_report_sent_at = sent_at
        elif sent_at < incident.initial_report_sent_at:
            raise ValidationError({"sent_at": "The complete report cannot precede the initial one."})
    setattr(incident, field, sent_at)
    if authority_reference:
        incident.authority_reference = authority_reference
    validate_incident(incident)
    incident.save()
    add_timeline_entry(
        actor=actor,
        incident=incident,
        kind=choices.TimelineKind.AUTHORITY_REPORT,
        data={
            "event": f"{report}_report_sent",
            "sent_at": _iso(sent_at),
            "authority_reference": incident.authority_reference,
            "report_due_at": _iso(incident.report_due_at),
            "on_time": incident.report_due_at is None or sent_at <= incident.report_due_at,
        },
    )
    return incident
