"""Systems' transparency scores: ``/transparency-scores/`` (systems ranked by score,
``score_min``/``score_max``, ``team``; retired systems only with ``include_retired=true``) and
``/transparency-scores/{slug}/`` (one system's score, both parts, and its history: a time series
bounded by ``since``/``until`` and ``limit``, at most ``MAX_HISTORY_POINTS`` points, with
``history_next`` for the rest). The scores are computed in ``governance.services.transparency``.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from governance.api import base, filters
from governance.api.pagination import CursorPagination, StableCursorPagination
from governance.api.transparency import plain
from governance.models import AISystem
from governance.services import transparency as services
from governance.services import transparency_systems


class RankedSystemSerializer(base.ModelSerializer):
    team = serializers.CharField(source="owning_team.slug", read_only=True, help_text="Owning team slug.")
    score = serializers.DecimalField(
        source="transparency_score",
        max_digits=5,
        decimal_places=2,
        read_only=True,
        help_text="System score (%).",
    )
    deployment = serializers.DecimalField(
        source="transparency_deployment",
        max_digits=5,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Deployment part (%): the latest final assessment on the current deployment set.",
    )
    models = serializers.DecimalField(
        source="transparency_models",
        max_digits=5,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Models part (%): the linked models' latest final FMTI-style scores, primary weighing 2.",
    )
    basis = serializers.CharField(
        source="transparency_basis",
        read_only=True,
        help_text="deployment_and_models, deployment_only or models_only.",
    )

    class Meta:
        model = AISystem
        fields = [
            "slug",
            "name",
            "team",
            "lifecycle_stage",
            "retired_on",
            "score",
            "deployment",
            "models",
            "basis",
        ]
        read_only_fields = fields


class RankingFilter(filters.FilterSet):
    score_min = django_filters.NumberFilter(
        method="noop", min_value=0, max_value=100, help_text="System score (%) at least this."
    )
    score_max = django_filters.NumberFilter(
        method="noop", min_value=0, max_value=100, help_text="System score (%) at most this."
    )
    team = django_filters.CharFilter(field_name="owning_team__slug", help_text="Owning team slug.")
    include_retired = django_filters.TypedChoiceFilter(
        method="keep_retired_choice",
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        empty_value=False,
        error_messages={"invalid_choice": "Must be true or false."},
        help_text="true: rank retired systems too (left out by default).",
    )

    class Meta:
        model = AISystem
        fields = ["team"]

    def noop(self, queryset, name, value):
        return queryset  # the ranking service applies the bounds

    @extend_schema_field({"type": "string", "enum": ["true", "false"], "default": "false"})
    def keep_retired_choice(self, queryset, name, value):
        return queryset  # the ranking service leaves retired systems out unless asked

    def clean_bounds(self) -> tuple:
        data = self.form.cleaned_data
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            raise exceptions.ValidationError({"score_max": ["Must not be below score_min."]})
        return low, high


class RankingPagination(StableCursorPagination):
    ordering = ("-transparency_score", "name", "pk")


MAX_HISTORY_POINTS = 1000


class HistoryPagination(CursorPagination):
    """A score history is a time series: oldest first, up to ``limit`` points (default and most
    ``MAX_HISTORY_POINTS``) a response, ``cursor`` for the next ones."""

    ordering = ("assessed_on", "pk")
    page_size = MAX_HISTORY_POINTS
    page_size_query_param = "limit"
    max_page_size = MAX_HISTORY_POINTS


class HistoryQuerySerializer(base.QuerySerializer):
    since = serializers.DateField(required=False, help_text="Only assessments on or after this date.")
    until = serializers.DateField(required=False, help_text="Only assessments on or before this date.")
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_HISTORY_POINTS,
        help_text=f"History points a response, 1 to {MAX_HISTORY_POINTS} (default); follow history_next "
        "for the rest.",
    )

    def validate(self, data):
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return data


_HISTORY_PARAMETERS = [
    HistoryQuerySerializer,
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From history_next."),
]


@extend_schema_view(
    list=extend_schema(summary="Rank the AI systems visible to you by transparency score, highest first"),
    retrieve=extend_schema(
        summary="A system's transparency score (deployment part, models part, combination) and history",
        description="Works for retired systems too. ``history`` holds the final assessments within "
        "``since``..``until``, oldest first, at most ``limit`` of them; ``history_next`` links to "
        "the next points (null on the last page). 400 with field messages for a bad window or limit.",
        parameters=_HISTORY_PARAMETERS,
        responses={200: {"type": "object"}},
    ),
)
class TransparencyScoreViewSet(base.ReadOnlyModelViewSet):
    """A system's transparency score combines its latest final deployment-set assessment (0.7) with
    the latest final foundation-model assessments of the models it uses (0.3), or whichever part
    exists; ``basis`` says which. Systems with no score are left out of the ranking, and so are
    retired systems unless ``include_retired=true``."""

    queryset = AISystem.objects.all()
    serializer_class = RankedSystemSerializer
    filterset_class = RankingFilter
    pagination_class = RankingPagination
    lookup_field = "slug"

    def get_queryset(self):
        return AISystem.objects.visible_to(self.request.user)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filterset = RankingFilter(self.request.query_params, queryset=queryset, request=self.request)
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        low, high = filterset.clean_bounds()
        ranked = services.ranking(
            user=self.request.user,
            min_score=low,
            max_score=high,
            include_retired=filterset.form.cleaned_data.get("include_retired") or False,
        )
        team = filterset.form.cleaned_data.get("team")
        if team:
            ranked = ranked.filter(owning_team__slug=team)
        return ranked.select_related("owning_team")

    def retrieve(self, request, *args, **kwargs):
        system = self.get_object()
        params = HistoryQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        window = {key: params.validated_data.get(key) for key in ("since", "until")}
        paginator = HistoryPagination()
        rows = paginator.paginate_queryset(
            transparency_systems.history_rows(system=system, **window), request, view=None
        )
        return Response(
            {
                "system": system.slug,
                "system_name": system.name,
                "lifecycle_stage": system.lifecycle_stage,
                "retired_on": plain(system.retired_on),
                **plain(services.system_score(system)),
                "history": plain([transparency_systems.history_point(row) for row in rows]),
                "history_next": paginator.get_next_link(),
            }
        )
