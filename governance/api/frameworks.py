"""API for the framework catalogs: frameworks and requirements (read-only reference data, loaded
by ``manage.py load_catalogs``) and the requirement mappings between them (officers curate).

Lists read the names they show (framework code and version) as annotations of the one query, so a
page costs the same number of queries however many rows it holds. A requirement's detail reads
its children, its mappings in both directions and its controls with one query each.
"""

from __future__ import annotations

import django_filters
from django.db.models import Count, F, Prefetch, Q
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers

from governance import choices
from governance.api import base, filters
from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.pagination import StableCursorPagination
from governance.models import Control, Framework, Requirement, RequirementMapping
from governance.services import mappings as services

# --- Frameworks ---------------------------------------------------------------------------------


class FrameworkSerializer(base.ModelSerializer):
    # Blank when the publisher has no canonical page; a blank is not a URI, so say it may be one.
    source_url = serializers.URLField(read_only=True, allow_blank=True)
    requirements_total = serializers.IntegerField(read_only=True, help_text="Requirements in the framework.")
    requirements_assessable = serializers.IntegerField(
        read_only=True, help_text="Requirements that count in coverage and assessments."
    )

    class Meta:
        model = Framework
        fields = [
            "id",
            "code",
            "version",
            "name",
            "short_name",
            "publisher",
            "published_on",
            "source_url",
            "licence",
            "attribution",
            "requirements_total",
            "requirements_assessable",
        ]
        read_only_fields = fields


class FrameworkFilter(filters.FilterSet):
    code = django_filters.CharFilter(help_text="Framework code, e.g. iso-iec-42001.")

    class Meta:
        model = Framework
        fields = ["code"]


class FrameworkPagination(StableCursorPagination):
    ordering = ("code", "-version", "id")


@extend_schema_view(
    list=extend_schema(summary="List frameworks"),
    retrieve=extend_schema(summary="Get a framework"),
)
class FrameworkViewSet(base.ReadOnlyModelViewSet):
    """Standards, regulations and profiles, one row per version, with their requirement counts."""

    queryset = Framework.objects.all()
    serializer_class = FrameworkSerializer
    filter_backends = [filters.FilterBackend]
    filterset_class = FrameworkFilter
    pagination_class = FrameworkPagination

    def get_queryset(self):
        frameworks = self.queryset.visible_to(self.request.user)
        return frameworks.annotate(
            requirements_total=Count("requirements"),
            requirements_assessable=Count("requirements", filter=Q(requirements__assessable=True)),
        )

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset


# --- Requirements -------------------------------------------------------------------------------


class RequirementEndSerializer(base.Serializer):
    """The other requirement of a mapping, or either end of one."""

    id = serializers.IntegerField()
    framework = serializers.CharField(source="framework.code", help_text="Framework code.")
    version = serializers.CharField(source="framework.version", help_text="Framework version.")
    ref_id = serializers.CharField()
    title = serializers.CharField()


class MappingFromRequirementSerializer(base.Serializer):
    """A mapping as read from one requirement (the one whose detail this is)."""

    id = serializers.IntegerField(help_text="Id of the mapping (/requirement-mappings/{id}/).")
    relationship = serializers.ChoiceField(
        choices=choices.MappingRelationship.choices,
        help_text="What this requirement is to the other one: the recorded relationship for an "
        "outgoing mapping, its inverse (subset ↔ superset) for an incoming one.",
    )
    other = RequirementEndSerializer()
    provenance = serializers.CharField()
    rationale = serializers.CharField()
    direction = serializers.ChoiceField(
        choices=[("outgoing", "outgoing"), ("incoming", "incoming")],
        help_text="outgoing: this requirement is the mapping's source; incoming: its target.",
    )


class ChildRequirementSerializer(base.ModelSerializer):
    class Meta:
        model = Requirement
        fields = ["id", "ref_id", "title"]
        read_only_fields = fields


class ControlRefSerializer(base.ModelSerializer):
    class Meta:
        model = Control
        fields = ["code", "title"]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "string",
        "enum": list(choices.RequirementKind.values),
        "description": "\n".join(
            f"* `{value}` - {label}" for value, label in choices.RequirementKind.choices
        ),
    },
    component_name="RequirementKindEnum",
)
class RequirementKindField(serializers.ChoiceField):
    """A requirement's kind, documented as one named enum: list and detail both show it, and
    ``kind`` is also the name of the evidence kind, so the generated name would be ambiguous."""

    def __init__(self, **kwargs):
        super().__init__(choices=choices.RequirementKind.choices, **kwargs)


class RequirementSerializer(base.ModelSerializer):
    framework = serializers.CharField(source="framework_code", read_only=True, help_text="Framework code.")
    version = serializers.CharField(
        source="framework_version", read_only=True, help_text="Framework version."
    )
    parent = serializers.IntegerField(
        source="parent_id", read_only=True, allow_null=True, help_text="Id of the parent requirement."
    )
    kind = RequirementKindField(read_only=True)

    class Meta:
        model = Requirement
        fields = [
            "id",
            "framework",
            "version",
            "ref_id",
            "parent",
            "kind",
            "title",
            "description",
            "assessable",
            "order",
        ]
        read_only_fields = fields


class RequirementDetailSerializer(RequirementSerializer):
    children = ChildRequirementSerializer(many=True, read_only=True)
    mappings = serializers.SerializerMethodField(
        help_text="Mappings in both directions, each read from this requirement."
    )
    controls = ControlRefSerializer(many=True, read_only=True, help_text="Controls mapped to it.")

    class Meta(RequirementSerializer.Meta):
        fields = [
            *RequirementSerializer.Meta.fields,
            "text",
            "attributes",
            "children",
            "mappings",
            "controls",
        ]
        read_only_fields = fields

    @extend_schema_field(MappingFromRequirementSerializer(many=True))
    def get_mappings(self, requirement) -> list[dict]:
        rows = [(m, m.target, "outgoing", m.relationship) for m in requirement.mappings_out.all()]
        rows += [
            (m, m.source, "incoming", services.inverse_relationship(m.relationship))
            for m in requirement.mappings_in.all()
        ]
        rows.sort(key=lambda row: (row[1].framework.code, row[1].framework.version, row[1].order, row[0].pk))
        return [
            {
                "id": mapping.pk,
                "relationship": relationship,
                "other": {
                    "id": other.pk,
                    "framework": other.framework.code,
                    "version": other.framework.version,
                    "ref_id": other.ref_id,
                    "title": other.title,
                },
                "provenance": mapping.provenance,
                "rationale": mapping.rationale,
                "direction": direction,
            }
            for mapping, other, direction, relationship in rows
        ]


class RequirementFilter(filters.FilterSet):
    framework = django_filters.CharFilter(field_name="framework__code", help_text="Framework code.")
    version = django_filters.CharFilter(field_name="framework__version", help_text="Framework version.")
    kind = django_filters.MultipleChoiceFilter(choices=choices.RequirementKind.choices)
    assessable = filters.BooleanFilter()
    parent = filters.IdFilter(field_name="parent_id", help_text="Id of the parent requirement.")
    ref_id = django_filters.CharFilter(help_text="The identifier the framework uses, e.g. A.6.2.6.")
    q = django_filters.CharFilter(method="search", help_text="Search ref_id, title, description and text.")

    class Meta:
        model = Requirement
        fields = ["framework", "version", "kind", "assessable", "parent", "ref_id"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(ref_id__icontains=value)
            | Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(text__icontains=value)
        )


class RequirementPagination(StableCursorPagination):
    # ``order`` is the reading order within a framework; filter by framework to read one.
    ordering = ("order", "id")


@extend_schema_view(
    list=extend_schema(summary="List requirements of the framework catalogs"),
    retrieve=extend_schema(summary="Get a requirement with its children, mappings and controls"),
)
class RequirementViewSet(base.ReadOnlyModelViewSet):
    """Requirements of every framework: functions, clauses, controls, articles, …"""

    queryset = Requirement.objects.all()
    filter_backends = [filters.FilterBackend]
    filterset_class = RequirementFilter
    pagination_class = RequirementPagination

    def get_serializer_class(self):
        return RequirementDetailSerializer if self.action == "retrieve" else RequirementSerializer

    def get_queryset(self):
        requirements = self.queryset.visible_to(self.request.user).annotate(
            framework_code=F("framework__code"), framework_version=F("framework__version")
        )
        if self.action != "retrieve":
            return requirements.defer("text", "attributes")
        ends = ("id", "ref_id", "title", "order", "framework__code", "framework__version")
        mapping_fields = ("id", "relationship", "provenance", "rationale", "source_id", "target_id")
        return requirements.prefetch_related(
            Prefetch(
                "children",
                queryset=Requirement.objects.only("id", "ref_id", "title", "parent_id").order_by("order"),
            ),
            Prefetch(
                "mappings_out",
                queryset=RequirementMapping.objects.select_related("target__framework").only(
                    *mapping_fields, *(f"target__{field}" for field in ends)
                ),
            ),
            Prefetch(
                "mappings_in",
                queryset=RequirementMapping.objects.select_related("source__framework").only(
                    *mapping_fields, *(f"source__{field}" for field in ends)
                ),
            ),
            Prefetch(
                "controls",
                queryset=Control.objects.visible_to(self.request.user).only("id", "code", "title"),
            ),
        )

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset


# --- Requirement mappings -----------------------------------------------------------------------


class VisibleRequirementField(serializers.PrimaryKeyRelatedField):
    """A requirement written as its id; only requirements the caller can see exist."""

    def get_queryset(self):
        request = self.context.get("request")
        requirements = Requirement.objects.select_related("framework")
        return requirements.visible_to(request.user) if request is not None else requirements


class RequirementMappingSerializer(base.ModelSerializer):
    source = VisibleRequirementField(help_text="Id of the requirement the mapping reads from.")
    target = VisibleRequirementField(help_text="Id of the requirement the mapping reads to.")
    source_requirement = RequirementEndSerializer(source="source", read_only=True)
    target_requirement = RequirementEndSerializer(source="target", read_only=True)

    class Meta:
        model = RequirementMapping
        fields = [
            "id",
            "source",
            "target",
            "relationship",
            "provenance",
            "rationale",
            "origin",
            "modified_locally",
            "source_requirement",
            "target_requirement",
        ]
        # Set by the service: a mapping recorded here is local; a shipped one changed here is
        # modified locally, and load_catalogs leaves both as they are.
        read_only_fields = ["id", "origin", "modified_locally"]
        extra_kwargs = {
            "relationship": {"help_text": "What the source is to the target."},
            "provenance": {"help_text": "Where the mapping comes from, e.g. a crosswalk or a review."},
        }
        validators = []  # the pair rules are the service's, reported on ``target``


class RequirementMappingFilter(filters.FilterSet):
    source = filters.IdFilter(field_name="source_id", help_text="Id of the source requirement.")
    target = filters.IdFilter(field_name="target_id", help_text="Id of the target requirement.")
    framework = django_filters.CharFilter(
        method="filter_framework", help_text="Code of the framework of either end."
    )
    relationship = django_filters.MultipleChoiceFilter(choices=choices.MappingRelationship.choices)
    provenance = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the provenance.")
    origin = django_filters.ChoiceFilter(choices=RequirementMapping.Origin.choices)

    class Meta:
        model = RequirementMapping
        fields = ["source", "target", "relationship", "provenance", "origin", "modified_locally"]

    def filter_framework(self, queryset, name, value):
        return queryset.filter(Q(source__framework__code=value) | Q(target__framework__code=value))


class RequirementMappingPagination(StableCursorPagination):
    ordering = ("id",)


@extend_schema_view(**crud_summaries("a requirement mapping", "requirement mappings"))
class RequirementMappingViewSet(ServiceModelViewSet):
    """Documented relations between requirements (crosswalks), as recorded: source → target.
    Every role reads them; officers record, change and remove them."""

    queryset = RequirementMapping.objects.all()
    serializer_class = RequirementMappingSerializer
    filter_backends = [filters.FilterBackend]
    filterset_class = RequirementMappingFilter
    pagination_class = RequirementMappingPagination
    create_service = staticmethod(services.create_mapping)
    update_service = staticmethod(services.update_mapping)
    delete_service = staticmethod(services.delete_mapping)
    instance_kwarg = "mapping"

    def get_queryset(self):
        mappings = self.queryset.visible_to(self.request.user)
        heavy = ("text", "description", "attributes")
        return mappings.select_related("source__framework", "target__framework").defer(
            *(f"{end}__{field}" for end in ("source", "target") for field in heavy)
        )
