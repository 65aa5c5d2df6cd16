"""Corrective actions of an incident (ISO/IEC 42001 clause 10.2): what is done so that it does not
happen again, who owns it, by when, and how it was checked to work.

An action is open until it is verified (or cancelled); an incident closes only when none of its
actions is open. Marking an action verified needs a note on how it was checked, and stamps who
verified it and when; leaving ``verified`` clears both.

Every write is one transaction, takes keyword arguments only and the acting user explicitly, and
validates through the model layer (``full_clean``). Officers act on every incident's actions,
engineers on those of their teams' systems' incidents.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.exceptions import Conflict
from governance.models import User
from incidents import choices
from incidents.models import CorrectiveAction, Incident
from incidents.services.incidents import require_incident_permission, require_incident_scope
from incidents.services.lifecycle import FINAL_STATUSES

EDITABLE_FIELDS = ("description", "owner", "due_on", "status", "verification")
"""What adding or changing a corrective action may set; who verified it and when are stamped."""


def _require_editable(changes: Mapping[str, object]) -> None:
    unknown = sorted(set(changes).difference(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})


def _stamp_verification(action: CorrectiveAction, actor: User, previous_status: str | None) -> None:
    if action.status == choices.CorrectiveActionStatus.VERIFIED:
        if not (action.verification or "").strip():
            raise ValidationError(
                {"verification": "Say how the action was checked to work before verifying it."}
            )
        if previous_status != choices.CorrectiveActionStatus.VERIFIED:
            action.verified_by = actor
            action.verified_at = timezone.now()
    else:
        action.verified_by = None
        action.verified_at = None


def _validate_and_save(action: CorrectiveAction) -> CorrectiveAction:
    action.full_clean(exclude=["incident", "owner", "verified_by"])
    action.save()
    return action


@transaction.atomic
def add_corrective_action(*, actor: User, incident: Incident, data: Mapping[str, object]) -> CorrectiveAction:
    """Add a corrective action to an incident that is still being worked on."""
    require_incident_permission(actor, "add_correctiveaction")
    require_incident_scope(actor, incident)
    _require_editable(data)
    incident = Incident.objects.select_for_update(of=("self",)).get(pk=incident.pk)
    if incident.status in FINAL_STATUSES:
        raise Conflict(f"The incident is {incident.status}: it takes no new corrective actions.")
    action = CorrectiveAction(incident=incident, **data)
    _stamp_verification(action, actor, None)
    return _validate_and_save(action)


@transaction.atomic
def update_corrective_action(
    *, actor: User, action: CorrectiveAction, changes: Mapping[str, object]
) -> CorrectiveAction:
    """Change an action: its description, owner, due date, status or verification note.

    An action of a closed incident cannot be reopened.
    """
    require_incident_permission(actor, "change_correctiveaction")
    require_incident_scope(actor, action.incident)
    _require_editable(changes)
    # The incident first, as closing it does: a close and a reopening cannot interleave.
    incident = Incident.objects.select_for_update(of=("self",)).get(pk=action.incident_id)
    action = CorrectiveAction.objects.select_for_update(of=("self",)).get(pk=action.pk)
    action.incident = incident
    previous_status = action.status
    for field, value in changes.items():
        setattr(action, field, value)
    if (
        action.incident.status == choices.IncidentStatus.CLOSED
        and action.status in CorrectiveAction.OPEN_STATUSES
        and previous_status not in CorrectiveAction.OPEN_STATUSES
    ):
        raise Conflict(f"{action.incident.reference} is closed: its corrective actions cannot be reopened.")
    _stamp_verification(action, actor, previous_status)
    return _validate_and_save(action)
