"""Evaluation runs of AI systems on benchmarks: posted with counts, a JSON array of per-sample
results or a JSONL upload of them, and read with their per-sample results.

A large run is posted as ``multipart/form-data`` with two parts: ``run``, the run's fields as a
JSON object (the same fields as a JSON post, without counts), and ``sample_results``, a JSONL
file with one sample per line, read as a stream (``incidents.api.evaluations.uploads``) and handed
to the service as a generator, so no more than one chunk of it is ever in memory. The body may
be at most ``VERITY_MAX_SAMPLES_UPLOAD_BYTES`` (413 before anything is read) and hold at most
``MAX_SAMPLES`` samples (413). A line that is not a valid sample answers 422 naming it, and the
run's transaction is rolled back: nothing of that upload is stored.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api import base, filters
from governance.api.base import FastRepresentation, ServiceModelViewSet, crud_summaries
from governance.api.fields import AnnotatedNameField
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import NewestFirstPagination
from governance.api.parsers import JSONParser, MultiPartParser
from governance.exceptions import TooLarge as ServiceTooLarge
from governance.models import AIModel
from incidents.api.evaluations.samples import (
    MAX_SAMPLES,
    EvaluationSampleSerializer,
    SamplePagination,
    SampleResultsField,
)
from incidents.api.evaluations.uploads import (
    InvalidSampleLine,
    TooLarge,
    multipart_parts,
    refuse_oversized_upload,
    upload_samples,
)
from incidents.api.fields import SystemReferenceField, benchmark_field, system_ids
from incidents.models import EvaluationRun
from incidents.services import evaluations as evaluation_services

COUNT_FIELDS = evaluation_services.COUNT_FIELDS


# --- Errors --------------------------------------------------------------------------------------


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


# --- Serializer and filter -----------------------------------------------------------------------


class EvaluationRunSerializer(FastRepresentation, base.ModelSerializer):
    """A run as posted and as read. Post either the counts or ``sample_results`` (the counts are
    then computed from them); the rate and its interval are always computed. Which counts are
    needed and how they must agree is the service's to check."""

    system = SystemReferenceField()
    model = serializers.PrimaryKeyRelatedField(
        queryset=AIModel.objects.all(),
        allow_null=True,
        required=False,
        help_text="Id of the AI model in the catalogue, when it is there.",
    )
    benchmark = benchmark_field(help_text="The benchmark's name, e.g. SimpleQA.")
    team = AnnotatedNameField(
        annotation="team_slug", path="team.slug", help_text="Slug of the team owning the system when posted."
    )
    reporter = AnnotatedNameField(
        annotation="reporter_username",
        path="reporter.username",
        help_text="Username of whoever posted the run.",
    )
    incident = AnnotatedNameField(
        annotation="incident_reference",
        path="incident.reference",
        help_text="Reference of the incident this run opened or added to.",
    )
    sample_results = SampleResultsField(
        write_only=True,
        required=False,
        help_text=(
            "Per-sample results; the counts are computed from them (leave the counts out). In a JSON "
            "body up to VERITY_MAX_JSON_BODY_BYTES; larger runs upload a JSONL file (multipart)."
        ),
    )

    class Meta:
        model = EvaluationRun
        fields = [
            "id",
            "system",
            "team",
            "model",
            "model_provider",
            "model_name",
            "model_version",
            "benchmark",
            "benchmark_version",
            "dataset_sha256",
            "task_kind",
            "judge_kind",
            "judge_name",
            "judge_version",
            "parameters",
            "code_commit",
            "started_at",
            "finished_at",
            *COUNT_FIELDS,
            "rate_basis",
            "interval_method",
            "rate_numerator",
            "rate_denominator",
            "hallucination_rate",
            "interval_low",
            "interval_high",
            "limit_rate",
            "exceeded_limit",
            "has_samples",
            "artifact_uri",
            "artifact_sha256",
            "incident",
            "reporter",
            "created_at",
            "sample_results",
        ]
        # What a post may set is the service's RUN_FIELDS, under the API's names.
        read_only_fields = base.read_only_except(
            fields, {*evaluation_services.RUN_FIELDS, "benchmark", "sample_results"} - {"benchmark_name"}
        )
        extra_kwargs = {
            **{name: {"required": False} for name in COUNT_FIELDS},
            "samples": {"required": False, "help_text": "Samples in the run (omit with sample_results)."},
        }
        validators = []  # the counts' consistency is the service's to check


class EvaluationRunFilter(filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    model_version = django_filters.CharFilter(field_name="model_version")
    benchmark = django_filters.CharFilter(field_name="benchmark_name", help_text="Benchmark name.")
    exceeded_limit = filters.BooleanFilter(
        field_name="exceeded_limit", help_text="true: the run's rate exceeded the system's limit."
    )
    created_after = filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = EvaluationRun
        fields = ["model_version", "exceeded_limit"]

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=system_ids(value))


# --- Views ---------------------------------------------------------------------------------------


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
            return queryset.with_names()
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
    # Its own order and paginator; none of the run list's filters or ``ordering``.
    @action(detail=True, methods=["get"], pagination_class=SamplePagination, filter_backends=[])
    def samples(self, request, pk=None):
        run = self.get_object()
        page = self.paginate_queryset(run.sample_results.all())
        return self.get_paginated_response(EvaluationSampleSerializer(page, many=True).data)


def _first_message(exc: DjangoValidationError) -> str:
    messages = exc.messages
    return messages[0] if messages else "A sample is not valid."
