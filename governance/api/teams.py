"""API of teams: a team owns systems, and engineers act for the teams they belong to.

Writes go through ``governance.services.teams``.
"""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from governance.api import base, filters
from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.models import Team
from governance.services import teams


class TeamSerializer(base.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["slug", "name", "description", "contact_email", "members", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_members(self, team) -> list[str]:
        return [m.user.username for m in team.memberships.all()]


class TeamFilter(filters.FilterSet):
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Team
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))


@extend_schema_view(**crud_summaries("a team", "teams", destroy="Delete a team (409 while it owns systems)"))
class TeamViewSet(ServiceModelViewSet):
    """Teams own systems; engineers act for the teams they belong to."""

    queryset = Team.objects.all()
    serializer_class = TeamSerializer
    filterset_class = TeamFilter
    ordering_fields = ["created_at", "name", "slug"]
    lookup_field = "slug"
    create_service = staticmethod(teams.create_team)
    update_service = staticmethod(teams.update_team)
    delete_service = staticmethod(teams.delete_team)
    instance_kwarg = "team"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("memberships__user")
