"""Shared bases of the API: serializers, their fast rendering, and the CRUD viewset.

Every serializer that reads a request body derives from ``Serializer`` or ``ModelSerializer``
here: a body naming a field the endpoint does not take is answered 400 with a message on that
name (a misspelt ``serverity`` used to be dropped without a word, and the incident recorded
without its severity). Every API view derives from a view base here (``APIView``,
``GenericViewSet``, ``ReadOnlyModelViewSet``, ``ModelViewSet``): a GET naming a query parameter
the endpoint does not take is answered 400 the same way (see "Query parameters" below).
Serializers of query strings derive from ``QuerySerializer``; the view declares them in its
``extend_schema(parameters=[…])``, which is how the check knows their names.

A model serializer that renders pages of rows adds ``FastRepresentation``, which compiles its
rendering once per class from the declared fields (see "Fast representation" below). CRUD
viewsets derive from ``ServiceModelViewSet``: reads through ``visible_to(user)``, writes
through services.
"""

from __future__ import annotations

import copy
import difflib
import keyword
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.http import QueryDict
from django.urls import resolve, reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers, views, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from governance.api.fields import DateTimeField
from governance.api.idempotency import IdempotentPostMixin
from governance.api.throttling import RefuseFailingAddressesMixin

# A form posted by a browser (the browsable API) carries its CSRF token as a field.
_FORM_HOUSEKEEPING = frozenset({"csrfmiddlewaretoken"})


def absolute_url(request, name: str, *args) -> str:
    """The URL named ``name`` on the host the request came to: every link in a response is
    absolute, so a client follows it as it is."""
    path = reverse(name, args=args)
    return request.build_absolute_uri(path) if request is not None else path


def unknown_field_errors(
    names: Iterable[str], accepted: Iterable[str], *, noun: str = "field"
) -> dict[str, list[str]]:
    """A message for each unknown name: the accepted name it is closest to, or the whole list.
    ``noun`` says what the names are: body fields, or query parameters."""
    accepted = list(accepted)
    errors = {}
    for name in names:
        meant = closest_name(str(name), accepted)
        if meant is not None:
            message = f'Unknown {noun}; did you mean "{meant}"?'
        elif accepted:
            message = f"Unknown {noun}. This request takes: {', '.join(accepted)}."
        else:
            message = f"Unknown {noun}. This request takes no {noun}s."
        errors[str(name)] = [message]
    return errors


def closest_name(name: str, accepted: list[str]) -> str | None:
    """The accepted name ``name`` most likely stands for: a near spelling (``serverity``), else
    the one name with the same words in another order (``min_score`` for ``score_min``), else
    the one name with these words and more (``overdue`` for ``report_overdue``): the names a
    renamed filter or field had before."""
    close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.75)
    if close:
        return close[0]
    words = frozenset(name.split("_")) - {""}
    if not words:
        return None
    for fits in (words.__eq__, words.__lt__):
        candidates = [other for other in accepted if fits(frozenset(other.split("_")))]
        if len(candidates) == 1:
            return candidates[0]
    return None


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


TEXT_MESSAGE = "Give text (a JSON string)."
OBJECT_MESSAGE = "Send a JSON object."


class StrictBodyMixin:
    """A body is an object, and a text field (or a list of text) takes strings: DRF would read a
    JSON array as "no fields" on a partial update and turn ``"notes": 0`` into ``"0"``, where the
    schema says string."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [OBJECT_MESSAGE]})
        not_text = {
            name: [TEXT_MESSAGE]
            for name, field in self.fields.items()
            if not field.read_only and data.get(name) is not None and not _is_text_for(field, data[name])
        }
        if not_text:
            raise ValidationError(not_text)
        return super().to_internal_value(data)


def _is_text_for(field, value) -> bool:
    """Whether ``value`` is what a text field, or a list of text, may be given: strings only."""
    if isinstance(field, serializers.CharField):
        return isinstance(value, str)
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return not isinstance(value, list) or all(isinstance(item, str) for item in value)
    return True


class BoundedDateTimesMixin:
    """Every date-time a client sends is read by ``governance.api.fields.DateTimeField`` (offsets
    within ±14:00, stored in UTC): a declared writable DRF ``DateTimeField`` is an error when the
    class is defined, and a ``ModelSerializer`` maps model date-times to it."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, field in cls._declared_fields.items():
            if type(field) is serializers.DateTimeField and not field.read_only:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__}.{name}: use governance.api.fields.DateTimeField."
                )


class Serializer(StrictBodyMixin, RejectUnknownFieldsMixin, BoundedDateTimesMixin, serializers.Serializer):
    """A request body's shape; unknown fields are refused."""


class ModelSerializer(
    StrictBodyMixin, RejectUnknownFieldsMixin, BoundedDateTimesMixin, serializers.ModelSerializer
):
    """A model's API shape; in a request body, unknown fields are refused."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }


class QuerySerializer(BoundedDateTimesMixin, serializers.Serializer):
    """A query string's parameters, read by a view itself. The view names it in
    ``extend_schema(parameters=[…])``: the schema documents its fields from there, and the
    view base refuses any other name (besides the list's filters, cursor and ``format``)."""


class NoBodySerializer(Serializer):
    """The body of an action that takes none: any field in it is refused."""


def read_only_except(fields: Iterable[str], writable: Iterable[str]) -> list[str]:
    """The names in ``fields`` that a request body may not set: all but ``writable``, the list of
    what a write may change that its service declares (and checks). ``Meta.read_only_fields``
    reads it, so the list is written once."""
    writable = frozenset(writable)
    return [name for name in fields if name not in writable]


def refuse_body_fields(request) -> None:
    """For an action that takes no body: 400 naming any field sent (an empty body is fine)."""
    NoBodySerializer(data=request.data).is_valid(raise_exception=True)


# --- Fast representation -------------------------------------------------------------------------
# DRF renders a row field by field: ``get_attribute`` with its error handling, a ``None`` check
# and ``to_representation``, into an ordered dict. For a page of 50 rows of 40 fields that costs
# more than the query behind the page. ``FastRepresentation`` reads each readable field, once per
# serializer class, as the cheapest step that gives the value DRF would give:
#
# * a plain attribute for text, numbers, booleans, JSON and lists, when the field's source is an
#   attribute of the row and the field class renders it unchanged;
# * the ISO form for dates and datetimes in DRF's default format;
# * the id column for a primary-key relation;
# * the method for a ``SerializerMethodField``, a serializer's ``represent_<field>(row)`` where it
#   has one (for a nested field whose rows were loaded for the whole page), and a custom field's
#   ``row_getter()``: a function of the row giving what the field renders (or ``None``: DRF's);
# * DRF's own per-field path for anything else.
#
# and writes those steps out as one function that builds the dict in a single expression, as a
# hand-written ``to_representation`` would (the same technique as ``dataclasses``). So the field
# list stays where it is declared (``Meta.fields`` and the declared fields), and nothing restates
# it. ``tests/governance/test_fast_representation.py`` checks every serializer that uses it
# against DRF's own rendering.

Render = Callable[[serializers.BaseSerializer, Any], dict]

_SKIP = object()  # a field whose get_attribute raised SkipField: left out, as DRF does


def iso_datetime(value):
    """A datetime as DRF writes it (in the current time zone, UTC as ``Z``), or ``None``."""
    if not value:
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
    """Mixin for a ``ModelSerializer``: renders rows through a function compiled once per class
    from its declared fields (see "Fast representation" above). Fields must not depend on the
    request. A field is read the way DRF would unless the serializer has a
    ``represent_<field>(self, row)`` for it, or the field a ``row_getter()``."""

    def to_representation(self, instance):
        render = type(self).__dict__.get("_render")
        if render is None:
            render = compile_representation(self)
            type(self)._render = render
        return render(self, instance)


# How one field is read: ("attribute", name, convert or None), ("method", name) for
# ``serializer.<name>(row)``, ("row", get(row)) or ("serializer", get(serializer, row)).
Step = tuple


def compile_representation(serializer: serializers.Serializer) -> Render:
    """One function ``(serializer, row) -> dict`` rendering ``serializer``'s readable fields in
    order, from the steps ``_step`` chooses for them."""
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    scope: dict[str, Any] = {"_SKIP": _SKIP}
    items = []
    may_skip = False
    for position, field in enumerate(serializer._readable_fields):
        name = field.field_name
        if hasattr(type(serializer), f"represent_{name}"):
            step = ("method", f"represent_{name}")
        else:
            step = _step(field, model)
        may_skip = may_skip or step[0] == "serializer"
        items.append(f"        {name!r}: {_expression(step, position, scope)},")
    lines = ["def render(self, row):", "    out = {", *items, "    }"]
    if may_skip:
        lines.append("    for name in [name for name, value in out.items() if value is _SKIP]:")
        lines.append("        del out[name]")
    lines.append("    return out")
    source = "\n".join(lines)
    exec(compile(source, f"<representation of {type(serializer).__qualname__}>", "exec"), scope)
    return scope["render"]


def _expression(step: Step, position: int, scope: dict) -> str:
    """The Python expression that reads one field of ``row``; what it calls goes into ``scope``."""
    kind = step[0]
    if kind == "attribute":
        _, attribute, convert = step
        read = f"row.{attribute}" if _plain_name(attribute) else f"getattr(row, {attribute!r})"
        if convert is None:
            return read
        scope[f"_convert{position}"] = convert
        if convert in (_date, iso_datetime):  # they take None themselves
            return f"_convert{position}({read})"
        if convert in (str, bool, int, float):  # a value of that type already is its own answer
            return (
                f"(value if type(value := {read}) is _convert{position} or value is None "
                f"else _convert{position}(value))"
            )
        return f"(None if (value := {read}) is None else _convert{position}(value))"
    if kind == "method" and _plain_name(step[1]):
        return f"self.{step[1]}(row)"
    if kind == "method":
        return f"getattr(self, {step[1]!r})(row)"
    scope[f"_get{position}"] = step[1]
    return f"_get{position}(row)" if kind == "row" else f"_get{position}(self, row)"


def _plain_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _step(field: drf_fields.Field, model) -> Step:
    if isinstance(field, serializers.SerializerMethodField):
        return ("method", field.method_name)
    get_row = field.row_getter() if hasattr(field, "row_getter") else None
    if get_row is not None:
        return ("row", get_row)
    attribute = _own_attribute(field)
    if attribute is not None:
        if isinstance(field, relations.PrimaryKeyRelatedField):
            column = _column(model, attribute)
            if column is not None and field.pk_field is None and _stock(field, "to_representation"):
                return ("attribute", column, None)
        elif not isinstance(field, relations.RelatedField):
            convert = _conversion(field)
            if convert is not None:
                return ("attribute", attribute, None if convert is _same else convert)
    return ("serializer", _drf(field.field_name))


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
        return (iso_datetime if isinstance(field, drf_fields.DateTimeField) else _date) if iso else None
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


def _drf(name: str) -> Callable:
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


# --- Query parameters ----------------------------------------------------------------------------
# A GET says what it wants in its query string. A name the endpoint does not read used to be
# dropped, and a client still sending a filter's old name (``?serious=true`` once it became
# ``is_serious``) or a misspelt one (``?severty=SEV1``) got the whole list and acted on it. So
# every API view refuses such a name: 400 with a message on it, before anything is computed.
#
# What an endpoint takes is what its OpenAPI operation documents, as drf-spectacular derives it:
# the filterset's filters, the ordering parameter and the paginator's (cursor, page size) on
# lists, and the ``extend_schema`` parameters (a ``QuerySerializer``'s fields, an
# ``OpenApiParameter``) of views that read parameters themselves; plus ``format``, DRF's choice
# of renderer. Derived, not listed, so the schema and the check cannot disagree
# (``tests/governance/test_query_parameters.py`` walks the schema to hold them together). The
# operation is worked out once per endpoint and process, the way ``manage.py spectacular`` does;
# a request then costs a dictionary lookup and a set test per parameter.

_QUERY_METHODS = frozenset({"GET", "HEAD"})

# (URL callback, method) -> the documented names, or None for an operation left out of the schema.
_documented_by_endpoint: dict[tuple[Callable, str], frozenset[str] | None] = {}


def documented_query_parameters(request) -> frozenset[str] | None:
    """The query parameters the OpenAPI operation answering ``request`` documents (``None`` if
    the schema leaves the operation out)."""
    match = request.resolver_match or resolve(request.path_info)
    method = "GET" if request.method == "HEAD" else request.method
    key = (match.func, method)
    try:
        return _documented_by_endpoint[key]
    except KeyError:
        documented = _documented_by_endpoint[key] = _operation_query_parameters(match, method)
        return documented


def _operation_query_parameters(match, method: str) -> frozenset[str] | None:
    """The operation's query parameters, built as the schema generator builds it: a view made
    from the URL's callback (its action's ``extend_schema`` applied) and a mock request."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.plumbing import ComponentRegistry
    from drf_spectacular.settings import spectacular_settings

    generator = SchemaGenerator()
    path = "/" + generator.endpoint_inspector_cls().get_path_from_regex(match.route).lstrip("/")
    with GENERATOR_STATS.silence():  # what it would warn about, the schema command reports
        view = generator.create_view(match.func, method)
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        operation = view.schema.get_operation(path, match.route, "", method, ComponentRegistry())
    if operation is None:
        return None
    return frozenset(p["name"] for p in operation.get("parameters", ()) if p["in"] == "query")


def refuse_unknown_query_parameters(request) -> None:
    """400 naming each query parameter the endpoint does not take, with the one meant or the
    list of those it takes."""
    documented = documented_query_parameters(request)
    if documented is None:
        return
    renderer_choice = api_settings.URL_FORMAT_OVERRIDE
    unknown = [name for name in request.query_params if name not in documented and name != renderer_choice]
    if unknown:
        raise ValidationError(unknown_field_errors(unknown, sorted(documented), noun="query parameter"))


class RefuseUnknownQueryParametersMixin:
    """Answers a GET (or HEAD) with a query parameter the endpoint does not take with 400, after
    authentication and permissions and before the view runs."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Without a GET handler the request is answered 405 next.
        if request.method in _QUERY_METHODS and hasattr(self, "get"):
            refuse_unknown_query_parameters(request)


class APIView(RefuseFailingAddressesMixin, RefuseUnknownQueryParametersMixin, views.APIView):
    """An API endpoint that is not a viewset."""


class GenericViewSet(RefuseFailingAddressesMixin, RefuseUnknownQueryParametersMixin, viewsets.GenericViewSet):
    """A viewset that picks its actions from ``rest_framework.mixins``."""


class ReadOnlyModelViewSet(
    RefuseFailingAddressesMixin, RefuseUnknownQueryParametersMixin, viewsets.ReadOnlyModelViewSet
):
    """A list and a detail."""


class ModelViewSet(RefuseFailingAddressesMixin, RefuseUnknownQueryParametersMixin, viewsets.ModelViewSet):
    """A list, a detail and the writes."""


# --- Viewsets ------------------------------------------------------------------------------------


def crud_summaries(one: str, plural: str, **overrides: str) -> dict:
    """OpenAPI summaries for the six CRUD actions; ``one`` reads like "an AI system"."""
    summaries = {
        "list": f"List {plural}",
        "retrieve": f"Get {one}",
        "create": f"Create {one}",
        "update": f"Replace {one}",
        "partial_update": f"Update some fields of {one}",
        "destroy": f"Delete {one}",
        **overrides,
    }
    return {action: extend_schema(summary=text) for action, text in summaries.items()}


class ServiceModelViewSet(IdempotentPostMixin, ModelViewSet):
    """CRUD whose reads go through ``visible_to(user)`` and whose writes call services.

    Subclasses name their services; ``write_kwargs`` splits validated data into the keyword
    arguments the services take. Every POST honours ``Idempotency-Key``.
    """

    create_service = staticmethod(lambda **kw: None)
    update_service = staticmethod(lambda **kw: None)
    delete_service = staticmethod(lambda **kw: None)
    instance_kwarg = "instance"

    def get_queryset(self):
        return self.queryset.visible_to(self.request.user)

    def filter_queryset(self, queryset):
        # Filters and ordering shape lists; a detail lookup answers the same with or without
        # them, and building the filter form costs more than the lookup.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def write_kwargs(self, validated_data: dict) -> dict:
        return {"data": validated_data}

    def perform_create(self, serializer):
        serializer.instance = self.create_service(
            actor=self.request.user, **self.write_kwargs(serializer.validated_data)
        )

    def perform_update(self, serializer):
        kwargs = self.write_kwargs(serializer.validated_data)
        kwargs["changes"] = kwargs.pop("data")
        serializer.instance = self.update_service(
            actor=self.request.user, **{self.instance_kwarg: serializer.instance}, **kwargs
        )

    def perform_destroy(self, instance):
        self.delete_service(actor=self.request.user, **{self.instance_kwarg: instance})
