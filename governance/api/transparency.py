"""Transparency scoring API: the indicator sets (read-only catalog data) and assessments of AI
models and AI systems against them (start, answer, finalize). Systems' scores and their ranking
are in ``transparency_scores``.

Routes:

- ``/indicator-sets/`` and ``/indicator-sets/{key}/`` (the indicators grouped by domain and
  subdomain);
- ``/transparency-assessments/`` (filters incl. ``score_min``/``score_max``), its detail with the
  breakdown, ``POST`` to start one, ``POST …/{id}/answers/`` and ``POST …/{id}/finalize/``.

Lists read the names they show as annotations of their one query, so a page costs the same
however many rows it holds. Writes go through ``governance.services.transparency``.
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import Count, F, Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from governance import choices
from governance.api import base, filters
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from governance.api.pagination import StableCursorPagination
from governance.models import (
    AIModel,
    AISystem,
    Indicator,
    IndicatorSet,
    TransparencyAssessment,
)
from governance.services import transparency as services

MAX_TEXT = 20_000
MAX_ANSWERS = 500
ANSWER_CHOICES = choices.IndicatorAnswer.choices


# --- Indicator sets -------------------------------------------------------------------------------


class IndicatorSerializer(base.ModelSerializer):
    class Meta:
        model = Indicator
        fields = ["key", "order", "domain", "subdomain", "name", "definition", "notes", "rationale", "weight"]
        read_only_fields = fields


class IndicatorSetSerializer(base.ModelSerializer):
    indicator_count = serializers.IntegerField(read_only=True)
    # Blank for sets without a public source (Verity's own deployment indicators).
    source_url = serializers.URLField(read_only=True, allow_blank=True)

    class Meta:
        model = IndicatorSet
        fields = [
            "key",
            "name",
            "version",
            "publisher",
            "licence",
            "source_url",
            "attribution",
            "subject_kind",
            "scoring_rule",
            "indicator_count",
        ]
        read_only_fields = fields


class SubdomainSerializer(base.Serializer):
    subdomain = serializers.CharField()
    indicators = IndicatorSerializer(many=True)


class DomainSerializer(base.Serializer):
    domain = serializers.CharField()
    subdomains = SubdomainSerializer(many=True)


class IndicatorSetDetailSerializer(IndicatorSetSerializer):
    domains = serializers.SerializerMethodField(
        help_text="Domains in order, their subdomains, their indicators."
    )

    class Meta(IndicatorSetSerializer.Meta):
        fields = [*IndicatorSetSerializer.Meta.fields, "domains"]
        read_only_fields = fields

    @staticmethod
    def grouped(indicators) -> list[dict]:
        domains: dict[str, dict[str, list]] = {}
        for indicator in indicators:
            domains.setdefault(indicator.domain, {}).setdefault(indicator.subdomain, []).append(indicator)
        return [
            {
                "domain": domain,
                "subdomains": [{"subdomain": sub, "indicators": items} for sub, items in subs.items()],
            }
            for domain, subs in domains.items()
        ]

    @extend_schema_field(DomainSerializer(many=True))
    def get_domains(self, indicator_set) -> list[dict]:
        return DomainSerializer(self.grouped(indicator_set.indicators.all()), many=True).data


class IndicatorSetPagination(StableCursorPagination):
    ordering = ("subject_kind", "key")


class IndicatorSetFilter(filters.FilterSet):
    subject_kind = django_filters.ChoiceFilter(choices=choices.TransparencySubject.choices)

    class Meta:
        model = IndicatorSet
        fields = ["subject_kind"]


@extend_schema_view(
    list=extend_schema(summary="List transparency indicator sets (FMTI editions, Verity's deployment set)"),
    retrieve=extend_schema(
        summary="Get an indicator set with its indicators grouped by domain and subdomain"
    ),
)
class IndicatorSetViewSet(base.ReadOnlyModelViewSet):
    """Indicator sets are catalog data loaded by ``manage.py load_catalogs``; each carries its
    source, licence and attribution, to be shown wherever its data appear."""

    queryset = IndicatorSet.objects.all()
    filterset_class = IndicatorSetFilter
    pagination_class = IndicatorSetPagination
    lookup_field = "key"
    ordering_fields = ["key", "name"]

    def get_serializer_class(self):
        return IndicatorSetDetailSerializer if self.action == "retrieve" else IndicatorSetSerializer

    def get_queryset(self):
        sets = self.queryset.visible_to(self.request.user).annotate(indicator_count=Count("indicators"))
        if self.action == "retrieve":
            sets = sets.prefetch_related(Prefetch("indicators", Indicator.objects.order_by("order")))
        return sets

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset


# --- Assessments ----------------------------------------------------------------------------------


def _named_choice_field(text_choices, component_name: str) -> type[serializers.ChoiceField]:
    """A read-only choice field documented as one named enum (``status`` and ``source`` are also
    the names of other enums in the schema)."""

    @extend_schema_field(
        {
            "type": "string",
            "enum": list(text_choices.values),
            "description": "\n".join(f"* `{value}` - {label}" for value, label in text_choices.choices),
        },
        component_name=component_name,
    )
    class NamedChoiceField(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=text_choices.choices, read_only=True, **kwargs)

    return NamedChoiceField


AssessmentStatusField = _named_choice_field(choices.AssessmentStatus, "AssessmentStatusEnum")
AssessmentSourceField = _named_choice_field(choices.AssessmentSource, "AssessmentSourceEnum")


class AssessmentSerializer(base.ModelSerializer):
    status = AssessmentStatusField()
    source = AssessmentSourceField()
    subject_kind = serializers.SerializerMethodField()
    system = serializers.CharField(
        source="system_slug", read_only=True, allow_null=True, help_text="System slug."
    )
    system_name = serializers.CharField(read_only=True, allow_null=True)
    model = serializers.IntegerField(
        source="model_id", read_only=True, allow_null=True, help_text="AI model id."
    )
    model_name = serializers.SerializerMethodField()
    indicator_set = serializers.CharField(source="set_key", read_only=True, help_text="Indicator set key.")
    indicator_set_name = serializers.CharField(source="set_label", read_only=True)
    assessor = serializers.CharField(source="assessor_username", read_only=True, allow_null=True)

    class Meta:
        model = TransparencyAssessment
        fields = [
            "id",
            "subject_kind",
            "system",
            "system_name",
            "model",
            "model_name",
            "indicator_set",
            "indicator_set_name",
            "assessor",
            "assessor_label",
            "assessed_on",
            "status",
            "source",
            "points",
            "possible_points",
            "score",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_subject_kind(self, assessment) -> str:
        return (
            choices.TransparencySubject.MODEL if assessment.model_id else choices.TransparencySubject.SYSTEM
        )

    def get_model_name(self, assessment) -> str | None:
        if not assessment.model_id:
            return None
        return " ".join(part for part in (assessment.model_provider, assessment.model_label) if part)


class AssessmentDetailSerializer(AssessmentSerializer):
    breakdown = serializers.SerializerMethodField(
        help_text="Points, possible points and percentage in total, per domain and subdomain, and per "
        "indicator its answer, disclosure, evidence link, justification and the change from the "
        "subject's previous final assessment on the same set (new, gained, lost, same)."
    )

    class Meta(AssessmentSerializer.Meta):
        fields = [*AssessmentSerializer.Meta.fields, "breakdown"]
        read_only_fields = fields

    def get_breakdown(self, assessment) -> dict:
        return plain(services.breakdown(assessment))


class StartSerializer(base.Serializer):
    indicator_set = serializers.SlugRelatedField(
        slug_field="key", queryset=IndicatorSet.objects.all(), help_text="Indicator set key, e.g. fmti-2025."
    )
    system = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=AISystem.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the AI system assessed (deployment sets).",
    )
    model = serializers.PrimaryKeyRelatedField(
        queryset=AIModel.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of the AI model assessed (foundation-model sets).",
    )
    assessed_on = serializers.DateField(required=False, allow_null=True, help_text="Defaults to today.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["indicator_set"].queryset = IndicatorSet.objects.visible_to(user)
            self.fields["system"].queryset = AISystem.objects.visible_to(user)
            self.fields["model"].queryset = AIModel.objects.visible_to(user)

    def validate(self, data):
        system, model = data.get("system"), data.get("model")
        if bool(system) == bool(model):
            message = "Give either a system or a model, not both." if system else "Give a system or a model."
            raise serializers.ValidationError({"system": [message], "model": [message]})
        return data


class AnswerInputSerializer(base.Serializer):
    answer = serializers.ChoiceField(choices=ANSWER_CHOICES, required=False)
    disclosure = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    evidence_url = serializers.URLField(required=False, allow_blank=True, max_length=1000)
    justification = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)


class AnswersSerializer(base.Serializer):
    answers = serializers.DictField(
        child=AnswerInputSerializer(),
        allow_empty=False,
        help_text="By indicator key: any of answer, disclosure, evidence_url, justification. "
        "Fields left out keep their value.",
    )

    def validate_answers(self, value):
        if len(value) > MAX_ANSWERS:
            raise serializers.ValidationError(f"At most {MAX_ANSWERS} answers per request.")
        return value


class AssessmentFilter(filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__slug", help_text="System slug.")
    model = filters.IdFilter(field_name="model_id", help_text="AI model id.")
    indicator_set = django_filters.CharFilter(field_name="indicator_set__key", help_text="Indicator set key.")
    status = django_filters.ChoiceFilter(choices=choices.AssessmentStatus.choices)
    source = django_filters.ChoiceFilter(choices=choices.AssessmentSource.choices)
    subject_kind = django_filters.ChoiceFilter(
        choices=choices.TransparencySubject.choices, method="filter_subject_kind"
    )
    score_min = django_filters.NumberFilter(
        field_name="score",
        lookup_expr="gte",
        min_value=0,
        max_value=100,
        help_text="Score (%) at least this.",
    )
    score_max = django_filters.NumberFilter(
        field_name="score", lookup_expr="lte", min_value=0, max_value=100, help_text="Score (%) at most this."
    )
    assessed_after = django_filters.DateFilter(field_name="assessed_on", lookup_expr="gte")
    assessed_before = django_filters.DateFilter(field_name="assessed_on", lookup_expr="lte")

    class Meta:
        model = TransparencyAssessment
        fields = ["status", "source"]

    def filter_subject_kind(self, queryset, name, value):
        is_model = value == choices.TransparencySubject.MODEL
        return queryset.filter(model__isnull=not is_model)


class AssessmentPagination(StableCursorPagination):
    ordering = ("-assessed_on", "-id")


_WRITE_ERRORS = (
    "400 with field messages for an invalid body (a final assessment's refusal names the indicators); "
    "403 for a role that may not; 404 outside your scope; 409 when the assessment is already final."
)


@extend_schema_view(
    list=extend_schema(summary="List transparency assessments visible to you, latest first"),
    retrieve=extend_schema(summary="Get an assessment with its answers and score breakdown"),
)
class TransparencyAssessmentViewSet(IdempotentPostMixin, base.ReadOnlyModelViewSet):
    """Assessments of AI models (foundation-model sets, shared like the model catalogue) and of AI
    systems (the deployment set, scoped to the system's team). Score = weighted satisfied over
    applicable indicators, in points and per cent."""

    queryset = TransparencyAssessment.objects.all()
    filterset_class = AssessmentFilter
    pagination_class = AssessmentPagination
    ordering_fields = ["assessed_on", "score", "created_at"]

    def get_serializer_class(self):
        return AssessmentDetailSerializer if self.action == "retrieve" else AssessmentSerializer

    def get_queryset(self):
        assessments = (
            TransparencyAssessment.objects.visible_to(self.request.user)
            .annotate(
                system_slug=F("system__slug"),
                system_name=F("system__name"),
                model_provider=F("model__provider"),
                model_label=F("model__name"),
                set_key=F("indicator_set__key"),
                set_label=F("indicator_set__name"),
                assessor_username=F("assessor__username"),
            )
            .order_by("-assessed_on", "-id")
        )
        return assessments

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _fresh(self, assessment: TransparencyAssessment, status: int = 200) -> Response:
        self.action = "retrieve"
        fresh = self.get_queryset().get(pk=assessment.pk)
        return Response(
            AssessmentDetailSerializer(fresh, context=self.get_serializer_context()).data, status=status
        )

    @extend_schema(
        summary="Start a draft assessment of an AI system or an AI model against an indicator set",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=StartSerializer,
        responses={201: AssessmentDetailSerializer},
        description="One unanswered row per indicator. A deployment set assesses a system, a "
        "foundation-model set a model. " + _WRITE_ERRORS,
    )
    def create(self, request, *args, **kwargs):
        body = StartSerializer(data=request.data, user=request.user)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        assessment = services.start_assessment(
            actor=request.user,
            indicator_set=data["indicator_set"],
            system=data.get("system"),
            model=data.get("model"),
            assessed_on=data.get("assessed_on"),
        )
        return self._fresh(assessment, status=201)

    @extend_schema(
        summary="Set answers of a draft assessment by indicator key; recomputes the score",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=AnswersSerializer,
        responses={200: AssessmentDetailSerializer},
        description=_WRITE_ERRORS,
    )
    @action(detail=True, methods=["post"])
    def answers(self, request, pk=None):
        assessment = self.get_object()
        body = AnswersSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answers = {key: dict(fields) for key, fields in body.validated_data["answers"].items()}
        assessment = services.answer(actor=request.user, assessment=assessment, answers=answers)
        return self._fresh(assessment)

    @extend_schema(
        summary="Finalize a draft (officers): every indicator answered, every 'not applicable' justified",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: AssessmentDetailSerializer},
        description=_WRITE_ERRORS,
    )
    @action(detail=True, methods=["post"])
    def finalize(self, request, pk=None):
        base.refuse_body_fields(request)
        assessment = services.finalize(actor=request.user, assessment=self.get_object())
        return self._fresh(assessment)


def plain(value):
    """Decimals as numbers, dates as ISO strings, model instances as ids: JSON from service dicts."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value
