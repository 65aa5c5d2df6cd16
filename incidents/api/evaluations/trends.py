"""A system's hallucination rate over time, and the comparison of two model versions.

The trend is a time series for charts: runs created in an optional ``since``..``until`` window,
oldest first, at most ``limit`` points a response (default and most ``MAX_TREND_POINTS``, 1,000),
and ``next``, a cursor link to the following points (null on the last page). The comparison
answers two aggregates, whatever the number of runs, so it needs no bound.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from governance.api import base
from governance.api.fields import DateTimeField
from governance.api.pagination import CursorPagination
from incidents import choices
from incidents.api.fields import SystemReferenceField
from incidents.models import EvaluationRun
from incidents.services import evaluations as evaluation_services

MAX_TREND_POINTS = 1000


# --- Query parameters ----------------------------------------------------------------------------


class TrendQuerySerializer(base.QuerySerializer):
    """A trend is a time series: an optional window of creation times and at most ``limit``
    points (``MAX_TREND_POINTS``) a response, oldest first; ``next`` links to the rest."""

    system = serializers.CharField(max_length=80, help_text="The AI system's slug or id.")
    model_version = serializers.CharField(
        max_length=200, required=False, default=None, help_text="Only this model version."
    )
    benchmark = serializers.CharField(
        max_length=200, required=False, default=None, help_text="Only runs on this benchmark."
    )
    since = DateTimeField(
        required=False, default=None, help_text="Only runs created at or after this time (ISO 8601)."
    )
    until = DateTimeField(
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


# --- Views ---------------------------------------------------------------------------------------


class _TrendView(base.APIView):
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
            TrendQuerySerializer,
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
        parameters=[CompareQuerySerializer],
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
