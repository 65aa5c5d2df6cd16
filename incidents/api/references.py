"""API for the public reference incidents of the AI Incident Database (read-only, loaded by
``manage.py import_aiid``).

A list costs one query however many rows a page holds. With ``q`` the list is ranked like the
similar-incidents search (full-text rank over title and description plus trigram similarity of the
title), best first, and still pages with a cursor.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from governance.api import base, filters
from governance.api.pagination import StableCursorPagination
from incidents.models import ReferenceIncident
from incidents.services.references import ranked, web_query


class ReferenceIncidentSerializer(base.ModelSerializer):
    url = serializers.URLField(read_only=True, help_text="The incident's page in the AI Incident Database.")
    score = serializers.FloatField(
        source="search_score",
        read_only=True,
        allow_null=True,
        help_text="Relevance to q (full-text rank plus title similarity); null without q.",
    )

    class Meta:
        model = ReferenceIncident
        fields = [
            "aiid_id",
            "title",
            "description",
            "date",
            "deployers",
            "developers",
            "mit_domain",
            "mit_subdomain",
            "url",
            "score",
        ]
        read_only_fields = fields


class ReferenceIncidentDetailSerializer(ReferenceIncidentSerializer):
    class Meta(ReferenceIncidentSerializer.Meta):
        fields = [
            *(name for name in ReferenceIncidentSerializer.Meta.fields if name != "score"),
            "harmed_parties",
            "report_ids",
            "cset",
            "attribution",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "report_ids": {"help_text": "Ids of the AIID reports about the incident."},
            "attribution": {"help_text": "Source and licence of the data: cite it when you reuse it."},
        }


@extend_schema_field(OpenApiTypes.INT)
class YearFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ReferenceIncidentFilter(filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        max_length=500,
        help_text='Search title and description (web search syntax: words, "a phrase", -word); '
        "results are ranked best first.",
    )
    mit_domain = django_filters.CharFilter(
        method="filter_mit_domain",
        help_text='MIT AI risk domain: its number ("4") or its full name ("4. Malicious Actors & Misuse").',
    )
    mit_subdomain = django_filters.CharFilter(
        method="filter_mit_subdomain", help_text='MIT AI risk subdomain: its number ("4.3") or its full name.'
    )
    year = YearFilter(field_name="date__year", min_value=1, max_value=9999, help_text="Year of the incident.")
    deployer = django_filters.CharFilter(method="filter_deployer", help_text="Slug of an alleged deployer.")
    developer = django_filters.CharFilter(
        method="filter_developer", help_text="Slug of an alleged developer."
    )

    class Meta:
        model = ReferenceIncident
        fields = ["year"]

    def search(self, queryset, name, value):
        return ranked(queryset, query=web_query(value), title=value)

    def filter_mit_domain(self, queryset, name, value):
        return queryset.filter(_by_number_or_name("mit_domain", value))

    def filter_mit_subdomain(self, queryset, name, value):
        return queryset.filter(_by_number_or_name("mit_subdomain", value))

    def filter_deployer(self, queryset, name, value):
        return queryset.filter(deployers__contains=[value.strip().lower()])

    def filter_developer(self, queryset, name, value):
        return queryset.filter(developers__contains=[value.strip().lower()])


def _by_number_or_name(field: str, value: str) -> Q:
    """MIT labels start with their number ("4.3. Fraud, …"): match the number or the whole label."""
    value = value.strip()
    number = value.rstrip(".")
    if number.replace(".", "").isdigit():
        return Q(**{f"{field}__startswith": f"{number}. "})
    return Q(**{f"{field}__iexact": value})


class ReferenceIncidentPagination(StableCursorPagination):
    ordering = ("-aiid_id",)

    def get_ordering(self, request, queryset, view):
        # A search (q) is ranked: best first, the newest incident first on a tie.
        if "search_score" in queryset.query.annotations:
            return ("-search_score", "-aiid_id")
        return self.ordering


@extend_schema_view(
    list=extend_schema(summary="List or search public reference incidents (AI Incident Database)"),
    retrieve=extend_schema(summary="Get a public reference incident with its classifications"),
)
class ReferenceIncidentViewSet(base.ReadOnlyModelViewSet):
    """Public incidents from the AI Incident Database (CC BY-SA 4.0), with their MIT AI Risk
    Repository and CSET v1 classifications, for comparison and linking. Every role reads them."""

    queryset = ReferenceIncident.objects.all()
    filter_backends = [filters.FilterBackend]
    filterset_class = ReferenceIncidentFilter
    pagination_class = ReferenceIncidentPagination
    lookup_field = "aiid_id"
    lookup_value_regex = r"\d+"

    def get_serializer_class(self):
        return ReferenceIncidentDetailSerializer if self.action == "retrieve" else ReferenceIncidentSerializer

    def get_queryset(self):
        incidents = self.queryset.visible_to(self.request.user)
        if self.action != "retrieve":
            return incidents.defer("harmed_parties", "report_ids", "cset", "attribution")
        return incidents

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset


# A SimpleRouter: the API root view is governance's (``/api/v1/``).
router = SimpleRouter()
router.register("reference-incidents", ReferenceIncidentViewSet, basename="reference-incident")

urlpatterns = router.urls
