"""Fields shared by the API modules: references written as a slug, code or username and read
from an annotation of the list query, related names shown read-only the same way, many-to-many
relations as lists of codes, choice fields documented as one named enum, and the date-time every
body field, query parameter and filter reads (``DateTimeField``, ``instant``)."""

from __future__ import annotations

import datetime
import operator

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from governance.models import User
from governance.models.inventory import PEOPLE


class AnnotatedSlugRelatedField(serializers.SlugRelatedField):
    """A reference written as a slug, code or username and read from an annotation when the row has
    one (``with_names()`` in the views), so rendering a list needs no query per row.

    With ``visible=True`` a write may only name objects the caller can see: any other answers
    "does not exist", exactly like an unknown slug.
    """

    default_error_messages = {"blank": "Send null for none, not an empty string."}

    def __init__(self, *, annotation: str, visible: bool = False, **kwargs):
        self.annotation = annotation
        self.visible = visible
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        # DRF reads "" as null for a relation; the schema says a slug or null, and one spelling
        # of "none" is what clients can rely on.
        if data == "":
            self.fail("blank")
        return super().run_validation(data)

    def get_attribute(self, instance):
        if hasattr(instance, self.annotation):
            return getattr(instance, self.annotation)
        return super().get_attribute(instance)

    def to_representation(self, value):
        return value if isinstance(value, str) else super().to_representation(value)

    def row_getter(self):
        """For ``FastRepresentation``: the annotation, else the related object's slug."""
        if len(self.source_attrs) != 1:
            return None
        annotation, relation = self.annotation, self.source_attrs[0]
        read_slug = operator.attrgetter(self.slug_field.replace("__", "."))

        def get(row):
            if hasattr(row, annotation):
                return getattr(row, annotation)
            try:
                related = getattr(row, relation)
            except ObjectDoesNotExist:
                return None
            return None if related is None else read_slug(related)

        return get

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if self.visible and request is not None:
            queryset = queryset.visible_to(request.user)
        return queryset


def user_field(**kwargs) -> AnnotatedSlugRelatedField:
    """An optional person (never a service account), written and read as a username."""
    return AnnotatedSlugRelatedField(
        annotation="owner_username",
        slug_field="username",
        queryset=User.objects.filter(**PEOPLE),
        allow_null=True,
        required=False,
        **kwargs,
    )


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class RelatedCodesField(serializers.Field):
    """A many-to-many relation as a list of codes: read from the prefetched rows, written as codes
    resolved in one query to ids (an unknown code is a field message)."""

    default_error_messages = {
        "not_a_list": "Expected a list of codes.",
        "unknown": "Unknown code(s): {codes}.",
    }

    def __init__(self, *, queryset, slug_field: str = "code", **kwargs):
        self.queryset = queryset
        self.slug_field = slug_field
        super().__init__(**kwargs)

    def to_representation(self, manager):
        return [getattr(obj, self.slug_field) for obj in manager.all()]

    def to_internal_value(self, data) -> list[int]:
        if not isinstance(data, list) or not all(isinstance(code, str) for code in data):
            self.fail("not_a_list")
        codes = list(dict.fromkeys(data))
        ids = dict(
            self.queryset.filter(**{f"{self.slug_field}__in": codes}).values_list(self.slug_field, "pk")
        )
        unknown = [code for code in codes if code not in ids]
        if unknown:
            self.fail("unknown", codes=", ".join(unknown))
        return [ids[code] for code in codes]


@extend_schema_field({"type": "string", "nullable": True})
class AnnotatedNameField(serializers.ReadOnlyField):
    """A related object's name read from an annotation of the list query, else from the relation."""

    def __init__(self, *, annotation: str, path: str, **kwargs):
        self.annotation = annotation
        self.path = path
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return annotated_name(instance, self.annotation, self.path)

    def row_getter(self):
        """For ``FastRepresentation``: ``annotated_name`` with this field's annotation and path."""
        annotation, path = self.annotation, self.path

        def get(row):
            if hasattr(row, annotation):
                return getattr(row, annotation)
            return annotated_name(row, annotation, path)

        return get


def annotated_name(instance, annotation: str, path: str):
    """``instance.<annotation>`` when the list query annotated it, else the dotted ``path``."""
    if hasattr(instance, annotation):
        return getattr(instance, annotation)
    value = instance
    for name in path.split("."):
        value = getattr(value, name, None)
        if value is None:
            return None
    return value


def named_choice_field(name: str, choice_list: list[tuple[str, str]]) -> type[serializers.ChoiceField]:
    """A ``ChoiceField`` class documented as the enum component ``name``: the same choices appear
    under several field names (``status`` and ``to``), which would otherwise make several enums."""
    values = [value for value, _ in choice_list]
    field_class = type(f"{name}Field", (serializers.ChoiceField,), {})
    return extend_schema_field({"type": "string", "enum": values}, component_name=name)(field_class)


# --- Date-times ---------------------------------------------------------------------------------

MAX_UTC_OFFSET = datetime.timedelta(hours=14)
"""Furthest a date-time's offset may lie from UTC: the world's clocks run from -12:00 to +14:00.
Python reads offsets up to ±23:59 and PostgreSQL only to ±15:59 (a 500 before this bound)."""

OFFSET_MESSAGE = "The UTC offset must lie between -14:00 and +14:00."
RANGE_MESSAGE = "The date-time lies outside the years 1 to 9999 in UTC."


def instant(value: datetime.datetime) -> datetime.datetime:
    """``value`` as an aware UTC date-time (a naive one is read in the current time zone), or
    Django's ``ValidationError`` when its offset is beyond ``MAX_UTC_OFFSET`` or it leaves the
    calendar's years in UTC. The one rule every date-time from a client passes."""
    if timezone.is_naive(value):
        try:
            value = timezone.make_aware(value)
        except (OverflowError, ValueError):
            raise DjangoValidationError(RANGE_MESSAGE, code="overflow") from None
    offset = value.utcoffset()
    if abs(offset) > MAX_UTC_OFFSET:
        raise DjangoValidationError(OFFSET_MESSAGE, code="offset")
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        raise DjangoValidationError(RANGE_MESSAGE, code="overflow") from None


class DateTimeField(serializers.DateTimeField):
    """DRF's ISO 8601 date-time, held to ``instant``'s rule and stored in UTC. Every
    ``ModelSerializer`` maps model date-times to it; declared fields use it directly."""

    def enforce_timezone(self, value):
        try:
            return super().enforce_timezone(instant(value))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None
