"""Validated row writes shared by the services (callers hold the transaction)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.db import models
from django.db.models import ProtectedError

from governance.exceptions import Conflict


def create_validated(model: type[models.Model], data: Mapping[str, object]) -> models.Model:
    """Build, ``full_clean`` and save a row, so model rules apply to every surface alike."""
    obj = model(**data)
    obj.full_clean()
    obj.save()
    return obj


def update_validated(instance: models.Model, changes: Mapping[str, object]) -> models.Model:
    """Lock the row, apply ``changes``, validate and save; returns the fresh instance."""
    obj = type(instance).objects.select_for_update().get(pk=instance.pk)
    for field, value in changes.items():
        setattr(obj, field, value)
    obj.full_clean()
    obj.save()
    return obj


def delete_unless_protected(instance: models.Model, explain: Callable[[set], str]) -> None:
    """Delete, or raise ``Conflict`` with ``explain(protected_objects)`` while rows still refer to it."""
    try:
        instance.delete()
    except ProtectedError as exc:
        raise Conflict(explain(exc.protected_objects)) from exc


def upsert(model: type[models.Model], lookup: Mapping[str, object], values: Mapping[str, object]):
    """Create or update one row; return ``(obj, changed)``.

    Unlike ``update_or_create`` this issues no UPDATE when nothing changed, so loading the same
    data twice leaves no trace in the change history.
    """
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        return model.objects.create(**lookup, **values), True
    changed = [field for field, value in values.items() if getattr(obj, field) != value]
    for field in changed:
        setattr(obj, field, values[field])
    if changed:
        obj.save(update_fields=changed)
    return obj, bool(changed)
