"""API of the inventory: AI systems and the catalogue of AI models they use.

Serializers validate input shape and resolve references; writes go through the services
(``governance.services.inventory``). ``AISystemSerializer`` renders through
``FastRepresentation`` (a page of 50 systems is the hottest path in the API), from the fields
declared here.
"""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from governance import choices
from governance.api import base, filters
from governance.api.base import FastRepresentation, ServiceModelViewSet, crud_summaries
from governance.api.fields import AnnotatedSlugRelatedField
from governance.models import AIModel, AISystem, SystemModel, Team, User
from governance.models.inventory import PEOPLE, load_link_rows
from governance.services import inventory

# --- AI models -----------------------------------------------------------------------------------


class AIModelSerializer(base.ModelSerializer):
    class Meta:
        model = AIModel
        fields = [
            "id",
            "provider",
            "name",
            "version",
            "modality",
            "model_type",
            "weights",
            "licence",
            "model_card_url",
            "hosting",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # uniqueness is checked by the model layer with a field-level message


class AIModelFilter(filters.FilterSet):
    modality = django_filters.ChoiceFilter(choices=choices.ModelModality.choices)
    model_type = django_filters.ChoiceFilter(choices=choices.ModelType.choices)
    weights = django_filters.ChoiceFilter(choices=choices.WeightsAvailability.choices)
    hosting = django_filters.ChoiceFilter(choices=choices.Hosting.choices)
    provider = django_filters.CharFilter(lookup_expr="iexact")
    q = django_filters.CharFilter(method="search", help_text="Search provider, name and version.")

    class Meta:
        model = AIModel
        fields = ["modality", "model_type", "weights", "hosting", "provider"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(provider__icontains=value) | Q(name__icontains=value) | Q(version__icontains=value)
        )


@extend_schema_view(
    **crud_summaries("an AI model", "AI models", destroy="Delete an AI model (409 while systems use it)")
)
class AIModelViewSet(ServiceModelViewSet):
    """The shared catalogue of models that systems use."""

    queryset = AIModel.objects.all()
    serializer_class = AIModelSerializer
    filterset_class = AIModelFilter
    ordering_fields = ["created_at", "provider", "name"]
    create_service = staticmethod(inventory.create_model)
    update_service = staticmethod(inventory.update_model)
    delete_service = staticmethod(inventory.delete_model)
    instance_kwarg = "model"


# --- AI systems ----------------------------------------------------------------------------------


class SystemModelSerializer(base.ModelSerializer):
    model = serializers.PrimaryKeyRelatedField(queryset=AIModel.objects.all())
    model_name = serializers.CharField(source="model.__str__", read_only=True)

    class Meta:
        model = SystemModel
        fields = ["model", "model_name", "role", "notes"]


_USER_FIELD = {"slug_field": "username", "allow_null": True, "required": False}


class AISystemListSerializer(serializers.ListSerializer):
    """Loads the model links of a whole page in one query before rendering it."""

    def to_representation(self, data):
        systems = list(data.all() if hasattr(data, "all") else data)
        load_link_rows(systems)
        return super().to_representation(systems)


class AISystemSerializer(FastRepresentation, base.ModelSerializer):
    # Read from the with_related() annotations of the list query.
    owning_team = AnnotatedSlugRelatedField(
        annotation="owning_team_slug", slug_field="slug", queryset=Team.objects.all()
    )
    business_owner = AnnotatedSlugRelatedField(
        annotation="business_owner_username", queryset=User.objects.filter(**PEOPLE), **_USER_FIELD
    )
    technical_owner = AnnotatedSlugRelatedField(
        annotation="technical_owner_username", queryset=User.objects.filter(**PEOPLE), **_USER_FIELD
    )
    models = SystemModelSerializer(many=True, source="model_links", required=False)
    # Checked by the model layer after the service normalises case ("de" -> "DE"), so these
    # fields carry no validators of their own here.
    jurisdictions = serializers.ListField(
        child=serializers.CharField(max_length=2, min_length=2),
        required=False,
        help_text="ISO 3166-1 alpha-2 codes (or EU); case-insensitive.",
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    system_prompt_sha256 = serializers.CharField(
        max_length=64, allow_blank=True, required=False, help_text="64 hexadecimal characters."
    )

    class Meta:
        model = AISystem
        fields = [
            "slug",
            "name",
            "purpose",
            "description",
            "owning_team",
            "business_owner",
            "technical_owner",
            "lifecycle_stage",
            "deployed_on",
            "retired_on",
            "eu_ai_act_class",
            "annex_iii_area",
            "operator_role",
            "risk_tier",
            "autonomy_level",
            "human_oversight",
            "personal_data_categories",
            "affected_groups",
            "jurisdictions",
            "model_card_url",
            "system_prompt_ref",
            "system_prompt_version",
            "system_prompt_sha256",
            "guardrail_config_ref",
            "tags",
            "models",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # the model layer checks uniqueness and cross-field rules
        extra_kwargs = {"slug": {"validators": []}}
        list_serializer_class = AISystemListSerializer  # the slug's uniqueness too, once

    def represent_models(self, system) -> list[dict]:
        # The links of a whole page are loaded in one query (AISystemListSerializer).
        return system.link_rows()


class AISystemFilter(filters.FilterSet):
    lifecycle_stage = django_filters.MultipleChoiceFilter(choices=choices.LifecycleStage.choices)
    eu_ai_act_class = django_filters.MultipleChoiceFilter(choices=choices.EUAIActClass.choices)
    risk_tier = django_filters.MultipleChoiceFilter(choices=choices.RiskTier.choices)
    operator_role = django_filters.ChoiceFilter(choices=choices.OperatorRole.choices)
    annex_iii_area = django_filters.ChoiceFilter(choices=choices.AnnexIIIArea.choices)
    team = django_filters.CharFilter(field_name="owning_team__slug", help_text="Owning team's slug.")
    model = filters.IdFilter(method="filter_model", help_text="Id of a model the system uses.")
    tag = django_filters.CharFilter(method="filter_tag")
    jurisdiction = django_filters.CharFilter(
        method="filter_jurisdiction", help_text="ISO 3166-1 alpha-2 code."
    )
    q = django_filters.CharFilter(method="search", help_text="Search slug, name, purpose and description.")

    class Meta:
        model = AISystem
        fields = ["lifecycle_stage", "eu_ai_act_class", "risk_tier", "operator_role", "annex_iii_area"]

    def filter_model(self, queryset, name, value):
        return queryset.filter(
            pk__in=AISystem.ai_models.through.objects.filter(model_id=value).values("system_id")
        )

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value.lower()])

    def filter_jurisdiction(self, queryset, name, value):
        return queryset.filter(jurisdictions__contains=[value.upper()])

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(slug__icontains=value)
            | Q(name__icontains=value)
            | Q(purpose__icontains=value)
            | Q(description__icontains=value)
        )


@extend_schema_view(
    **crud_summaries("an AI system", "AI systems visible to you", create="Register an AI system")
)
class AISystemViewSet(ServiceModelViewSet):
    """The inventory of AI systems. Engineers see and change only their teams' systems."""

    queryset = AISystem.objects.all()
    serializer_class = AISystemSerializer
    filterset_class = AISystemFilter
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
