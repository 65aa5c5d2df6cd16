"""Writes to the inventory: AI systems, their model links, and the model catalogue.

Every function is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer (``full_clean``) and leaves the change history to the
database triggers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance import choices
from governance.models import AIModel, AISystem, SystemModel, Team, User
from governance.services import reviews
from governance.services.access import require_permission, require_team_scope
from governance.services.records import (
    create_validated,
    delete_unless_protected,
    update_validated,
)

ModelLink = Mapping[str, object]  # {"model": AIModel, "role": str, "notes": str}


_REFERENCES = ("owning_team", "business_owner", "technical_owner")


_SLUG_CONSTRAINT = f"{AISystem._meta.db_table}_slug_key"


# Reporting an incident looks its system up on every intake: one hand-written statement for the
# few columns it reads, as the ORM's query building costs more than the look-up itself.
_SYSTEM_BRIEF = ("id", "slug", "name", "owning_team_id")
_TEAM_BRIEF = ("id", "slug", "name")
_SYSTEM_BRIEF_SQL = f"""
    SELECT {", ".join(f"s.{c}" for c in _SYSTEM_BRIEF)}, {", ".join(f"t.{c}" for c in _TEAM_BRIEF)}
      FROM {AISystem._meta.db_table} s
      JOIN {Team._meta.db_table} t ON t.id = s.owning_team_id
     WHERE s.{{column}} = %s
"""


def system_brief(*, pk: int | None = None, slug: str | None = None) -> AISystem | None:
    """The system with this id or slug, loaded with only its id, slug, name and owning team (the
    other fields load on first use). No scoping: check ``system_visible_to`` before use."""
    column, value = ("id", pk) if pk is not None else ("slug", slug)
    with connection.cursor() as cursor:
        cursor.execute(_SYSTEM_BRIEF_SQL.format(column=column), [value])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_SYSTEM_BRIEF)
    system = AISystem.from_db(connection.alias, _SYSTEM_BRIEF, row[:split])
    system.owning_team = Team.from_db(connection.alias, _TEAM_BRIEF, row[split:])
    return system


def _validate_and_save(system: AISystem) -> None:
    """``full_clean`` (which also folds the case of codes and tags), then save.

    Registering systems from CI is the hot write path, so two look-ups the database does anyway
    are left to it: references assigned as loaded instances are not fetched again (the foreign
    keys still refuse one that vanished in between), and the slug's uniqueness is the unique
    constraint's job, turned into the same field message a ``SELECT`` would have given.
    """
    loaded = [name for name in _REFERENCES if getattr(system, f"{name}_id") is not None]
    system.full_clean(exclude=loaded, validate_unique=False)
    try:
        system.save()
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") == _SLUG_CONSTRAINT:
            raise ValidationError({"slug": "An AI system with this slug already exists."}) from exc
        raise


def create_system(
    *, actor: User, data: Mapping[str, object], model_links: Iterable[ModelLink] = ()
) -> AISystem:
    """Register a new AI system for a team the actor may manage.

    A system without model links is one INSERT (its history row is written by the trigger in
    the same statement), so only a create with links opens a transaction.
    """
    require_permission(actor, "add_aisystem")
    system = AISystem(**data)
    require_team_scope(actor, system.owning_team if system.owning_team_id else None)
    links = list(model_links)
    deployed = system.lifecycle_stage == choices.LifecycleStage.DEPLOYED
    with transaction.atomic() if links or deployed else nullcontext():
        _validate_and_save(system)
        _replace_model_links(system, links, existing={})
        if deployed:
            reviews.schedule_next(system=system, after=timezone.now(), actor=actor)
    return system


_MATERIAL_FIELDS = {
    "system_prompt_sha256": "system prompt changed",
    "eu_ai_act_class": "EU AI Act class changed",
}


def _material_state(system: AISystem, primary_models: frozenset[int] | None = None) -> dict:
    state = {field: getattr(system, field) for field in _MATERIAL_FIELDS}
    return {**state, "lifecycle_stage": system.lifecycle_stage, "primary_models": primary_models}


def _primary_models(system: AISystem) -> frozenset[int]:
    return frozenset(
        link.model_id for link in system.loaded_model_links if link.role == choices.ModelRole.PRIMARY
    )


def _review_after_change(*, actor: User, system: AISystem, before: dict, after: dict) -> None:
    """A deployed system's material change (prompt, EU AI Act class, primary model) makes a review
    due now; a system that has just been deployed gets its first periodic review."""
    if system.lifecycle_stage != choices.LifecycleStage.DEPLOYED:
        return
    if before["lifecycle_stage"] != choices.LifecycleStage.DEPLOYED:
        reviews.schedule_next(system=system, after=timezone.now(), actor=actor)
        return
    changed = [label for field, label in _MATERIAL_FIELDS.items() if before[field] != after[field]]
    if before["primary_models"] != after["primary_models"]:  # both None when links were not given
        changed.append("primary model changed")
    if changed:
        reason = "; ".join(changed)
        reviews.require_review_now(system=system, reason=reason[:1].upper() + reason[1:] + ".", actor=actor)


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
    before = _material_state(system)
    for field, value in changes.items():
        setattr(system, field, value)
    if "owning_team" in changes:
        require_team_scope(actor, system.owning_team)
    _validate_and_save(system)
    primary_after = None
    if model_links is not None:
        existing = {link.model_id: link for link in system.model_links.select_related("model")}
        before["primary_models"] = frozenset(
            model_id for model_id, link in existing.items() if link.role == choices.ModelRole.PRIMARY
        )
        _replace_model_links(system, model_links, existing=existing)
        primary_after = _primary_models(system)
    _review_after_change(
        actor=actor, system=system, before=before, after=_material_state(system, primary_after)
    )
    return system


def _stored_primary_models(system: AISystem) -> frozenset[int]:
    return frozenset(
        SystemModel.objects.filter(system=system, role=choices.ModelRole.PRIMARY).values_list(
            "model_id", flat=True
        )
    )


@transaction.atomic
def save_system(
    *,
    actor: User,
    system: AISystem,
    original_team_id: int | None,
    save_links: Callable[[], object] | None = None,
) -> AISystem:
    """Save a system edited in a form (the admin), applying the same scope rules.

    ``save_links`` saves the model links edited with it (the admin's inline). It runs after the
    system is saved and before the review check, so a primary model changed in the same save is
    weighed together with the system's own fields, as ``update_system`` does with ``model_links``:
    one material change, one reason, in this transaction.
    """
    require_permission(actor, "change_aisystem" if system.pk else "add_aisystem")
    if original_team_id is not None and original_team_id != system.owning_team_id:
        from governance.models import Team

        require_team_scope(actor, Team.objects.get(pk=original_team_id))
    require_team_scope(actor, system.owning_team)
    stored = AISystem.objects.select_for_update().filter(pk=system.pk).first() if system.pk else None
    _validate_and_save(system)
    before = _material_state(stored) if stored else {**_material_state(system), "lifecycle_stage": ""}
    after = _material_state(system)
    if save_links is not None:
        before["primary_models"] = _stored_primary_models(system)
        save_links()
        after["primary_models"] = _stored_primary_models(system)
    _review_after_change(actor=actor, system=system, before=before, after=after)
    return system


@transaction.atomic
def delete_system(*, actor: User, system: AISystem) -> None:
    """Delete a system and its model links (retiring it is usually what officers want)."""
    require_permission(actor, "delete_aisystem")
    require_team_scope(actor, system.owning_team)
    system.delete()


def _replace_model_links(
    system: AISystem, links: Iterable[ModelLink], existing: dict[int, SystemModel] | None = None
) -> None:
    """Make the system's model links exactly ``links``, touching only rows that differ.

    Afterwards ``system.links()`` answers from memory, so the caller can render the system
    without reading the links back.
    """
    wanted: dict[int, ModelLink] = {}
    for link in links:
        model = link["model"]
        if model.pk in wanted:
            raise ValidationError({"models": f"Model {model.pk} is listed twice."})
        wanted[model.pk] = link
    if existing is None:
        existing = {link.model_id: link for link in system.model_links.select_related("model")}
    kept: list[SystemModel] = []
    for model_id, link in existing.items():
        if model_id not in wanted:
            link.delete()
    for model_id, spec in wanted.items():
        role, notes = spec.get("role") or "primary", spec.get("notes") or ""
        current = existing.get(model_id)
        if current is None:
            current = SystemModel.objects.create(system=system, model=spec["model"], role=role, notes=notes)
        elif (current.role, current.notes) != (role, notes):
            current.role, current.notes = role, notes
            current.save(update_fields=["role", "notes"])
        kept.append(current)
    system.loaded_model_links = sorted(kept, key=lambda link: link.pk)


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
    delete_unless_protected(model, _still_using_the_model)


def _still_using_the_model(protected: set) -> str:
    """The systems linked to a model, then a count of each other kind of row that refers to it
    (transparency assessments, incidents, evaluation runs, …)."""
    systems = sorted({row.system.slug for row in protected if isinstance(row, SystemModel)})
    others = Counter(
        str(row._meta.verbose_name_plural) for row in protected if not isinstance(row, SystemModel)
    )
    users = [*systems, *(f"{count} {kind}" for kind, count in sorted(others.items()))]
    return f"The model is still used by: {', '.join(users)}."
