"""API for the control library and control implementations: serializers, filters and views.

Lists read the names they show (owner, control code, system slug) as annotations of the one
query and prefetch the mapped requirements once per page, so a page costs the same number of
queries however many rows it holds.
"""

from __future__ import annotations

import django_filters
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from governance import choices
from governance.api import base, filters
from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.fields import AnnotatedSlugRelatedField, user_field
from governance.models import AISystem, Control, ControlImplementation, Requirement
from governance.services import controls as services

# --- Controls -----------------------------------------------------------------------------------


class RequirementRefSerializer(base.ModelSerializer):
    framework = serializers.CharField(source="framework.code", read_only=True, help_text="Framework code.")

    class Meta:
        model = Requirement
        fields = ["id", "framework", "ref_id", "title"]
        read_only_fields = fields


_MAX_REQUIREMENTS = 1000
_MAX_ID = 2**63 - 1


class RequirementsField(serializers.Field):
    """The requirements a control satisfies, under one name both ways: read as
    ``[{id, framework, ref_id, title}]``, written as the full set of their ids. An item read from
    a control may be sent back as it is (its ``id`` is what counts). Left out of a write, the
    mappings are not touched."""

    default_error_messages = {
        "not_a_list": "Expected a list of requirement ids.",
        "invalid": "Give each requirement as its id (a number).",
        "too_many": f"At most {_MAX_REQUIREMENTS} requirements.",
    }

    def to_representation(self, requirements):
        return RequirementRefSerializer(requirements.all(), many=True).data

    def to_internal_value(self, data) -> list[int]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > _MAX_REQUIREMENTS:
            self.fail("too_many")
        ids = []
        for item in data:
            value = item.get("id") if isinstance(item, dict) else item
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
                self.fail("invalid")
            ids.append(value)
        return ids


class RequirementsFieldSchema(OpenApiSerializerFieldExtension):
    """Ids in a request, requirement references in a response."""

    target_class = RequirementsField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return {"type": "array", "items": {"type": "integer"}, "maxItems": _MAX_REQUIREMENTS}
        component = auto_schema.resolve_serializer(RequirementRefSerializer, direction)
        return {"type": "array", "items": component.ref}


class ControlSerializer(base.ModelSerializer):
    owner = user_field()
    requirements = RequirementsField(
        required=False,
        help_text="What the control satisfies (of any framework): read as references, written as "
        "the full set of requirement ids.",
    )

    class Meta:
        model = Control
        fields = [
            "code",
            "title",
            "description",
            "owner",
            "control_type",
            "frequency",
            "requirements",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"code": {"validators": []}}  # the model layer checks uniqueness, once


class ControlFilter(filters.FilterSet):
    control_type = django_filters.MultipleChoiceFilter(choices=choices.ControlType.choices)
    frequency = django_filters.MultipleChoiceFilter(choices=choices.ControlFrequency.choices)
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    requirement = filters.IdFilter(
        field_name="requirements", help_text="Id of a requirement the control is mapped to."
    )
    framework = django_filters.CharFilter(
        method="filter_framework", help_text="Code of a framework the control is mapped into."
    )
    q = django_filters.CharFilter(method="search", help_text="Search code, title and description.")

    class Meta:
        model = Control
        fields = ["control_type", "frequency"]

    def filter_framework(self, queryset, name, value):
        mapped = Control.requirements.through.objects.filter(requirement__framework__code=value)
        return queryset.filter(pk__in=mapped.values("control_id"))

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(code__icontains=value) | Q(title__icontains=value) | Q(description__icontains=value)
        )


@extend_schema_view(
    **crud_summaries(
        "a control",
        "controls",
        destroy="Delete a control (409 while it is implemented anywhere)",
    )
)
class ControlViewSet(ServiceModelViewSet):
    """The organisation's control library, shared by all teams; officers maintain it."""

    queryset = Control.objects.all()
    serializer_class = ControlSerializer
    filterset_class = ControlFilter
    ordering_fields = ["created_at", "updated_at", "code", "title"]
    lookup_field = "code"
    create_service = staticmethod(services.create_control)
    update_service = staticmethod(services.update_control)
    delete_service = staticmethod(services.delete_control)
    instance_kwarg = "control"

    def get_queryset(self):
        requirements = Requirement.objects.select_related("framework").only(
            "id", "ref_id", "title", "framework", "framework__code"
        )
        return (
            super()
            .get_queryset()
            .annotate(owner_username=F("owner__username"))
            .prefetch_related(Prefetch("requirements", queryset=requirements))
        )

    def write_kwargs(self, validated_data):
        data = dict(validated_data)
        requirement_ids = data.pop("requirements", None)
        kwargs = {"data": data}
        if requirement_ids is not None:
            kwargs["requirement_ids"] = requirement_ids
        return kwargs


# --- Control implementations --------------------------------------------------------------------


class ControlImplementationSerializer(base.ModelSerializer):
    control = AnnotatedSlugRelatedField(
        annotation="control_code", slug_field="code", queryset=Control.objects.all()
    )
    system = AnnotatedSlugRelatedField(
        annotation="system_slug",
        slug_field="slug",
        queryset=AISystem.objects.all(),
        visible=True,
        allow_null=True,
        help_text="Slug of the system; null for an organisation-wide implementation (officers only).",
    )
    owner = user_field()

    class Meta:
        model = ControlImplementation
        fields = [
            "id",
            "control",
            "system",
            "status",
            "justification",
            "owner",
            "last_tested_on",
            "next_test_due",
            "effectiveness",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # one per control and system: the service answers on ``system``


class ControlImplementationFilter(filters.FilterSet):
    control = django_filters.CharFilter(field_name="control__code", help_text="Control code.")
    system = django_filters.CharFilter(field_name="system__slug", help_text="System slug.")
    organisation_wide = filters.BooleanFilter(field_name="system", lookup_expr="isnull")
    team = django_filters.CharFilter(
        field_name="system__owning_team__slug", help_text="Slug of the team owning the system."
    )
    status = django_filters.MultipleChoiceFilter(choices=choices.ImplementationStatus.choices)
    effectiveness = django_filters.MultipleChoiceFilter(choices=choices.Effectiveness.choices)
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    overdue = filters.BooleanFilter(
        method="filter_overdue", help_text="true: the next test was due before today."
    )
    q = django_filters.CharFilter(
        method="search", help_text="Search the control's code and title, the system and the justification."
    )

    class Meta:
        model = ControlImplementation
        fields = ["status", "effectiveness"]

    def filter_overdue(self, queryset, name, value):
        return queryset.test_overdue(timezone.localdate(), value)

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(control__code__icontains=value)
            | Q(control__title__icontains=value)
            | Q(system__slug__icontains=value)
            | Q(system__name__icontains=value)
            | Q(justification__icontains=value)
        )


@extend_schema_view(
    **crud_summaries(
        "a control implementation",
        "control implementations visible to you",
        create="Record how a control is implemented for a system or organisation-wide",
    )
)
class ControlImplementationViewSet(ServiceModelViewSet):
    """Where and how each control is implemented. Engineers see organisation-wide implementations
    and their teams' systems' ones, and change only the latter."""

    queryset = ControlImplementation.objects.all()
    serializer_class = ControlImplementationSerializer
    filterset_class = ControlImplementationFilter
    ordering_fields = ["created_at", "updated_at"]
    create_service = staticmethod(services.create_implementation)
    update_service = staticmethod(services.update_implementation)
    delete_service = staticmethod(services.delete_implementation)
    instance_kwarg = "implementation"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(
                control_code=F("control__code"),
                system_slug=F("system__slug"),
                owner_username=F("owner__username"),
            )
        )
