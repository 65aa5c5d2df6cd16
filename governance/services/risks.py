"""Writes to the AI risk register.

Every function is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer (``full_clean``) and leaves the change history to the
database triggers. Officers manage every system's risks; engineers those of their teams' systems.

Likelihood and impact are scored 1 to 5; the database computes the inherent and residual scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction

from governance.models import AISystem, Control, Risk, User
from governance.services.access import require_permission, require_team_scope
from governance.services.controls import existing_ids, full_clean_on_fields

_RESIDUAL_PAIR = next(c for c in Risk._meta.constraints if c.name == "risk_residual_pair")
_RESIDUAL_FIELDS = ("residual_likelihood", "residual_impact")


def _require_scope(actor: User, system: AISystem | None) -> None:
    require_team_scope(actor, system.owning_team if system is not None else None, field="system")


def _validate_and_save(risk: Risk) -> Risk:
    """``full_clean`` with the residual pair rule reported on the field that is missing."""
    given = [name for name in _RESIDUAL_FIELDS if getattr(risk, name) is not None]
    missing = next((name for name in _RESIDUAL_FIELDS if name not in given), "residual_impact")
    full_clean_on_fields(risk, {_RESIDUAL_PAIR.violation_error_message: missing})
    risk.save()
    return risk


def _set_controls(risk: Risk, control_ids: Iterable[int]) -> None:
    ids = existing_ids(Control, control_ids, field="controls", label="control")
    risk.controls.set(ids)


@transaction.atomic
def create_risk(*, actor: User, data: Mapping[str, object], control_ids: Iterable[int] | None = None) -> Risk:
    """Register a risk of a system the actor may manage, optionally linked to the controls treating it."""
    require_permission(actor, "add_risk")
    risk = Risk(**data)
    _require_scope(actor, risk.system if risk.system_id else None)
    _validate_and_save(risk)  # the INSERT returns the generated scores
    if control_ids is not None:
        _set_controls(risk, control_ids)
    return risk


@transaction.atomic
def update_risk(
    *,
    actor: User,
    risk: Risk,
    changes: Mapping[str, object],
    control_ids: Iterable[int] | None = None,
) -> Risk:
    """Change a risk and, if ``control_ids`` is given, its full set of linked controls.

    Moving a risk to another system needs scope on both systems.
    """
    require_permission(actor, "change_risk")
    _require_scope(actor, risk.system)
    risk = Risk.objects.select_for_update(of=("self",)).select_related("system__owning_team").get(pk=risk.pk)
    for field, value in changes.items():
        setattr(risk, field, value)
    if "system" in changes:
        _require_scope(actor, risk.system if risk.system_id else None)
    _validate_and_save(risk)
    risk.refresh_from_db(fields=["inherent_score", "residual_score"])
    if control_ids is not None:
        _set_controls(risk, control_ids)
    return risk


@transaction.atomic
def save_risk(*, actor: User, risk: Risk, original_system_id: int | None = None) -> Risk:
    """Save a risk edited in a form (the admin), with the same scope rules; controls go through
    ``set_risk_controls``."""
    adding = risk.pk is None
    require_permission(actor, "add_risk" if adding else "change_risk")
    if not adding and original_system_id is not None and original_system_id != risk.system_id:
        _require_scope(actor, AISystem.objects.select_related("owning_team").get(pk=original_system_id))
    _require_scope(actor, risk.system if risk.system_id else None)
    _validate_and_save(risk)
    if not adding:
        risk.refresh_from_db(fields=["inherent_score", "residual_score"])
    return risk


@transaction.atomic
def set_risk_controls(*, actor: User, risk: Risk, control_ids: Iterable[int]) -> Risk:
    """Make the controls linked to the risk exactly ``control_ids``."""
    require_permission(actor, "change_risk")
    _require_scope(actor, risk.system)
    _set_controls(risk, control_ids)
    return risk


@transaction.atomic
def delete_risk(*, actor: User, risk: Risk) -> None:
    require_permission(actor, "delete_risk")
    _require_scope(actor, risk.system)
    risk.delete()
