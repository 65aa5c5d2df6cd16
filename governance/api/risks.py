"""API for the AI risk register: serializer, filters and views.

Scores are computed by the database (likelihood × impact) and are read-only here. A list reads
the system slug and owner as annotations and prefetches the linked controls once per page.
"""

from __future__ import annotations

import django_filters
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from governance import choices
from governance.api import base, filters
from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.fields import AnnotatedSlugRelatedField, RelatedCodesField, user_field
from governance.models import AISystem, Control, Risk
from governance.services import risks as services


class RiskSerializer(base.ModelSerializer):
    system = AnnotatedSlugRelatedField(
        annotation="system_slug", slug_field="slug", queryset=AISystem.objects.all(), visible=True
    )
    owner = user_field()
    controls = RelatedCodesField(
        queryset=Control.objects.all(),
        required=False,
        help_text="Codes of the controls that treat the risk: the full set.",
    )
    inherent_score = serializers.IntegerField(read_only=True, help_text="likelihood × impact (1–25).")
    residual_score = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="residual likelihood × residual impact, once both are set."
    )

    class Meta:
        model = Risk
        fields = [
            "id",
            "system",
            "title",
            "description",
            "characteristic",
            "likelihood",
            "impact",
            "inherent_score",
            "residual_likelihood",
            "residual_impact",
            "residual_score",
            "treatment",
            "status",
            "owner",
            "controls",
            "review_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "inherent_score", "residual_score", "created_at", "updated_at"]
        validators = []  # the residual pair rule is the service's, reported on a field


class RiskFilter(filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__slug", help_text="System slug.")
    team = django_filters.CharFilter(
        field_name="system__owning_team__slug", help_text="Slug of the team owning the system."
    )
    characteristic = django_filters.MultipleChoiceFilter(
        choices=choices.TrustworthinessCharacteristic.choices
    )
    treatment = django_filters.MultipleChoiceFilter(choices=choices.RiskTreatment.choices)
    status = django_filters.MultipleChoiceFilter(choices=choices.RiskStatus.choices)
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    control = django_filters.CharFilter(field_name="controls__code", help_text="Code of a linked control.")
    # <score>_min, as the transparency lists name their bounds
    score_min = django_filters.NumberFilter(
        field_name="inherent_score", lookup_expr="gte", help_text="Inherent score at least this."
    )
    residual_score_min = django_filters.NumberFilter(
        field_name="residual_score", lookup_expr="gte", help_text="Residual score at least this."
    )
    review_due = filters.BooleanFilter(
        method="filter_review_due", help_text="true: the review date is today or has passed."
    )
    q = django_filters.CharFilter(method="search", help_text="Search title and description.")

    class Meta:
        model = Risk
        fields = ["characteristic", "treatment", "status"]

    def filter_review_due(self, queryset, name, value):
        return queryset.review_due(timezone.localdate(), value)

    def search(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))


@extend_schema_view(**crud_summaries("a risk", "risks visible to you", create="Register a risk of a system"))
class RiskViewSet(ServiceModelViewSet):
    """The AI risk register. Engineers see and change the risks of their teams' systems."""

    queryset = Risk.objects.all()
    serializer_class = RiskSerializer
    filterset_class = RiskFilter
    ordering_fields = ["created_at", "updated_at", "inherent_score", "title"]
    create_service = staticmethod(services.create_risk)
    update_service = staticmethod(services.update_risk)
    delete_service = staticmethod(services.delete_risk)
    instance_kwarg = "risk"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(system_slug=F("system__slug"), owner_username=F("owner__username"))
            .prefetch_related(Prefetch("controls", queryset=Control.objects.only("id", "code")))
        )

    def write_kwargs(self, validated_data):
        data = dict(validated_data)
        control_ids = data.pop("controls", None)
        kwargs = {"data": data}
        if control_ids is not None:
            kwargs["control_ids"] = control_ids
        return kwargs
