"""An incident's status and its EU AI Act reporting track.

Status changes go only through :func:`transition`, along :data:`ALLOWED_TRANSITIONS`; each one
is written to the timeline. Flagging an incident serious (:func:`flag_serious` adds grounds,
:func:`set_serious` sets them exactly, with a written reason for anything that loosens the
Art. 73 duty) and recording the reports sent to the market surveillance authority
(:func:`record_authority_report`) are for governance officers.

Every write is one transaction, takes keyword arguments only and the acting user explicitly, and
validates through the model layer (``full_clean``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.change_context import change_context
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
Ground = choices.SeriousIncidentGround

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
WIDESPREAD_NEEDS_A_GROUND = (
    "A widespread infringement is flagged on a serious incident: name its Art. 3(49) grounds too."
)


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


def _parse_grounds(grounds: Iterable[str]) -> list[str]:
    """The Art. 3(49) grounds named, each once, in the order of ``SeriousIncidentGround``."""
    if isinstance(grounds, str) or not isinstance(grounds, Iterable):
        raise ValidationError({"grounds": "Give the Art. 3(49) grounds as a list."})
    named, unknown = set(), []
    for ground in grounds:
        try:
            named.add(Ground.parse(ground).value)
        except ValueError:
            unknown.append(repr(ground))
    if unknown:
        allowed = ", ".join(member.value for member in Ground)
        raise ValidationError(
            {"grounds": f"Unknown Art. 3(49) ground {', '.join(unknown)}; expected one of: {allowed}."}
        )
    return [member.value for member in Ground if member.value in named]


def _labels(grounds: Iterable[str]) -> str:
    return "; ".join(Ground(ground).label for ground in grounds)


def _day(value: datetime) -> str:
    """The calendar day (Brussels) an Art. 73 deadline ends with."""
    return f"{value.astimezone(ZoneInfo(clocks.EU_DEADLINE_TIMEZONE)):%Y-%m-%d}"


@transaction.atomic
def flag_serious(
    *, actor: User, incident: Incident, grounds: Iterable[str], widespread: bool = False
) -> Incident:
    """Flag a serious incident, or add to its flag: the Art. 3(49) ``grounds`` are added to those
    it has (an incident can meet several) and ``widespread`` (Art. 3(61)) is set when true, never
    cleared. The reporting deadline is the earliest any ground or the widespread scope gives,
    counted from when the provider became aware (Art. 73, see ``clocks``), so adding can only keep
    it or bring it forward: flagged (b), 2 days, then (c), 15 days, it stays at 2 days.

    Flagging with grounds the incident already has writes nothing: no timeline entry, no notice.
    Taking grounds away goes through :func:`set_serious`, with a reason. Officers only.
    """
    require_incident_permission(actor, "change_incident")
    require_officer(actor, "flag serious incidents")
    added = _parse_grounds(grounds)
    if not added and not widespread:
        raise ValidationError({"grounds": "Name at least one Art. 3(49) ground to flag."})
    incident = lock_incident(incident)
    merged = _parse_grounds([*incident.serious_grounds, *added])
    if not merged:
        raise ValidationError({"grounds": WIDESPREAD_NEEDS_A_GROUND})
    return _change_serious(
        actor=actor,
        incident=incident,
        grounds=merged,
        widespread=incident.widespread_infringement or widespread,
        reason="",
    )


@transaction.atomic
def set_serious(
    *, actor: User, incident: Incident, grounds: Iterable[str], widespread: bool, reason: str = ""
) -> Incident:
    """Set exactly which Art. 3(49) ``grounds`` the incident meets and whether it is a widespread
    infringement; no grounds and not widespread withdraws the serious flag.

    Anything that loosens the Art. 73 duty (removing a ground, clearing the widespread scope,
    withdrawing the flag, or a deadline that moves later) needs the officer's written ``reason``,
    which goes on the timeline and into the change history; without one it is refused with a
    message on ``reason``. The flag of an incident already reported to the authority cannot be
    withdrawn (a ``Conflict``). Setting what the incident already has writes nothing. Officers only.
    """
    require_incident_permission(actor, "change_incident")
    require_officer(actor, "flag serious incidents")
    wanted = _parse_grounds(grounds)
    if widespread and not wanted:
        raise ValidationError({"grounds": WIDESPREAD_NEEDS_A_GROUND})
    incident = lock_incident(incident)
    if not wanted and (incident.initial_report_sent_at or incident.complete_report_sent_at):
        raise Conflict(
            "This incident was reported to the authority under Art. 73, so it stays flagged serious; "
            "change its grounds instead.",
            field="grounds",
        )
    return _change_serious(
        actor=actor,
        incident=incident,
        grounds=wanted,
        widespread=bool(widespread),
        reason=(reason or "").strip(),
    )


def _change_serious(
    *, actor: User, incident: Incident, grounds: list[str], widespread: bool, reason: str
) -> Incident:
    """Apply the grounds and scope to the locked ``incident``: deadline, timeline entry and, when
    the incident becomes serious or its deadline moves, the ``serious_incident`` notice, all in
    the caller's transaction."""
    was_serious, before_due = incident.is_serious, incident.report_due_at
    before, before_widespread = list(incident.serious_grounds), incident.widespread_infringement
    if (grounds, widespread) == (before, before_widespread):
        return incident  # nothing new: nothing written, nobody told again

    deadline = (
        clocks.art73_deadline(ground=grounds, widespread=widespread, became_aware_at=incident.became_aware_at)
        if grounds
        else None
    )
    due = deadline.due_at if deadline else None
    removed = [ground for ground in before if ground not in grounds]
    added = [ground for ground in grounds if ground not in before]
    loosened = []
    if removed:
        loosened.append(f"removing {_labels(removed)}")
    if before_widespread and not widespread:
        loosened.append("clearing the widespread infringement")
    if was_serious and not grounds:
        loosened.append("withdrawing the serious flag")
    if before_due is not None and due is not None and due > before_due:
        loosened.append(f"moving the report deadline from {_day(before_due)} to {_day(due)}")
    if loosened and not reason:
        raise ValidationError(
            {"reason": f"Give a written reason for {'; '.join(loosened)}. It goes on the timeline."}
        )

    incident.is_serious = bool(grounds)
    incident.serious_grounds = grounds
    incident.widespread_infringement = widespread
    incident.report_due_at = due
    incident.report_due_rule = deadline.paragraph if deadline else ""
    validate_incident(incident)
    with change_context(reason=reason) if reason else nullcontext():
        incident.save()

    if not was_serious:
        kind, event = choices.TimelineKind.FLAGGED_SERIOUS, "flagged_serious"
    else:
        kind = choices.TimelineKind.SERIOUS_GROUNDS
        event = "serious_grounds_changed" if grounds else "unflagged"
    lines = [deadline.reason if deadline else "No longer a serious incident: no Art. 73 report is due."]
    if reason:
        lines.append(f"Reason: {reason}")
    data = {
        "event": event,
        "grounds": grounds,
        "added": added,
        "removed": removed,
        "widespread": widespread,
        "report_due_at": _iso(due),
        "rule": incident.report_due_rule,
    }
    if was_serious:
        data["previous_report_due_at"] = _iso(before_due)
    if reason:
        data["reason"] = reason
    entry = add_timeline_entry(actor=actor, incident=incident, kind=kind, body="\n".join(lines), data=data)
    if deadline is not None and (not was_serious or due != before_due):
        notify_incident(
            kind=SERIOUS_INCIDENT, incident=incident, reason=" ".join(lines), event=f"timeline{entry.pk}"
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
