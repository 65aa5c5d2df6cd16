"""Statement of Applicability API: the current statement, exports, decisions, approvals, versions.

Every role reads; engineers read the organisation's statement and their teams' systems' statements
(another team's system answers 404). Officers decide applicability and approve versions; the
services check the role again, so the admin and the API refuse the same things.

Each view names the model whose role permissions guard it (``queryset``): reads need
``view_soaversion``, decisions ``change_applicability``, approvals ``add_soaversion``.
"""

from __future__ import annotations

import django_filters
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from governance.api import base, filters
from governance.api.fields import DateTimeField
from governance.api.idempotency import IdempotentPostMixin
from governance.api.pagination import StableCursorPagination
from governance.choices import ImplementationStatus
from governance.models import AISystem, Applicability, Framework, Requirement, SoAVersion
from governance.services import soa
from governance.services.exports import safe_filename_part

STATUSES = [*ImplementationStatus.values, soa.NO_CONTROL]


# --- Shapes (inputs validated here; outputs documented for the schema) ---------------------------


class SoAScopeQuerySerializer(base.QuerySerializer):
    framework = serializers.SlugField(help_text="Framework code, e.g. iso-iec-42001.")
    version = serializers.CharField(required=False, help_text="Framework version; the latest when omitted.")
    system = serializers.SlugField(required=False, help_text="AI system slug; the organisation when omitted.")


class SoAExportQuerySerializer(SoAScopeQuerySerializer):
    format = serializers.ChoiceField(choices=["csv", "json"], default="csv")


class SoAApplicabilityInputSerializer(base.Serializer):
    framework = serializers.SlugField()
    version = serializers.CharField(required=False)
    ref_id = serializers.CharField(max_length=60, help_text="Annex A control, e.g. A.6.2.4.")
    system = serializers.SlugField(required=False, allow_null=True, help_text="Omit for the organisation.")
    applicable = serializers.BooleanField()
    justification = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required when not applicable."
    )


class SoAApplicabilitySerializer(base.Serializer):
    framework = serializers.CharField()
    version = serializers.CharField()
    ref_id = serializers.CharField()
    system = serializers.CharField(allow_null=True)
    applicable = serializers.BooleanField()
    justification = serializers.CharField()
    updated_at = DateTimeField()


class SoAApproveInputSerializer(base.Serializer):
    framework = serializers.SlugField()
    version = serializers.CharField(required=False)
    system = serializers.SlugField(required=False, allow_null=True, help_text="Omit for the organisation.")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class SoAObjectiveSerializer(base.Serializer):
    ref_id = serializers.CharField()
    title = serializers.CharField()


class SoAImplementingControlSerializer(base.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ImplementationStatus.values)


class SoAEvidenceSerializer(base.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    sha256 = serializers.CharField()
    valid_until = serializers.DateField(allow_null=True)
    expired = serializers.BooleanField()


class SoAEntrySerializer(base.Serializer):
    ref_id = serializers.CharField()
    title = serializers.CharField()
    objective = SoAObjectiveSerializer(allow_null=True)
    applicable = serializers.BooleanField()
    justification = serializers.CharField()
    decided_for = serializers.ChoiceField(
        choices=["system", "organisation"],
        allow_null=True,
        help_text="Whose decision applies; null: default.",
    )
    status = serializers.ChoiceField(choices=STATUSES)
    controls = SoAImplementingControlSerializer(many=True)
    evidence = SoAEvidenceSerializer(many=True)


class SoAFieldChangeSerializer(base.Serializer):
    old = serializers.JSONField()
    new = serializers.JSONField()


class SoAChangeSerializer(base.Serializer):
    ref_id = serializers.CharField()
    title = serializers.CharField()
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    fields = serializers.DictField(child=SoAFieldChangeSerializer())


class SoAFrameworkRefSerializer(base.Serializer):
    code = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()


class SoAVersionSerializer(base.ModelSerializer):
    framework = serializers.CharField(source="framework.code")
    framework_version = serializers.CharField(source="framework.version")
    system = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="System slug; null for the organisation.",
    )
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SoAVersion
        fields = [
            "id",
            "framework",
            "framework_version",
            "system",
            "number",
            "approved_by",
            "approved_at",
            "note",
            "content_sha256",
        ]
        read_only_fields = fields


@extend_schema_field(SoAEntrySerializer(many=True))
class SoAContentField(serializers.JSONField):
    """The frozen statement, returned exactly as approved."""


class SoAVersionDetailSerializer(SoAVersionSerializer):
    content = SoAContentField(read_only=True, help_text="The statement as approved.")

    class Meta(SoAVersionSerializer.Meta):
        fields = [*SoAVersionSerializer.Meta.fields, "content"]
        read_only_fields = fields


class SoAStatementSerializer(base.Serializer):
    framework = SoAFrameworkRefSerializer()
    system = serializers.CharField(allow_null=True, help_text="System slug; null for the organisation.")
    approved_version = SoAVersionSerializer(allow_null=True, help_text="The latest approved version.")
    changes_since_approval = SoAChangeSerializer(many=True)
    statement = SoAEntrySerializer(many=True)


# --- Scope resolution ----------------------------------------------------------------------------


def _framework(code: str, version: str | None, *, field: str | None = None) -> Framework:
    frameworks = Framework.objects.filter(code=code)
    if version:
        frameworks = frameworks.filter(version=version)
    framework = frameworks.order_by("-version").first()
    if framework is None:
        message = f"No framework {code}{' ' + version if version else ''}."
        if field:
            raise exceptions.ValidationError({field: [message]})
        raise exceptions.NotFound(message)
    return framework


def _system(user, slug: str | None, *, field: str | None = None) -> AISystem | None:
    """The system by slug within the caller's scope; outside it, 404 (or a field error for writes)."""
    if not slug:
        return None
    system = AISystem.objects.visible_to(user).filter(slug=slug).first()
    if system is None:
        if field:
            raise exceptions.ValidationError({field: ["No AI system with this slug."]})
        raise exceptions.NotFound("No AI system with this slug.")
    return system


def _scope_from_query(request, serializer_class=SoAScopeQuerySerializer):
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    framework = _framework(data["framework"], data.get("version"))
    return framework, _system(request.user, data.get("system")), data


def _version_summary(version: SoAVersion | None) -> dict | None:
    return SoAVersionSerializer(version).data if version is not None else None


class _IgnoreFormatParameter(BaseContentNegotiation):
    """Always the first renderer: ``?format=csv`` names the export, not a DRF renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# --- Views ----------------------------------------------------------------------------------------


class SoAStatementView(base.APIView):
    """The current Statement of Applicability for the organisation or one AI system."""

    queryset = SoAVersion.objects.all()

    @extend_schema(
        summary="Get the current Statement of Applicability",
        parameters=[SoAScopeQuerySerializer],
        responses={200: SoAStatementSerializer},
    )
    def get(self, request):
        framework, system, _ = _scope_from_query(request)
        current = soa.build_statement(framework=framework, system=system)
        approved = soa.latest_version(framework=framework, system=system)
        return Response(
            {
                "framework": {"code": framework.code, "version": framework.version, "name": framework.name},
                "system": system.slug if system else None,
                "approved_version": _version_summary(approved),
                "changes_since_approval": (
                    soa.statement_changes(
                        framework=framework, system=system, current=current, approved=approved
                    )
                    if approved
                    else []
                ),
                "statement": current,
            }
        )


class SoAExportView(base.APIView):
    """The current statement as a CSV or JSON download."""

    queryset = SoAVersion.objects.all()
    renderer_classes = [JSONRenderer]  # errors; the download itself is a plain response
    content_negotiation_class = _IgnoreFormatParameter

    @extend_schema(
        summary="Download the current Statement of Applicability (CSV or JSON)",
        operation_id="soa_export_retrieve",
        parameters=[SoAExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per Annex A control."),
            (200, "application/json"): SoAEntrySerializer(many=True),
        },
    )
    def get(self, request):
        framework, system, params = _scope_from_query(request, SoAExportQuerySerializer)
        rows = soa.build_statement(framework=framework, system=system)
        return export_response(rows, framework=framework, system=system, kind=params["format"])


def export_response(rows, *, framework: Framework, system: AISystem | None, kind: str) -> HttpResponse:
    """A download of ``rows`` (``kind`` ``csv`` or ``json``) with a safe attachment name."""
    scope = system.slug if system else "organisation"
    name = "-".join(
        [
            "soa",
            safe_filename_part(framework.code, fallback="framework"),
            safe_filename_part(scope, fallback="scope"),
            timezone.localdate().isoformat(),
        ]
    )
    if kind == "json":
        response = HttpResponse(soa.export_json(rows), content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(soa.export_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class SoAApplicabilityView(base.APIView):
    """Decide whether an Annex A control applies (officers)."""

    queryset = Applicability.objects.all()

    @extend_schema(
        summary="Set whether an Annex A control applies, and why",
        description="Excluding a control (applicable: false) requires a justification.",
        request=SoAApplicabilityInputSerializer,
        responses={200: SoAApplicabilitySerializer},
    )
    def put(self, request):
        body = SoAApplicabilityInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        framework = _framework(data["framework"], data.get("version"), field="framework")
        system = _system(request.user, data.get("system"), field="system")
        requirement = soa.annex_a_controls(framework).filter(ref_id=data["ref_id"]).first()
        if requirement is None:
            raise exceptions.ValidationError(
                {"ref_id": [f"No Annex A control {data['ref_id']} in {framework}."]}
            )
        decision = soa.set_applicability(
            actor=request.user,
            requirement=requirement,
            system=system,
            applicable=data["applicable"],
            justification=data["justification"],
        )
        return Response(_decision_data(decision, framework, requirement, system))


def _decision_data(decision: Applicability, framework: Framework, requirement: Requirement, system) -> dict:
    return {
        "framework": framework.code,
        "version": framework.version,
        "ref_id": requirement.ref_id,
        "system": system.slug if system else None,
        "applicable": decision.applicable,
        "justification": decision.justification,
        "updated_at": serializers.DateTimeField().to_representation(decision.updated_at),
    }


class SoAApproveView(IdempotentPostMixin, base.APIView):
    """Approve the current statement as the scope's next version (officers)."""

    queryset = SoAVersion.objects.all()

    @extend_schema(
        summary="Approve the current Statement of Applicability",
        request=SoAApproveInputSerializer,
        responses={201: SoAVersionDetailSerializer},
    )
    def post(self, request):
        body = SoAApproveInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        framework = _framework(data["framework"], data.get("version"), field="framework")
        system = _system(request.user, data.get("system"), field="system")
        version = soa.approve_statement(
            actor=request.user, framework=framework, system=system, note=data["note"]
        )
        return Response(SoAVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class SoAVersionFilter(filters.FilterSet):
    framework = django_filters.CharFilter(field_name="framework__code", help_text="Framework code.")
    version = django_filters.CharFilter(field_name="framework__version", help_text="Framework version.")
    system = django_filters.CharFilter(field_name="system__slug", help_text="AI system slug.")
    organisation_wide = filters.BooleanFilter(
        field_name="system", lookup_expr="isnull", help_text="true: only organisation-wide statements."
    )

    class Meta:
        model = SoAVersion
        fields = ["framework", "version", "system", "organisation_wide"]


class SoAVersionPagination(StableCursorPagination):
    ordering = ("-approved_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List approved Statement of Applicability versions"),
    retrieve=extend_schema(summary="Get an approved Statement of Applicability version"),
)
class SoAVersionViewSet(base.ReadOnlyModelViewSet):
    """Approved, frozen statements; system statements follow the system's visibility."""

    queryset = SoAVersion.objects.all()
    filter_backends = [filters.FilterBackend]
    filterset_class = SoAVersionFilter
    pagination_class = SoAVersionPagination

    def get_queryset(self):
        versions = self.queryset.visible_to(self.request.user).select_related(
            "framework", "system", "approved_by"
        )
        return versions.defer("content") if self.action == "list" else versions

    def get_serializer_class(self):
        return SoAVersionSerializer if self.action == "list" else SoAVersionDetailSerializer

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset


urlpatterns = [
    path("soa/", SoAStatementView.as_view(), name="soa-statement"),
    path("soa/export/", SoAExportView.as_view(), name="soa-export"),
    path("soa/applicability/", SoAApplicabilityView.as_view(), name="soa-applicability"),
    path("soa/approve/", SoAApproveView.as_view(), name="soa-approve"),
    path("soa/versions/", SoAVersionViewSet.as_view({"get": "list"}), name="soa-version-list"),
    path("soa/versions/<int:pk>/", SoAVersionViewSet.as_view({"get": "retrieve"}), name="soa-version-detail"),
]
