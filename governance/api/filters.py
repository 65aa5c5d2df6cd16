"""The base of every list's filters: strict booleans and bounded date-times, in one place.

django-filter's ``BooleanFilter`` reads anything but ``true``/``false``/``1``/``0`` as "no
filter", so ``?review_due=maybe`` answered the whole list; its date-time filters passed an offset
of ``-20:01`` to PostgreSQL, which refused it (a 500). Every API filterset derives from
``FilterSet`` here: model booleans and date-times get ``BooleanFilter`` and ``DateTimeFilter``,
and declaring django-filter's own lenient classes instead is an error when the class is defined.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django_filters import fields as filter_fields
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.widgets import BooleanWidget

from governance.api.fields import instant

BOOLEAN_MESSAGE = "Give true or false."


class StrictBooleanField(forms.NullBooleanField):
    """true or false (or absent); anything else is a field message instead of being ignored."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        result = super().to_python(value)
        if result is None:
            raise forms.ValidationError(BOOLEAN_MESSAGE, code="invalid")
        return result


class StrictBooleanWidget(BooleanWidget):
    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        return data.get(name) if value is None else value  # the field refuses what is not a boolean


class BooleanFilter(django_filters.BooleanFilter):
    """``true``/``false`` (``1``/``0``); any other value is a 400 naming the filter."""

    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", StrictBooleanWidget)
        super().__init__(*args, **kwargs)


class BoundedIsoDateTimeField(filter_fields.IsoDateTimeField):
    """An ISO 8601 date or date-time, held to ``governance.api.fields.instant``'s rule."""

    def to_python(self, value):
        result = super().to_python(value)
        return None if result is None else instant(result)


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date or date-time; an offset beyond ±14:00 is a 400 naming the filter."""

    field_class = BoundedIsoDateTimeField


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (``NumberFilter`` takes decimals); declare ``min_value`` and ``max_value``."""

    field_class = forms.IntegerField


class IdFilter(IntegerFilter):
    """A row id: a whole number that a bigint key can hold (``?requirement=0.5`` is a 400)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


# django-filter's classes these replace: declaring one in an API filterset is refused.
_LENIENT = {
    django_filters.BooleanFilter: BooleanFilter,
    django_filters.DateTimeFilter: DateTimeFilter,
    django_filters.IsoDateTimeFilter: DateTimeFilter,
}


class FilterSet(django_filters.FilterSet):
    """The base of every API filterset (``FilterBackend`` refuses any other)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.DateTimeField: {"filter_class": DateTimeFilter},
    }

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        for name, declared in filters.items():
            replacement = _LENIENT.get(type(declared))
            if replacement is not None:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__}.{name}: use governance.api.filters.{replacement.__name__}, "
                    f"not django_filters.{type(declared).__name__}."
                )
        return filters


class FilterBackend(DjangoFilterBackend):
    """``DjangoFilterBackend`` for filtersets derived from ``FilterSet`` only
    (``DEFAULT_FILTER_BACKENDS``; a view naming its backends names this one)."""

    filterset_base = FilterSet

    def get_filterset_class(self, view, queryset=None):
        filterset_class = super().get_filterset_class(view, queryset)
        if filterset_class is not None and not issubclass(filterset_class, FilterSet):
            raise ImproperlyConfigured(
                f"{filterset_class.__qualname__} must derive from governance.api.filters.FilterSet."
            )
        return filterset_class
