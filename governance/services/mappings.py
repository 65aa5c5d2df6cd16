"""Writes to the requirement mappings (crosswalks) between framework requirements.

Every function is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer and leaves the change history to the database triggers.

A mapping is read in both directions: ``source`` → ``target`` with its ``relationship``, and
``target`` → ``source`` with the inverse (``inverse_relationship``). Two requirements therefore
have at most one mapping between them, whichever way round it was recorded.

Frameworks and requirements are reference data loaded from the shipped catalogs
(``manage.py load_catalogs``); mappings are the one part of the catalogs officers may also curate.
Every officer write goes through here (admin and API alike), and marks the row so that the loader
leaves it alone: a mapping an officer records is ``origin`` local, and a shipped one (``origin``
catalog) an officer changes is ``modified_locally``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from governance.choices import MappingRelationship
from governance.models import RequirementMapping, User
from governance.services.access import require_permission

_INVERSE = {
    MappingRelationship.SUBSET: MappingRelationship.SUPERSET,
    MappingRelationship.SUPERSET: MappingRelationship.SUBSET,
}


# Set by this module and the catalog loader only, never from an officer's data.
_LOADER_FIELDS = frozenset({"origin", "modified_locally"})


def inverse_relationship(relationship: str) -> str:
    """The relationship read from the target's side: subset ↔ superset; the others are symmetric."""
    return str(_INVERSE.get(relationship, relationship))


def _validate(mapping: RequirementMapping) -> None:
    """``full_clean`` the row, answering the pair rules with messages on ``target``.

    The pair rules are the model's constraints (not to itself, one mapping per pair) plus the
    reverse pair: B → A duplicates A → B, since every mapping is read both ways.
    """
    errors: dict[str, list[str]] = {}
    try:
        mapping.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = {field: list(messages) for field, messages in exc.message_dict.items()}

    if not errors.keys() & {"source", "target"}:
        message = pair_error(mapping)
        if message:
            errors["target"] = [message]
    if errors:
        raise ValidationError(errors)
    # Anything the pair rules above do not name (none today) still answers, as a non-field error.
    mapping.validate_constraints()


def pair_error(mapping: RequirementMapping) -> str | None:
    """Why this pair cannot be mapped (itself, already mapped, or mapped the other way), if it cannot."""
    if mapping.source_id == mapping.target_id:
        return "A requirement cannot be mapped to itself."
    others = RequirementMapping.objects.exclude(pk=mapping.pk) if mapping.pk else RequirementMapping.objects
    same = others.filter(source_id=mapping.source_id, target_id=mapping.target_id).values_list(
        "pk", flat=True
    )
    if pk := same.first():
        return f"These requirements are already mapped (mapping {pk})."
    reverse = others.filter(source_id=mapping.target_id, target_id=mapping.source_id)
    if pk := reverse.values_list("pk", flat=True).first():
        return f"These requirements are already mapped the other way round (mapping {pk}); change that one."
    return None


@transaction.atomic
def create_mapping(*, actor: User, data: Mapping[str, object]) -> RequirementMapping:
    """Record a mapping between two requirements (of the same or different frameworks).

    ``data`` holds ``source`` and ``target`` (requirements), ``relationship`` (from
    ``MappingRelationship``, read source → target), ``provenance`` and optionally ``rationale``.
    A mapping to itself, or between two requirements already mapped either way, is refused with
    a message on ``target``.
    """
    require_permission(actor, "add_requirementmapping")
    data = {name: value for name, value in data.items() if name not in _LOADER_FIELDS}
    mapping = RequirementMapping(**data, origin=RequirementMapping.Origin.LOCAL)
    _validate(mapping)
    mapping.save()
    return mapping


@transaction.atomic
def update_mapping(
    *, actor: User, mapping: RequirementMapping, changes: Mapping[str, object]
) -> RequirementMapping:
    """Change a mapping's fields, ends included, under the same rules as ``create_mapping``.

    A shipped mapping that this actually changes (a value differs from what the row holds) becomes
    ``modified_locally``, so ``load_catalogs`` keeps the officer's values from then on. Saving the
    same values again marks nothing.
    """
    require_permission(actor, "change_requirementmapping")
    mapping = RequirementMapping.objects.select_for_update().get(pk=mapping.pk)
    changed = False
    for field, value in changes.items():
        if field in _LOADER_FIELDS:
            continue
        before = getattr(mapping, field)
        setattr(mapping, field, value)
        changed = changed or getattr(mapping, field) != before
    if changed and mapping.origin == RequirementMapping.Origin.CATALOG:
        mapping.modified_locally = True
    _validate(mapping)
    mapping.save()
    return mapping


@transaction.atomic
def delete_mapping(*, actor: User, mapping: RequirementMapping) -> None:
    """Remove a mapping; the two requirements, and controls mapped to them, stay as they are."""
    require_permission(actor, "delete_requirementmapping")
    mapping.delete()
