"""Shared bases of the API's serializers.

Every serializer that reads a request body derives from ``Serializer`` or ``ModelSerializer``
here: a body naming a field the endpoint does not take is answered 400 with a message on that
name (a misspelt ``serverity`` used to be dropped without a word, and the incident recorded
without its severity). Serializers of query strings derive from ``QuerySerializer``, which
refuses nothing: a query string also carries the cursor, page size, ordering, format and the
list's filters.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

# A form posted by a browser (the browsable API) carries its CSRF token as a field.
_FORM_HOUSEKEEPING = frozenset({"csrfmiddlewaretoken"})


def unknown_field_errors(names: Iterable[str], accepted: Iterable[str]) -> dict[str, list[str]]:
    """A message for each unknown name: the accepted name it is closest to, or the whole list."""
    accepted = list(accepted)
    errors = {}
    for name in names:
        close = difflib.get_close_matches(str(name), accepted, n=1, cutoff=0.75)
        if close:
            message = f'Unknown field; did you mean "{close[0]}"?'
        elif accepted:
            message = f"Unknown field. This request takes: {', '.join(accepted)}."
        else:
            message = "Unknown field. This request takes no fields."
        errors[str(name)] = [message]
    return errors


def unknown_keys(data, known: Iterable[str]) -> list[str]:
    """The keys of a request body (a JSON object or form) that are not in ``known``."""
    if not isinstance(data, Mapping):
        return []  # not an object: the serializer answers that itself
    known = set(known)
    if isinstance(data, QueryDict):
        known |= _FORM_HOUSEKEEPING
    return [key for key in data if key not in known]


class RejectUnknownFieldsMixin:
    """Refuses input keys that are none of the serializer's fields, with the other field errors.

    Read-only fields count as known and are ignored, as DRF does, so an object read with GET can
    be sent back with PUT. ``extra_input_fields`` names keys a serializer handles itself (in
    ``validate``) without a field of their own.
    """

    extra_input_fields: tuple[str, ...] = ()

    def to_internal_value(self, data):
        unknown = unknown_keys(data, [*self.fields, *self.extra_input_fields])
        if not unknown:
            return super().to_internal_value(data)
        writable = [name for name, field in self.fields.items() if not field.read_only]
        refused = ValidationError(unknown_field_errors(unknown, writable)).detail
        try:
            super().to_internal_value(data)
        except ValidationError as exc:
            if isinstance(exc.detail, dict):
                refused = {**exc.detail, **refused}
        raise ValidationError(refused)


class Serializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A request body's shape; unknown fields are refused."""


class ModelSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A model's API shape; in a request body, unknown fields are refused."""


class QuerySerializer(serializers.Serializer):
    """A query string's parameters; names it does not declare are left to the list's filters."""


class NoBodySerializer(Serializer):
    """The body of an action that takes none: any field in it is refused."""


def refuse_body_fields(request) -> None:
    """For an action that takes no body: 400 naming any field sent (an empty body is fine)."""
    NoBodySerializer(data=request.data).is_valid(raise_exception=True)
