"""Hallucination findings: claims found hallucinated in a response, posted one at a time or in
a batch (all or nothing), and triaged through their status. Posting the same finding again (same
model, benchmark, sample and claim) answers the one already recorded.
"""

from __future__ import annotations

import operator

import django_filters
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from governance.api import base, filters
from governance.api.base import FastRepresentation, ServiceModelViewSet, crud_summaries
from governance.api.fields import AnnotatedNameField, named_choice_field
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import NewestFirstPagination
from incidents import choices
from incidents.api.evaluations.uploads import TooLarge
from incidents.api.fields import MAX_ID, SystemReferenceField, benchmark_field, system_ids
from incidents.models import EvaluationRun, HallucinationFinding
from incidents.services import evaluations as evaluation_services
from incidents.services import findings as finding_services

# Most findings one request may carry.
MAX_FINDINGS_PER_REQUEST = evaluation_services.MAX_BULK_FINDINGS

FindingStatusField = named_choice_field("HallucinationFindingStatus", choices.FindingStatus.choices)


# --- Fields --------------------------------------------------------------------------------------


class CachedSystemReferenceField(SystemReferenceField):
    """``SystemReferenceField`` that resolves each id or slug once per request (a batch of
    findings names the same few systems again and again)."""

    def to_internal_value(self, data):
        cache = self.context.setdefault("_systems", {})
        key = (type(data).__name__, data) if isinstance(data, int | str) else None
        if key is not None and key in cache:
            return cache[key]
        system = super().to_internal_value(data)
        if key is not None:
            cache[key] = system
        return system


@extend_schema_field({"type": "integer", "nullable": True, "description": "The evaluation run's id."})
class RunReferenceField(serializers.Field):
    """An evaluation run written as its id; one the caller cannot see reads as missing."""

    default_error_messages = {
        "invalid": "Give the evaluation run's id (a number).",
        "unknown": "No evaluation run with this id.",
    }

    def to_representation(self, value):
        return value.pk if isinstance(value, EvaluationRun) else value

    def get_attribute(self, instance):
        return instance.run_id

    def row_getter(self):
        return operator.attrgetter("run_id")

    def to_internal_value(self, data) -> EvaluationRun:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if not 0 < data <= MAX_ID:
            self.fail("unknown")
        cache = self.context.setdefault("_runs", {})
        if data not in cache:
            request = self.context["request"]
            cache[data] = EvaluationRun.objects.visible_to(request.user).filter(pk=data).first()
        if cache[data] is None:
            self.fail("unknown")
        return cache[data]


# --- Serializers and filter ----------------------------------------------------------------------


class HallucinationFindingSerializer(FastRepresentation, base.ModelSerializer):
    system = CachedSystemReferenceField(required=False, help_text="Optional with run: the run's system.")
    benchmark = benchmark_field(required=False, allow_blank=True, help_text="Optional with run: the run's.")
    run = RunReferenceField(
        required=False,
        allow_null=True,
        help_text="Id of the run it was found in; its system, model and benchmark fill those left out.",
    )
    prompt_sensitive = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="true: store only the prompt's SHA-256, not the prompt.",
    )
    team = AnnotatedNameField(
        annotation="team_slug", path="team.slug", help_text="Slug of the team owning the system when posted."
    )
    reporter = AnnotatedNameField(annotation="reporter_username", path="reporter.username")
    status = FindingStatusField(choices=choices.FindingStatus.choices, read_only=True)

    class Meta:
        model = HallucinationFinding
        fields = [
            "id",
            "run",
            "system",
            "team",
            "model_name",
            "model_version",
            "benchmark",
            "sample_id",
            "prompt",
            "prompt_sha256",
            "prompt_sensitive",
            "response_excerpt",
            "claim",
            "reference",
            "kind",
            "subtype",
            "grade",
            "detector_score",
            "detector_threshold",
            "severity",
            "status",
            "duplicate_of",
            "reporter",
            "created_at",
            "updated_at",
        ]
        # What a post may set is the service's FINDING_FIELDS, under the API's names.
        read_only_fields = base.read_only_except(
            fields, {*finding_services.FINDING_FIELDS, "benchmark"} - {"benchmark_name"}
        )
        extra_kwargs = {
            "model_name": {"required": False},
            "model_version": {"required": False},
            "grade": {"required": False, "help_text": "Default: incorrect."},
        }
        validators = []  # the dedupe hash is the service's: a repeat answers the existing row


class FindingBatchSerializer(base.Serializer):
    """The answer to a batch: every finding in the order posted, new or already recorded."""

    created = serializers.IntegerField(help_text="How many were new.")
    existing = serializers.IntegerField(help_text="How many were already recorded (answered as they are).")
    results = HallucinationFindingSerializer(many=True)


class FindingStatusSerializer(base.Serializer):
    status = FindingStatusField(choices=choices.FindingStatus.choices)
    duplicate_of = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of the original finding; required with status=duplicate.",
    )

    def validate_duplicate_of(self, value):
        if value is None:
            return None
        request = self.context["request"]
        original = HallucinationFinding.objects.visible_to(request.user).filter(pk=value).first()
        if original is None:
            raise serializers.ValidationError("No finding with this id.")
        return original


class HallucinationFindingFilter(filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    status = django_filters.MultipleChoiceFilter(choices=choices.FindingStatus.choices, distinct=False)
    subtype = django_filters.MultipleChoiceFilter(
        choices=choices.HallucinationSubtype.choices, distinct=False
    )
    kind = django_filters.ChoiceFilter(choices=choices.HallucinationKind.choices)
    severity = django_filters.MultipleChoiceFilter(choices=choices.Severity.choices(), distinct=False)
    run = django_filters.NumberFilter(field_name="run_id", help_text="Id of the evaluation run.")
    model_version = django_filters.CharFilter(field_name="model_version")
    benchmark = django_filters.CharFilter(field_name="benchmark_name", help_text="Benchmark name.")
    created_after = filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = HallucinationFinding
        fields = ["status", "subtype", "kind", "severity"]

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=system_ids(value))


# --- Views ---------------------------------------------------------------------------------------


class TooManyFindings(TooLarge):
    default_code = "too_many_findings"


_FINDING_OR_BATCH = PolymorphicProxySerializer(
    component_name="HallucinationFindingOrBatch",
    serializers=[HallucinationFindingSerializer, FindingBatchSerializer],
    resource_type_field_name=None,
)


@extend_schema_view(
    **crud_summaries(
        "a hallucination finding",
        "hallucination findings visible to you",
        create="Record one hallucination finding, or a batch of up to 1,000 (all or nothing)",
        partial_update="Change a finding's status (engineers of the system's team, officers)",
    )
)
class HallucinationFindingViewSet(ServiceModelViewSet):
    """Hallucinated claims found in responses. Posting the same finding again (same model,
    benchmark, sample and claim) answers the one already recorded."""

    queryset = HallucinationFinding.objects.all()
    serializer_class = HallucinationFindingSerializer
    filterset_class = HallucinationFindingFilter
    pagination_class = NewestFirstPagination
    ordering_fields = ["created_at", "updated_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            return queryset.with_names()
        return queryset.select_related("system")

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=HallucinationFindingSerializer,
        responses={201: _FINDING_OR_BATCH, 200: _FINDING_OR_BATCH},
        description=(
            "One finding (an object): 201, or 200 with the finding already recorded. A batch (a JSON array "
            f"of 1 to {MAX_FINDINGS_PER_REQUEST} objects): all are recorded or none; an invalid batch "
            "answers 400 with `errors` keyed by the position of each invalid item (from 0). A batch "
            "answers 201 when any finding is new, else 200, with `created`, `existing` and `results` "
            "(every finding, in the order posted)."
        ),
    )
    def create(self, request, *args, **kwargs):
        context = self.get_serializer_context()
        if isinstance(request.data, list):
            return self._create_batch(request.data, context)
        body = HallucinationFindingSerializer(data=request.data, context=context)
        body.is_valid(raise_exception=True)
        finding, created = evaluation_services.record_finding(actor=request.user, data=body.validated_data)
        return Response(
            HallucinationFindingSerializer(finding, context=context).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _create_batch(self, items: list, context: dict) -> Response:
        if not items:
            raise exceptions.ValidationError({"non_field_errors": ["Send at least one finding."]})
        if len(items) > MAX_FINDINGS_PER_REQUEST:
            raise TooManyFindings(
                f"{len(items)} findings; send at most {MAX_FINDINGS_PER_REQUEST} per request."
            )
        body = HallucinationFindingSerializer(data=items, many=True, context=context)
        if not body.is_valid():
            errors = body.errors
            pairs = errors.items() if isinstance(errors, dict) else enumerate(errors)
            raise exceptions.ValidationError({str(position): found for position, found in pairs if found})
        try:
            results = evaluation_services.record_findings(
                actor=self.request.user, items=[dict(item) for item in body.validated_data]
            )
        except evaluation_services.BulkInvalid as exc:
            raise exceptions.ValidationError(
                {str(position): _field_names(errors) for position, errors in sorted(exc.errors.items())}
            ) from exc
        created = sum(1 for _, new in results if new)
        serializer = HallucinationFindingSerializer(context=context)
        answer = {
            "created": created,
            "existing": len(results) - created,
            "results": [serializer.to_representation(finding) for finding, _ in results],
        }
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=FindingStatusSerializer, responses={200: HallucinationFindingSerializer})
    def partial_update(self, request, *args, **kwargs):
        finding = self.get_object()
        body = FindingStatusSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        finding = evaluation_services.update_finding_status(
            actor=request.user,
            finding=finding,
            status=body.validated_data["status"],
            duplicate_of=body.validated_data["duplicate_of"],
        )
        return Response(HallucinationFindingSerializer(finding, context=self.get_serializer_context()).data)


def _field_names(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if name == "__all__" else name): messages for name, messages in errors.items()
    }
