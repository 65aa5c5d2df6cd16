"""Filters of the incident list: system, team, severity, status, seriousness, clock states
(overdue report, report due soon, breached SLA), time ranges and full-text search.
"""

from __future__ import annotations

import django_filters
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Q
from django.utils import timezone

from governance.api import filters
from incidents import choices
from incidents.api.fields import system_ids
from incidents.models import Incident

Status = choices.IncidentStatus


class IncidentFilter(filters.FilterSet):
    system = django_filters.CharFilter(method="filter_system", help_text="AI system slug.")
    team = django_filters.CharFilter(method="filter_team", help_text="Team slug.")
    # distinct=False: one row per incident already, and DISTINCT would sort every column
    severity = django_filters.MultipleChoiceFilter(choices=choices.Severity.choices(), distinct=False)
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    # Named after the fields they test, as the other lists' filters are.
    is_serious = filters.BooleanFilter(field_name="is_serious", help_text="Serious incidents (Art. 3(49)).")
    report_overdue = filters.BooleanFilter(
        method="filter_report_overdue",
        help_text="true: report_state is overdue (serious, no initial Art. 73 report, its deadline passed).",
    )
    report_due_soon = filters.BooleanFilter(
        method="filter_report_due_soon",
        help_text="true: report_state is due_soon (serious, no initial report, due within 24 hours).",
    )
    sla_breached = filters.BooleanFilter(
        method="filter_sla_breached",
        help_text="true: the response or resolution SLA is breached (a state late or overdue in `sla`).",
    )
    occurred_after = filters.DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.DateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    created_after = filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.DateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        method="search",
        max_length=500,
        help_text='Full-text search of title and description (web search syntax: "quoted", or, -not).',
    )

    class Meta:
        model = Incident
        fields = ["severity", "status"]

    def filter_report_overdue(self, queryset, name, value):
        return queryset.report_overdue(timezone.now(), value)

    def filter_report_due_soon(self, queryset, name, value):
        return queryset.report_due_soon(timezone.now(), value)

    def filter_sla_breached(self, queryset, name, value):
        return queryset.sla_breached(timezone.now(), value)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        vector = SearchVector("title", weight="A", config="english") + SearchVector(
            "description", weight="B", config="english"
        )
        query = SearchQuery(value, search_type="websearch", config="english")
        # References are upper-case: an exact match on the upper-cased value can use their index.
        return queryset.alias(document=vector).filter(Q(document=query) | Q(reference=value.upper()))

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_id__in=system_ids(value))

    # The team's id first, for the same reason as the system's (``system_ids``).
    def filter_team(self, queryset, name, value):
        from governance.models import Team

        return queryset.filter(team_id__in=list(Team.objects.filter(slug=value).values_list("id", flat=True)))
