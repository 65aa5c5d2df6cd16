"""API shapes of the governance objects.

Serializers validate input shape and resolve references; writes go through the services.
``AISystemSerializer`` renders through ``FastRepresentation`` (a page of 50 systems is the hottest
path in the API), from the fields declared here.
"""

from rest_framework import serializers

from governance.api import base
from governance.api.fields import AnnotatedSlugRelatedField
from governance.api.representation import FastRepresentation
from governance.models import AIModel, AISystem, SystemModel, Team, User
from governance.models.inventory import PEOPLE, load_link_rows


class TeamSerializer(base.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["slug", "name", "description", "contact_email", "members", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_members(self, team) -> list[str]:
        return [m.user.username for m in team.memberships.all()]


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
