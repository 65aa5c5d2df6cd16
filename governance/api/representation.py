"""One fast way to render a model serializer, compiled from its declared fields.

DRF renders a row field by field: ``get_attribute`` with its error handling, a ``None`` check
and ``to_representation``, into an ordered dict. For a page of 50 rows of 40 fields that costs
more than the query behind the page. :class:`FastRepresentation` turns each readable field, once
per serializer class, into the cheapest getter that gives the value DRF would give:

* a plain attribute for text, numbers, booleans, JSON and lists, when the field's source is an
  attribute of the row and the field class renders it unchanged;
* the ISO form for dates and datetimes in DRF's default format;
* the id column for a primary-key relation;
* the method for a ``SerializerMethodField``, and a serializer's ``represent_<field>(row)``
  where it has one (for a nested field whose rows were loaded for the whole page);
* DRF's own per-field path for anything else.

So the field list stays where it is declared (``Meta.fields`` and the declared fields) and no
representation is written out by hand. ``tests/governance/test_fast_representation.py`` checks
every serializer that uses it against DRF's own rendering.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers
from rest_framework.settings import api_settings

Getter = Callable[[serializers.BaseSerializer, Any], Any]

_SKIP = object()  # a field whose get_attribute raised SkipField: left out, as DRF does


def iso_datetime(value):
    """A datetime as DRF writes it (in the current time zone, UTC as ``Z``), or ``None``."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class BuiltFieldsCache:
    """For a ``ModelSerializer`` whose fields do not depend on the request: builds them from the
    model once per class and hands each instance copies, as DRF does for declared fields.

    DRF rebuilds every field from model introspection on each instantiation; for a serializer
    of forty fields that costs more than the INSERT it validates for.
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built
        return copy.deepcopy(built)


class FastRepresentation(BuiltFieldsCache):
    """Mixin for a ``ModelSerializer``: renders rows through a plan compiled once per class from
    its declared fields (see the module docstring). Fields must not depend on the request."""

    def to_representation(self, instance):
        cls = type(self)
        plan = cls.__dict__.get("_representation_plan")
        if plan is None:
            plan = cls._representation_plan = compile_plan(self)
        out = {}
        for name, get in plan:
            value = get(self, instance)
            if value is not _SKIP:
                out[name] = value
        return out


def compile_plan(serializer: serializers.Serializer) -> tuple[tuple[str, Getter], ...]:
    """The (field name, getter) pairs that render ``serializer``'s readable fields in order."""
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    plan = []
    for field in serializer._readable_fields:
        name = field.field_name
        override = getattr(type(serializer), f"represent_{name}", None)  # (serializer, row) -> value
        plan.append((name, override or _getter(field, model)))
    return tuple(plan)


def _getter(field: drf_fields.Field, model) -> Getter:
    if isinstance(field, serializers.SerializerMethodField):
        method = field.method_name
        return lambda serializer, instance: getattr(serializer, method)(instance)
    attribute = _own_attribute(field)
    if attribute is not None:
        if isinstance(field, relations.PrimaryKeyRelatedField):
            column = _column(model, attribute)
            if column is not None and field.pk_field is None and _stock(field, "to_representation"):
                return _plain(column, _same)
        elif not isinstance(field, relations.RelatedField):
            convert = _conversion(field)
            if convert is not None:
                return _plain(attribute, convert)
    return _drf(field.field_name)


def _own_attribute(field: drf_fields.Field) -> str | None:
    """The one attribute of the row that ``field`` reads with DRF's stock ``get_attribute``."""
    if field.source == "*" or len(field.source_attrs) != 1 or not _stock(field, "get_attribute"):
        return None
    return field.source_attrs[0]


def _stock(field: drf_fields.Field, method: str) -> bool:
    """True when ``field``'s class inherits ``method`` from a DRF class unchanged."""
    own = getattr(type(field), method)
    return any(
        vars(base).get(method) is own
        for base in type(field).__mro__
        if base.__module__.startswith("rest_framework.")
    )


def _column(model, attribute: str) -> str | None:
    try:
        return model._meta.get_field(attribute).attname
    except (AttributeError, FieldDoesNotExist):
        return None


def _conversion(field: drf_fields.Field) -> Callable | None:
    """How to turn the raw attribute into what ``field.to_representation`` gives, or ``None``
    when the field renders in a way of its own."""
    if not _stock(field, "to_representation"):
        return None
    if isinstance(field, drf_fields.DateTimeField | drf_fields.DateField):
        iso = getattr(field, "format", _default_format(field)) == drf_fields.ISO_8601
        return (_datetime if isinstance(field, drf_fields.DateTimeField) else _date) if iso else None
    if isinstance(field, drf_fields.JSONField):
        return None if field.binary else _same
    if isinstance(field, drf_fields.ListField):
        texts = isinstance(field.child, drf_fields.CharField | drf_fields.ChoiceField)
        return list if texts and _stock(field.child, "to_representation") else None
    for base, convert in _CONVERSIONS:
        if isinstance(field, base):
            return convert
    return None


def _default_format(field: drf_fields.Field) -> str:
    if isinstance(field, drf_fields.DateTimeField):
        return api_settings.DATETIME_FORMAT
    return api_settings.DATE_FORMAT


def _date(value):
    return value.isoformat() if value else None


def _datetime(value):
    return iso_datetime(value) if value else None


def _same(value):
    return value


# Field classes whose to_representation is a plain conversion of a non-empty attribute.
# ChoiceField maps a stored value to itself: the choices' keys are the stored values.
_CONVERSIONS: tuple[tuple[type, Callable], ...] = (
    (drf_fields.ChoiceField, _same),
    (drf_fields.CharField, str),
    (drf_fields.BooleanField, bool),
    (drf_fields.IntegerField, int),
    (drf_fields.FloatField, float),
    (drf_fields.ReadOnlyField, _same),
)


def _plain(attribute: str, convert: Callable) -> Getter:
    if convert is _same:
        return lambda serializer, instance: getattr(instance, attribute)

    def get(serializer, instance):
        value = getattr(instance, attribute)
        return None if value is None else convert(value)

    return get


def _drf(name: str) -> Getter:
    """DRF's own rendering of one field (``Serializer.to_representation``'s loop body)."""

    def get(serializer, instance):
        field = serializer.fields[name]
        try:
            attribute = field.get_attribute(instance)
        except drf_fields.SkipField:
            return _SKIP
        check = attribute.pk if isinstance(attribute, relations.PKOnlyObject) else attribute
        return None if check is None else field.to_representation(attribute)

    return get
