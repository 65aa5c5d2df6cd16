"""Serializers of the evaluation API: runs (posted with counts or per-sample results), their
samples, hallucination findings (one or a batch), limits, and the query parameters of the trend
and comparison reads.

Per-sample results are not read through a serializer: a DRF field per value would cost more than
the row it checks. The service checks each one as it streams them into the database and names
the line (the position, from 1) of the first that is not valid.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from governance.api import base
from governance.api.base import iso_datetime as _iso
from governance.api.fields import annotated_name, named_choice_field
from governance.models import AIModel
from incidents import choices
from incidents.api.fields import MAX_ID, SystemReferenceField
from incidents.models import EvaluationRun, EvaluationSample, HallucinationFinding, HallucinationLimit
from incidents.services import evaluations as evaluation_services

# Most per-sample results one run may carry (a JSON array or a JSONL upload), findings per request.
MAX_SAMPLES = evaluation_services.MAX_SAMPLES
MAX_FINDINGS_PER_REQUEST = evaluation_services.MAX_BULK_FINDINGS

COUNT_FIELDS = (
    "samples",
    "attempted",
    "abstained",
    "correct",
    "hallucinated",
    "claims",
    "hallucinated_claims",
)

FindingStatusField = named_choice_field("HallucinationFindingStatus", choices.FindingStatus.choices)


def _benchmark_field(**kwargs) -> serializers.CharField:
    """The benchmark's name: ``benchmark`` in every body, response and filter of the API (and the
    trend's points), though the column is ``benchmark_name``."""
    return serializers.CharField(source="benchmark_name", max_length=200, **kwargs)


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


# --- Evaluation runs ----------------------------------------------------------------------------


class SampleResultSerializer(base.Serializer):
    """One sample's result, as an item of ``sample_results`` or a line of a JSONL upload."""

    sample_id = serializers.CharField(max_length=200, help_text="The benchmark's id of the sample.")
    grade = serializers.ChoiceField(choices=choices.SampleGrade.choices)
    claims = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    hallucinated_claims = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    score = serializers.FloatField(required=False, allow_null=True, help_text="The judge's score, if any.")


# --- Per-sample results ------------------------------------------------------------------------


@extend_schema_field(SampleResultSerializer(many=True))
class SampleResultsField(serializers.Field):
    """A JSON array of per-sample results, at most ``MAX_SAMPLES``."""

    default_error_messages = {
        "not_a_list": "Expected a list of per-sample results.",
        "empty": "Send at least one sample, or the counts instead.",
        "too_many": f"At most {MAX_SAMPLES} samples per run.",
    }

    def to_internal_value(self, data) -> list:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > MAX_SAMPLES:
            self.fail("too_many")
        return data  # each sample is checked by the service, which names its position


# --- Runs ---------------------------------------------------------------------------------------


class EvaluationRunSerializer(base.ModelSerializer):
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
    benchmark = _benchmark_field(help_text="The benchmark's name, e.g. SimpleQA.")
    team = serializers.SerializerMethodField(help_text="Slug of the team owning the system when posted.")
    reporter = serializers.SerializerMethodField(help_text="Username of whoever posted the run.")
    incident = serializers.SerializerMethodField(
        help_text="Reference of the incident this run opened or added to."
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
        read_only_fields = [
            "id",
            "rate_numerator",
            "rate_denominator",
            "hallucination_rate",
            "interval_low",
            "interval_high",
            "limit_rate",
            "exceeded_limit",
            "has_samples",
            "created_at",
        ]
        extra_kwargs = {
            **{name: {"required": False} for name in COUNT_FIELDS},
            "samples": {"required": False, "help_text": "Samples in the run (omit with sample_results)."},
        }
        validators = []  # the counts' consistency is the service's to check

    def get_team(self, run) -> str | None:
        return annotated_name(run, "team_slug", "team.slug")

    def get_reporter(self, run) -> str | None:
        return annotated_name(run, "reporter_username", "reporter.username")

    def get_incident(self, run) -> str | None:
        return annotated_name(run, "incident_reference", "incident.reference")

    def to_representation(self, run):
        return {
            "id": run.pk,
            "system": run.system_slug if hasattr(run, "system_slug") else run.system.slug,
            "team": self.get_team(run),
            "model": run.model_id,
            "model_provider": run.model_provider,
            "model_name": run.model_name,
            "model_version": run.model_version,
            "benchmark": run.benchmark_name,
            "benchmark_version": run.benchmark_version,
            "dataset_sha256": run.dataset_sha256,
            "task_kind": run.task_kind,
            "judge_kind": run.judge_kind,
            "judge_name": run.judge_name,
            "judge_version": run.judge_version,
            "parameters": run.parameters,
            "code_commit": run.code_commit,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            **{name: getattr(run, name) for name in COUNT_FIELDS},
            "rate_basis": run.rate_basis,
            "interval_method": run.interval_method,
            "rate_numerator": run.rate_numerator,
            "rate_denominator": run.rate_denominator,
            "hallucination_rate": run.hallucination_rate,
            "interval_low": run.interval_low,
            "interval_high": run.interval_high,
            "limit_rate": run.limit_rate,
            "exceeded_limit": run.exceeded_limit,
            "has_samples": run.has_samples,
            "artifact_uri": run.artifact_uri,
            "artifact_sha256": run.artifact_sha256,
            "incident": self.get_incident(run),
            "reporter": self.get_reporter(run),
            "created_at": _iso(run.created_at),
        }


class EvaluationSampleSerializer(base.ModelSerializer):
    class Meta:
        model = EvaluationSample
        fields = ["line", "sample_id", "grade", "claims", "hallucinated_claims", "score"]
        read_only_fields = fields

    def to_representation(self, sample):
        return {
            "line": sample.line,
            "sample_id": sample.sample_id,
            "grade": sample.grade,
            "claims": sample.claims,
            "hallucinated_claims": sample.hallucinated_claims,
            "score": sample.score,
        }


# --- Hallucination findings ---------------------------------------------------------------------


class HallucinationFindingSerializer(base.ModelSerializer):
    system = CachedSystemReferenceField(required=False, help_text="Optional with run: the run's system.")
    benchmark = _benchmark_field(required=False, allow_blank=True, help_text="Optional with run: the run's.")
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
    team = serializers.SerializerMethodField(help_text="Slug of the team owning the system when posted.")
    reporter = serializers.SerializerMethodField()
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
        read_only_fields = ["id", "status", "duplicate_of", "created_at", "updated_at"]
        extra_kwargs = {
            "model_name": {"required": False},
            "model_version": {"required": False},
            "grade": {"required": False, "help_text": "Default: incorrect."},
        }
        validators = []  # the dedupe hash is the service's: a repeat answers the existing row

    def get_team(self, finding) -> str | None:
        return annotated_name(finding, "team_slug", "team.slug")

    def get_reporter(self, finding) -> str | None:
        return annotated_name(finding, "reporter_username", "reporter.username")

    def to_representation(self, finding):
        return {
            "id": finding.pk,
            "run": finding.run_id,
            "system": finding.system_slug if hasattr(finding, "system_slug") else finding.system.slug,
            "team": self.get_team(finding),
            "model_name": finding.model_name,
            "model_version": finding.model_version,
            "benchmark": finding.benchmark_name,
            "sample_id": finding.sample_id,
            "prompt": finding.prompt,
            "prompt_sha256": finding.prompt_sha256,
            "response_excerpt": finding.response_excerpt,
            "claim": finding.claim,
            "reference": finding.reference,
            "kind": finding.kind,
            "subtype": finding.subtype,
            "grade": finding.grade,
            "detector_score": finding.detector_score,
            "detector_threshold": finding.detector_threshold,
            "severity": finding.severity,
            "status": finding.status,
            "duplicate_of": finding.duplicate_of_id,
            "reporter": self.get_reporter(finding),
            "created_at": _iso(finding.created_at),
            "updated_at": _iso(finding.updated_at),
        }


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


# --- Limits -------------------------------------------------------------------------------------


class HallucinationLimitSerializer(base.ModelSerializer):
    system = SystemReferenceField()
    benchmark = _benchmark_field(
        required=False, allow_blank=True, help_text="Empty: every benchmark without a limit of its own."
    )

    class Meta:
        model = HallucinationLimit
        fields = ["id", "system", "benchmark", "max_rate", "judged_on", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"max_rate": {"min_value": 0.0, "max_value": 1.0}}
        validators = []  # one per system and benchmark: posting again updates it

    def to_representation(self, limit):
        return {
            "id": limit.pk,
            "system": limit.system_slug if hasattr(limit, "system_slug") else limit.system.slug,
            "benchmark": limit.benchmark_name,
            "max_rate": limit.max_rate,
            "judged_on": limit.judged_on,
            "created_at": _iso(limit.created_at),
            "updated_at": _iso(limit.updated_at),
        }


class HallucinationLimitUpdateSerializer(base.Serializer):
    max_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    judged_on = serializers.ChoiceField(choices=choices.LimitJudgedOn.choices, required=False)


# --- Trends -------------------------------------------------------------------------------------


MAX_TREND_POINTS = 1000


class TrendQuerySerializer(base.QuerySerializer):
    """A trend is a time series: an optional window of creation times and at most ``limit``
    points (``MAX_TREND_POINTS``) a response, oldest first; ``next`` links to the rest."""

    system = serializers.CharField(max_length=80, help_text="The AI system's slug or id.")
    model_version = serializers.CharField(max_length=200, required=False, default=None)
    benchmark = serializers.CharField(max_length=200, required=False, default=None)
    since = serializers.DateTimeField(
        required=False, default=None, help_text="Only runs created at or after this time (ISO 8601)."
    )
    until = serializers.DateTimeField(
        required=False, default=None, help_text="Only runs created before this time (ISO 8601)."
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TREND_POINTS,
        help_text=f"Points a response, 1 to {MAX_TREND_POINTS} (default).",
    )

    def validate(self, data):
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return data


class CompareQuerySerializer(base.QuerySerializer):
    system = serializers.CharField(max_length=80, help_text="The AI system's slug or id.")
    benchmark = serializers.CharField(max_length=200)
    a = serializers.CharField(max_length=200, help_text="The first (baseline) model version.")
    b = serializers.CharField(max_length=200, help_text="The model version compared with it.")
    rate_basis = serializers.ChoiceField(
        choices=choices.RateBasis.choices,
        required=False,
        default=None,
        help_text="Only runs with this basis; needed when the runs use more than one.",
    )


def resolve_system(value: str, context: dict):
    """A system named by slug or id in a query parameter; 404 when the caller cannot see it."""
    field = SystemReferenceField()
    field.bind("system", serializers.Serializer(context=context))
    try:
        return field.to_internal_value(int(value) if value.isdigit() else value)
    except serializers.ValidationError as exc:
        raise exceptions.NotFound("No AI system with this id or slug.") from exc
