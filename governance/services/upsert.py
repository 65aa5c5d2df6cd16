"""Idempotent loading: write a row only when something actually differs."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models


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
