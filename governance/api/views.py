"""Governance API views: thin adapters from HTTP to services, scoped by ``visible_to``."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from governance.api import filters, serializers
from governance.api.idempotency import IdempotentPostMixin
from governance.models import AIModel, AISystem, Team
from governance.services import inventory, teams


def crud_summaries(one: str, plural: str, **overrides: str) -> dict:
    """OpenAPI summaries for the six CRUD actions; ``one`` reads like "an AI system"."""
    summaries = {
        "list": f"List {plural}",
        "retrieve": f"Get {one}",
        "create": f"Create {one}",
        "update": f"Replace {one}",
        "partial_update": f"Update some fields of {one}",
        "destroy": f"Delete {one}",
        **overrides,
    }
    return {action: extend_schema(summary=text) for action, text in summaries.items()}


class ServiceModelViewSet(IdempotentPostMixin, viewsets.ModelViewSet):
    """CRUD whose reads go through ``visible_to(user)`` and whose writes call services.

    Subclasses name their services; ``write_kwargs`` splits validated data into the keyword
    arguments the services take. Every POST honours ``Idempotency-Key``.
    """

    create_service = staticmethod(lambda **kw: None)
    update_service = staticmethod(lambda **kw: None)
    delete_service = staticmethod(lambda **kw: None)
    instance_kwarg = "instance"

    def get_queryset(self):
        return self.queryset.visible_to(self.request.user)

    def filter_queryset(self, queryset):
        # Filters and ordering shape lists; a detail lookup answers the same with or without
        # them, and building the filter form costs more than the lookup.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def write_kwargs(self, validated_data: dict) -> dict:
        return {"data": validated_data}

    def perform_create(self, serializer):
        serializer.instance = self.create_service(
            actor=self.request.user, **self.write_kwargs(serializer.validated_data)
        )

    def perform_update(self, serializer):
        kwargs = self.write_kwargs(serializer.validated_data)
        kwargs["changes"] = kwargs.pop("data")
        serializer.instance = self.update_service(
            actor=self.request.user, **{self.instance_kwarg: serializer.instance}, **kwargs
        )

    def perform_destroy(self, instance):
        self.delete_service(actor=self.request.user, **{self.instance_kwarg: instance})


@extend_schema_view(
    **crud_summaries("an AI system", "AI systems visible to you", create="Register an AI system")
)
class AISystemViewSet(ServiceModelViewSet):
    """The inventory of AI systems. Engineers see and change only their teams' systems."""

    queryset = AISystem.objects.all()
    serializer_class = serializers.AISystemSerializer
    filterset_class = filters.AISystemFilter
    ordering_fields = ["created_at", "updated_at", "name", "slug"]
    lookup_field = "slug"
    create_service = staticmethod(inventory.create_system)
    update_service = staticmethod(inventory.update_system)
    delete_service = staticmethod(inventory.delete_system)
    instance_kwarg = "system"

    def get_queryset(self):
        return super().get_queryset().with_related()

    def write_kwargs(self, validated_data):
        data = dict(validated_data)
        links = data.pop("model_links", None)
        kwargs = {"data": data}
        if links is not None:
            kwargs["model_links"] = links
        return kwargs


@extend_schema_view(
    **crud_summaries("an AI model", "AI models", destroy="Delete an AI model (409 while systems use it)")
)
class AIModelViewSet(ServiceModelViewSet):
    """The shared catalogue of models that systems use."""

    queryset = AIModel.objects.all()
    serializer_class = serializers.AIModelSerializer
    filterset_class = filters.AIModelFilter
    ordering_fields = ["created_at", "provider", "name"]
    create_service = staticmethod(inventory.create_model)
    update_service = staticmethod(inventory.update_model)
    delete_service = staticmethod(inventory.delete_model)
    instance_kwarg = "model"


@extend_schema_view(**crud_summaries("a team", "teams", destroy="Delete a team (409 while it owns systems)"))
class TeamViewSet(ServiceModelViewSet):
    """Teams own systems; engineers act for the teams they belong to."""

    queryset = Team.objects.all()
    serializer_class = serializers.TeamSerializer
    filterset_class = filters.TeamFilter
    ordering_fields = ["created_at", "name", "slug"]
    lookup_field = "slug"
    create_service = staticmethod(teams.create_team)
    update_service = staticmethod(teams.update_team)
    delete_service = staticmethod(teams.delete_team)
    instance_kwarg = "team"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("memberships__user")
