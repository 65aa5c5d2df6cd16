"""Hallucination limits: the highest hallucination rate a system may show, on one benchmark or
on every benchmark without a limit of its own. Officers set them; a run over its limit is
marked and escalated by the service.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from governance.api import base, filters
from governance.api.base import FastRepresentation, ServiceModelViewSet, crud_summaries
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import NewestFirstPagination
from incidents import choices
from incidents.api.fields import SystemReferenceField, benchmark_field, system_ids
from incidents.models import HallucinationLimit
from incidents.services import evaluations as evaluation_services


class HallucinationLimitSerializer(FastRepresentation, base.ModelSerializer):
    system = SystemReferenceField()
    benchmark = benchmark_field(
        required=False, allow_blank=True, help_text="Empty: every benchmark without a limit of its own."
    )

    class Meta:
        model = HallucinationLimit
        fields = ["id", "system", "benchmark", "max_rate", "judged_on", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"max_rate": {"min_value": 0.0, "max_value": 1.0}}
        validators = []  # one per system and benchmark: posting again updates it


class HallucinationLimitUpdateSerializer(base.Serializer):
    max_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    judged_on = serializers.ChoiceField(choices=choices.LimitJudgedOn.choices, required=False)


class HallucinationLimitFilter(filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    benchmark = django_filters.CharFilter(field_name="benchmark_name", help_text="Benchmark name.")

    class Meta:
        model = HallucinationLimit
        fields = []

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=system_ids(value))


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
            return queryset.with_names()
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
