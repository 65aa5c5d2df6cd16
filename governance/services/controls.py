"""Writes to the control library and to where each control is implemented.

Every function is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer (``full_clean``) and leaves the change history to the
database triggers.

Who may write what:

- controls (the shared library) and their requirement mappings: officers;
- implementations: officers for any system and organisation-wide; engineers only for systems of
  their teams, never organisation-wide ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction

from governance.exceptions import Conflict, NotAllowed
from governance.models import AISystem, Control, ControlImplementation, Requirement, User
from governance.services.access import is_officer, require_permission, require_team_scope

_ORG_WIDE_OFFICERS_ONLY = "Only governance officers manage organisation-wide implementations"

# Model constraints whose violation belongs to one field rather than to the whole row.
_IMPLEMENTATION_CONSTRAINT_FIELDS = {
    constraint.violation_error_message: "system" for constraint in ControlImplementation._meta.constraints
}


def full_clean_on_fields(obj: models.Model, constraint_fields: Mapping[str, str]) -> None:
    """``full_clean`` the row, filing constraint violations under the field they concern.

    Django reports a violated multi-column constraint as a non-field error; ``constraint_fields``
    maps such a constraint's message to the field a person should correct.
    """
    try:
        obj.full_clean()
    except ValidationError as exc:
        errors: dict[str, list] = {}
        for field, messages in exc.message_dict.items():
            for message in messages:
                target = constraint_fields.get(message, field) if field == NON_FIELD_ERRORS else field
                errors.setdefault(target, []).append(message)
        raise ValidationError(errors) from exc


def existing_ids(model: type[models.Model], ids: Iterable[int], *, field: str, label: str) -> list[int]:
    """The ids, without repeats and in the given order; a field error names any unknown ones."""
    wanted = list(dict.fromkeys(ids))
    found = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise ValidationError({field: f"Unknown {label} id(s): {', '.join(missing)}."})
    return wanted


# --- Controls -----------------------------------------------------------------------------------


@transaction.atomic
def create_control(
    *, actor: User, data: Mapping[str, object], requirement_ids: Iterable[int] | None = None
) -> Control:
    """Add a control to the library, optionally mapped to requirements of any frameworks."""
    require_permission(actor, "add_control")
    control = Control(**data)
    control.full_clean()
    control.save()
    if requirement_ids is not None:
        _set_requirements(control, requirement_ids)
    return control


@transaction.atomic
def update_control(
    *,
    actor: User,
    control: Control,
    changes: Mapping[str, object],
    requirement_ids: Iterable[int] | None = None,
) -> Control:
    """Change a control's fields and, if ``requirement_ids`` is given, its full set of mappings."""
    require_permission(actor, "change_control")
    control = Control.objects.select_for_update().get(pk=control.pk)
    for field, value in changes.items():
        setattr(control, field, value)
    control.full_clean()
    control.save()
    if requirement_ids is not None:
        _set_requirements(control, requirement_ids)
    return control


@transaction.atomic
def save_control(*, actor: User, control: Control) -> Control:
    """Save a control edited in a form (the admin); mappings go through ``set_control_requirements``."""
    require_permission(actor, "change_control" if control.pk else "add_control")
    control.full_clean()
    control.save()
    return control


@transaction.atomic
def set_control_requirements(*, actor: User, control: Control, requirement_ids: Iterable[int]) -> Control:
    """Make the control's mapped requirements exactly ``requirement_ids`` (from any framework)."""
    require_permission(actor, "change_control")
    _set_requirements(control, requirement_ids)
    return control


def _set_requirements(control: Control, requirement_ids: Iterable[int]) -> None:
    ids = existing_ids(Requirement, requirement_ids, field="requirements", label="requirement")
    # ``set`` adds and removes only the differences, so the history shows what really changed.
    control.requirements.set(ids)


@transaction.atomic
def delete_control(*, actor: User, control: Control) -> None:
    """Remove a control from the library; refused while it is implemented anywhere.

    Deleting it would silently take every team's implementation records (and their evidence
    links) with it: those are deleted first, deliberately.
    """
    require_permission(actor, "delete_control")
    count = control.implementations.count()
    if count:
        raise Conflict(f"The control is still implemented {count} time(s); delete its implementations first.")
    control.delete()


# --- Implementations ----------------------------------------------------------------------------


def _require_implementation_scope(actor: User, system: AISystem | None) -> None:
    """Officers: anywhere. Engineers: systems of their teams, never organisation-wide."""
    if system is None:
        if not is_officer(actor):
            raise ValidationError({"system": f"{_ORG_WIDE_OFFICERS_ONLY}; name one of your teams' systems."})
        return
    require_team_scope(actor, system.owning_team, field="system")


def _require_may_change(actor: User, implementation: ControlImplementation) -> None:
    """The row as it is now must be the actor's to change."""
    if implementation.system_id is None:
        if not is_officer(actor):
            raise NotAllowed(f"{_ORG_WIDE_OFFICERS_ONLY}.")
        return
    require_team_scope(actor, implementation.system.owning_team, field="system")


def _validate_and_save(implementation: ControlImplementation) -> ControlImplementation:
    full_clean_on_fields(implementation, _IMPLEMENTATION_CONSTRAINT_FIELDS)
    implementation.save()
    return implementation


@transaction.atomic
def create_implementation(*, actor: User, data: Mapping[str, object]) -> ControlImplementation:
    """Record how a control is implemented for one system, or organisation-wide (``system`` None).

    A control has at most one implementation per system and one organisation-wide; a second
    one is refused with a message on ``system``. "Not applicable" needs a justification.
    """
    require_permission(actor, "add_controlimplementation")
    implementation = ControlImplementation(**data)
    _require_implementation_scope(actor, implementation.system if implementation.system_id else None)
    return _validate_and_save(implementation)


@transaction.atomic
def update_implementation(
    *, actor: User, implementation: ControlImplementation, changes: Mapping[str, object]
) -> ControlImplementation:
    """Change an implementation; moving it to another system needs scope on both."""
    require_permission(actor, "change_controlimplementation")
    _require_may_change(actor, implementation)
    implementation = (
        ControlImplementation.objects.select_for_update(of=("self",))
        .select_related("system__owning_team")
        .get(pk=implementation.pk)
    )
    for field, value in changes.items():
        setattr(implementation, field, value)
    if "system" in changes:
        _require_implementation_scope(actor, implementation.system if implementation.system_id else None)
    return _validate_and_save(implementation)


@transaction.atomic
def save_implementation(
    *, actor: User, implementation: ControlImplementation, original_system_id: int | None = None
) -> ControlImplementation:
    """Save an implementation edited in a form (the admin), with the same scope rules.

    ``original_system_id`` is the system the row had before the edit (None for a new row or
    one that was organisation-wide).
    """
    adding = implementation.pk is None
    require_permission(actor, "add_controlimplementation" if adding else "change_controlimplementation")
    if not adding:
        before = ControlImplementation(system_id=original_system_id)
        _require_may_change(actor, before)
    _require_implementation_scope(actor, implementation.system if implementation.system_id else None)
    return _validate_and_save(implementation)


@transaction.atomic
def delete_implementation(*, actor: User, implementation: ControlImplementation) -> None:
    require_permission(actor, "delete_controlimplementation")
    _require_may_change(actor, implementation)
    implementation.delete()
