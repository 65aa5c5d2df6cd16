"""Evaluation API views: evaluation runs (with counts, a JSON array of per-sample results or a
JSONL upload of them), their samples, hallucination findings (one or a batch), limits, and the
hallucination-rate trend and version comparison of a system.

The trend is a time series for charts: runs created in an optional ``since``..``until`` window,
oldest first, at most ``limit`` points a response (default and most ``MAX_TREND_POINTS``, 1,000),
and ``next``, a cursor link to the following points (null on the last page). The comparison
answers two aggregates, whatever the number of runs, so it needs no bound.

A large run is posted as ``multipart/form-data`` with two parts: ``run``, the run's fields as a
JSON object (the same fields as a JSON post, without counts), and ``sample_results``, a JSONL
file with one sample per line, read as a stream (``incidents.api.sample_uploads``) and handed
to the service as a generator, so no more than one chunk of it is ever in memory. The body may
be at most ``VERITY_MAX_SAMPLES_UPLOAD_BYTES`` (413 before anything is read) and hold at most
``MAX_SAMPLES`` samples (413). A line that is not a valid sample answers 422 naming it, and the
run's transaction is rolled back: nothing of that upload is stored.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import StableCursorPagination
from governance.exceptions import TooLarge as ServiceTooLarge
from governance.models import AISystem
from incidents import choices
from incidents.api.evaluation_serializers import (
    MAX_FINDINGS_PER_REQUEST,
    MAX_SAMPLES,
    MAX_TREND_POINTS,
    CompareQuerySerializer,
    EvaluationRunSerializer,
    EvaluationSampleSerializer,
    FindingBatchSerializer,
    FindingStatusSerializer,
    HallucinationFindingSerializer,
    HallucinationLimitSerializer,
    HallucinationLimitUpdateSerializer,
    TrendQuerySerializer,
    resolve_system,
)
from incidents.api.sample_uploads import (
    InvalidSampleLine,
    TooLarge,
    multipart_parts,
    refuse_oversized_upload,
    upload_samples,
)
from incidents.models import EvaluationRun, HallucinationFinding, HallucinationLimit
from incidents.services import evaluations as evaluation_services

# --- Errors -------------------------------------------------------------------------------------


class InvalidSampleResponse(exceptions.APIException):
    """422 naming the line (the position, from 1) of the first sample that is not valid."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "invalid_sample"
    default_detail = "A sample is not valid."

    def __init__(self, detail: str, *, line: int):
        super().__init__(detail)
        self.line = line


class TooManySamples(TooLarge):
    default_code = "too_many_samples"
    default_detail = f"A run may have at most {MAX_SAMPLES} samples."


class TooManyFindings(TooLarge):
    default_code = "too_many_findings"


# --- Filters ------------------------------------------------------------------------------------


def _system_ids(value: str) -> list[int]:
    return list(AISystem.objects.filter(slug=value).values_list("id", flat=True))


class EvaluationRunFilter(django_filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    model_version = django_filters.CharFilter(field_name="model_version")
    benchmark = django_filters.CharFilter(field_name="benchmark_name", help_text="Benchmark name.")
    exceeded_limit = django_filters.BooleanFilter(
        field_name="exceeded_limit", help_text="true: the run's rate exceeded the system's limit."
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = EvaluationRun
        fields = ["model_version", "exceeded_limit"]

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=_system_ids(value))


class HallucinationFindingFilter(django_filters.FilterSet):
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
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = HallucinationFinding
        fields = ["status", "subtype", "kind", "severity"]

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=_system_ids(value))


class HallucinationLimitFilter(django_filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    benchmark = django_filters.CharFilter(field_name="benchmark_name", help_text="Benchmark name.")

    class Meta:
        model = HallucinationLimit
        fields = []

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=_system_ids(value))


# --- Pagination ---------------------------------------------------------------------------------


class NewestFirstPagination(StableCursorPagination):
    ordering = ("-created_at", "-id")


class SamplePagination(StableCursorPagination):
    ordering = ("line",)
    page_size = 200
    max_page_size = 1000


# --- Evaluation runs ----------------------------------------------------------------------------

_RUN_UPLOAD_REQUEST = {
    "multipart/form-data": inline_serializer(
        "EvaluationRunUpload",
        {
            "run": serializers.JSONField(
                help_text="The run's fields as a JSON object, as in a JSON post but without counts."
            ),
            "sample_results": serializers.FileField(
                help_text=f"JSONL: one sample per line, at most {MAX_SAMPLES} lines."
            ),
        },
    ),
    "application/json": EvaluationRunSerializer,
}


@extend_schema_view(
    **crud_summaries(
        "an evaluation run",
        "evaluation runs visible to you",
        create="Record an evaluation run: with counts, a JSON array of per-sample results, or a JSONL upload",
    )
)
class EvaluationRunViewSet(ServiceModelViewSet):
    """Evaluation runs of AI systems on benchmarks. Engineers post runs of their teams' systems
    (from CI, with an API token); officers of any system; auditors read. Runs are evidence and
    never change."""

    queryset = EvaluationRun.objects.all()
    serializer_class = EvaluationRunSerializer
    filterset_class = EvaluationRunFilter
    pagination_class = NewestFirstPagination
    parser_classes = [JSONParser, MultiPartParser]
    ordering_fields = ["created_at"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            return queryset.annotate(
                system_slug=F("system__slug"),
                team_slug=F("team__slug"),
                reporter_username=F("reporter__username"),
                incident_reference=F("incident__reference"),
            )
        return queryset

    def initial(self, request, *args, **kwargs):
        # Before authentication: session authentication's CSRF check would parse the body.
        if request.method == "POST":
            refuse_oversized_upload(request)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, InvalidSampleLine | evaluation_services.InvalidSample):
            message = exc.message if isinstance(exc, InvalidSampleLine) else _first_message(exc)
            exc = InvalidSampleResponse(message, line=exc.line)
        elif isinstance(exc, ServiceTooLarge):
            exc = TooManySamples(exc.message)
        response = super().handle_exception(exc)
        if isinstance(exc, InvalidSampleResponse) and isinstance(response.data, dict):
            response.data["line"] = exc.line
        return response

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=_RUN_UPLOAD_REQUEST,
        responses={201: EvaluationRunSerializer},
        description=(
            "JSON: the run's fields with either the counts or `sample_results` (an array). "
            "multipart/form-data: a `run` part (the fields as JSON, no counts) and a `sample_results` "
            "JSONL file part, streamed. A line that is not a valid sample answers 422 with its `line`; "
            "nothing of that upload is stored. More than 100,000 samples, or a body over "
            "VERITY_MAX_SAMPLES_UPLOAD_BYTES, answers 413."
        ),
    )
    def create(self, request, *args, **kwargs):
        if request.content_type.startswith("multipart/"):
            run_fields, upload = multipart_parts(request)
            body = EvaluationRunSerializer(data=run_fields, context=self.get_serializer_context())
            body.is_valid(raise_exception=True)
            data = dict(body.validated_data)
            samples = upload_samples(upload.chunks())
        else:
            body = self.get_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = dict(body.validated_data)
            samples = data.pop("sample_results", None)
        run = evaluation_services.record_run(actor=request.user, data=data, samples=samples)
        return Response(
            EvaluationRunSerializer(run, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="A run's per-sample results, in upload order",
        responses=EvaluationSampleSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def samples(self, request, pk=None):
        run = self.get_object()
        paginator = SamplePagination()
        page = paginator.paginate_queryset(run.sample_results.all(), request, view=None)
        return paginator.get_paginated_response(EvaluationSampleSerializer(page, many=True).data)


def _first_message(exc: DjangoValidationError) -> str:
    messages = exc.messages
    return messages[0] if messages else "A sample is not valid."


# --- Hallucination findings ---------------------------------------------------------------------


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
            return queryset.annotate(
                system_slug=F("system__slug"),
                team_slug=F("team__slug"),
                reporter_username=F("reporter__username"),
            )
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


# --- Limits -------------------------------------------------------------------------------------


@extend_schema_view(
    **crud_summaries(
        "a hallucination limit",
        "hallucination limits",
        create="Set a system's hallucination limit on a benchmark (or on every benchmark); officers",
        partial_update="Change a limit's rate or what it is judged on; officers",
    )
)
class HallucinationLimitViewSet(ServiceModelViewSet):
    """The highest hallucination rate a system may show. Officers set them; everyone reads those
    of the systems they can see. Posting a limit for a system and benchmark that already has one
    replaces its rate (200)."""

    queryset = HallucinationLimit.objects.all()
    serializer_class = HallucinationLimitSerializer
    filterset_class = HallucinationLimitFilter
    pagination_class = NewestFirstPagination
    ordering_fields = ["created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            return queryset.annotate(system_slug=F("system__slug"))
        return queryset.select_related("system")

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: HallucinationLimitSerializer, 200: HallucinationLimitSerializer},
    )
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        existed = HallucinationLimit.objects.filter(
            system=data["system"], benchmark_name=data.get("benchmark_name", "").strip()
        ).exists()
        limit = evaluation_services.set_limit(
            actor=request.user,
            system=data["system"],
            benchmark_name=data.get("benchmark_name", ""),
            max_rate=data["max_rate"],
            judged_on=data.get("judged_on", choices.LimitJudgedOn.RATE),
        )
        return Response(
            HallucinationLimitSerializer(limit).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(request=HallucinationLimitUpdateSerializer, responses={200: HallucinationLimitSerializer})
    def partial_update(self, request, *args, **kwargs):
        limit = self.get_object()
        body = HallucinationLimitUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        limit = evaluation_services.set_limit(
            actor=request.user,
            system=limit.system,
            benchmark_name=limit.benchmark_name,
            max_rate=body.validated_data.get("max_rate", limit.max_rate),
            judged_on=body.validated_data.get("judged_on", limit.judged_on),
        )
        return Response(HallucinationLimitSerializer(limit).data)

    def perform_destroy(self, instance):
        evaluation_services.delete_limit(actor=self.request.user, limit=instance)


# --- Trends -------------------------------------------------------------------------------------


_SYSTEM_PARAMETER = OpenApiParameter(
    "system", OpenApiTypes.STR, required=True, description="AI system slug or id."
)


class _TrendView(APIView):
    # Read access to runs is what the trends need (the permission class reads the model).
    queryset = EvaluationRun.objects.all()
    pagination_class = None

    def _params(self, serializer_class):
        params = serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        data["system"] = resolve_system(data["system"], {"request": self.request})
        return data


class TrendPagination(CursorPagination):
    """Trend points oldest first, ``limit`` a response (validated first: 1 to ``MAX_TREND_POINTS``),
    the position in an opaque ``cursor`` so runs created at the same instant are neither
    skipped nor repeated."""

    ordering = ("created_at", "id")
    page_size = MAX_TREND_POINTS
    page_size_query_param = "limit"
    max_page_size = MAX_TREND_POINTS


class HallucinationTrendView(_TrendView):
    @extend_schema(
        summary="A system's hallucination rate over time, with intervals",
        description=f"Runs created in the ``since``..``until`` window (either open), oldest first, at "
        f"most ``limit`` points (1 to {MAX_TREND_POINTS}, default {MAX_TREND_POINTS}); ``next`` "
        "links to the following points, null on the last page. 400 with field messages for a bad "
        "window or limit.",
        parameters=[
            _SYSTEM_PARAMETER,
            OpenApiParameter("model_version", OpenApiTypes.STR, description="Only this model version."),
            OpenApiParameter("benchmark", OpenApiTypes.STR, description="Only runs on this benchmark."),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Only runs created at or after this time."
            ),
            OpenApiParameter(
                "until", OpenApiTypes.DATETIME, description="Only runs created before this time."
            ),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"Points a response, 1 to {MAX_TREND_POINTS}."
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From next."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        data = self._params(TrendQuerySerializer)
        paginator = TrendPagination()
        rows = paginator.paginate_queryset(
            evaluation_services.trend_runs(
                system=data["system"],
                model_version=data["model_version"],
                benchmark=data["benchmark"],
                since=data["since"],
                until=data["until"],
            ),
            request,
            view=None,
        )
        return Response(
            {
                "system": data["system"].slug,
                "model_version": data["model_version"],
                "benchmark": data["benchmark"],
                "since": data["since"],
                "until": data["until"],
                "points": [evaluation_services.trend_point(row) for row in rows],
                "next": paginator.get_next_link(),
            }
        )


class HallucinationCompareView(_TrendView):
    @extend_schema(
        summary="Compare two model versions' hallucination rates on a benchmark (two-proportion test)",
        parameters=[
            _SYSTEM_PARAMETER,
            OpenApiParameter("benchmark", OpenApiTypes.STR, required=True),
            OpenApiParameter("a", OpenApiTypes.STR, required=True, description="The baseline version."),
            OpenApiParameter("b", OpenApiTypes.STR, required=True, description="The version compared."),
            OpenApiParameter(
                "rate_basis",
                OpenApiTypes.STR,
                enum=choices.RateBasis.values,
                description="Only runs with this basis; needed when the runs use more than one.",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        data = self._params(CompareQuerySerializer)
        result = evaluation_services.compare_versions(
            system=data["system"],
            benchmark=data["benchmark"],
            version_a=data["a"],
            version_b=data["b"],
            rate_basis=data["rate_basis"],
        )
        return Response({"system": data["system"].slug, **result})


urlpatterns = [
    path("hallucination-trends/", HallucinationTrendView.as_view(), name="hallucination-trend"),
    path("hallucination-trends/compare/", HallucinationCompareView.as_view(), name="hallucination-compare"),
]
