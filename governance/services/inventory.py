"""Writes to the inventory: AI systems, their model links, and the model catalogue.

Every function is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer (``full_clean``) and leaves the change history to the
database triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from governance.models import AIModel, AISystem, SystemModel, User
from governance.services.access import require_permission, require_team_scope
from governance.services.records import create_validated, delete_unless_protected, update_validated

ModelLink = Mapping[str, object]  # {"model": AIModel, "role": str, "notes": str}


def _validate_and_save(system: AISystem) -> None:
    system.full_clean()  # also folds the case of codes and tags (AISystem.clean_fields)
    system.save()


@transaction.atomic
def create_system(
    *, actor: User, data: Mapping[str, object], model_links: Iterable[ModelLink] = ()
) -> AISystem:
    """Register a new AI system for a team the actor may manage."""
    require_permission(actor, "add_aisystem")
    system = AISystem(**data)
    require_team_scope(actor, system.owning_team if system.owning_team_id else None)
    _validate_and_save(system)
    _replace_model_links(system, model_links)
    return system


@transaction.atomic
def update_system(
    *,
    actor: User,
    system: AISystem,
    changes: Mapping[str, object],
    model_links: Iterable[ModelLink] | None = None,
) -> AISystem:
    """Apply field changes (and, if given, the full new set of model links) to a system."""
    require_permission(actor, "change_aisystem")
    require_team_scope(actor, system.owning_team)
    system = AISystem.objects.select_for_update().get(pk=system.pk)
    for field, value in changes.items():
        setattr(system, field, value)
    if "owning_team" in changes:
        require_team_scope(actor, system.owning_team)
    _validate_and_save(system)
    if model_links is not None:
        _replace_model_links(system, model_links)
    return system


@transaction.atomic
def save_system(*, actor: User, system: AISystem, original_team_id: int | None) -> AISystem:
    """Save a system edited in a form (the admin), applying the same scope rules."""
    require_permission(actor, "change_aisystem" if system.pk else "add_aisystem")
    if original_team_id is not None and original_team_id != system.owning_team_id:
        from governance.models import Team

        require_team_scope(actor, Team.objects.get(pk=original_team_id))
    require_team_scope(actor, system.owning_team)
    _validate_and_save(system)
    return system


@transaction.atomic
def delete_system(*, actor: User, system: AISystem) -> None:
    """Delete a system and its model links (retiring it is usually what officers want)."""
    require_permission(actor, "delete_aisystem")
    require_team_scope(actor, system.owning_team)
    system.delete()


def _replace_model_links(system: AISystem, links: Iterable[ModelLink]) -> None:
    """Make the system's model links exactly ``links``, touching only rows that differ."""
    wanted: dict[int, ModelLink] = {}
    for link in links:
        model = link["model"]
        if model.pk in wanted:
            raise ValidationError({"models": f"Model {model.pk} is listed twice."})
        wanted[model.pk] = link
    existing = {link.model_id: link for link in system.model_links.all()}
    for model_id, link in existing.items():
        if model_id not in wanted:
            link.delete()
    for model_id, spec in wanted.items():
        role, notes = spec.get("role") or "primary", spec.get("notes") or ""
        current = existing.get(model_id)
        if current is None:
            SystemModel.objects.create(system=system, model=spec["model"], role=role, notes=notes)
        elif (current.role, current.notes) != (role, notes):
            current.role, current.notes = role, notes
            current.save(update_fields=["role", "notes"])


@transaction.atomic
def create_model(*, actor: User, data: Mapping[str, object]) -> AIModel:
    """Add a model (provider, name, version) to the shared catalogue."""
    require_permission(actor, "add_aimodel")
    return create_validated(AIModel, data)


@transaction.atomic
def update_model(*, actor: User, model: AIModel, changes: Mapping[str, object]) -> AIModel:
    require_permission(actor, "change_aimodel")
    return update_validated(model, changes)


@transaction.atomic
def delete_model(*, actor: User, model: AIModel) -> None:
    """Delete a model from the catalogue; refused while any system still uses it."""
    require_permission(actor, "delete_aimodel")
    delete_unless_protected(
        model,
        lambda links: (
            f"The model is still used by: {', '.join(sorted({link.system.slug for link in links}))}."
        ),
    )
