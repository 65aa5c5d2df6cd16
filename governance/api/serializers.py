"""API shapes of the governance objects.

Serializers validate input shape and resolve references; writes go through the services.
``AISystemSerializer`` renders with a hand-written ``to_representation``: a page of 50 systems is
the hottest path in the API and DRF's per-field machinery would dominate it. A test keeps the
hand-written output and the declared fields identical.
"""

import copy

from django.utils import timezone
from rest_framework import serializers

from governance.models import AIModel, AISystem, SystemModel, Team, User
from governance.models.inventory import PEOPLE, load_link_rows


def iso_datetime(value):
    """A datetime as DRF writes it (UTC as ``Z``), or ``None``."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()  # DRF renders in the current time zone (UTC)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class BuiltFieldsCache:
    """For a ``ModelSerializer`` whose fields do not depend on the request: builds them from the
    model once per class and hands each instance copies, as DRF does for declared fields.

    DRF rebuilds every field from model introspection on each instantiation; for a serializer
    of forty fields that costs more than the INSERT it validates for.
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built
        return copy.deepcopy(built)


def _related(system, relation: str, attribute: str):
    """A related object's name, from the ``with_related()`` annotation when the row has it."""
    annotated = f"{relation}_{attribute}"
    if hasattr(system, annotated):
        return getattr(system, annotated)
    related = getattr(system, relation)
    return getattr(related, attribute) if related is not None else None


class TeamSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["slug", "name", "description", "contact_email", "members", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_members(self, team) -> list[str]:
        return [m.user.username for m in team.memberships.all()]


class AIModelSerializer(serializers.ModelSerializer):
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


class SystemModelSerializer(serializers.ModelSerializer):
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


class AISystemSerializer(serializers.ModelSerializer):
    owning_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    business_owner = serializers.SlugRelatedField(queryset=User.objects.filter(**PEOPLE), **_USER_FIELD)
    technical_owner = serializers.SlugRelatedField(queryset=User.objects.filter(**PEOPLE), **_USER_FIELD)
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

    def to_representation(self, system):
        return {
            "slug": system.slug,
            "name": system.name,
            "purpose": system.purpose,
            "description": system.description,
            "owning_team": _related(system, "owning_team", "slug"),
            "business_owner": _related(system, "business_owner", "username"),
            "technical_owner": _related(system, "technical_owner", "username"),
            "lifecycle_stage": system.lifecycle_stage,
            "deployed_on": system.deployed_on.isoformat() if system.deployed_on else None,
            "retired_on": system.retired_on.isoformat() if system.retired_on else None,
            "eu_ai_act_class": system.eu_ai_act_class,
            "annex_iii_area": system.annex_iii_area,
            "operator_role": system.operator_role,
            "risk_tier": system.risk_tier,
            "autonomy_level": system.autonomy_level,
            "human_oversight": system.human_oversight,
            "personal_data_categories": list(system.personal_data_categories),
            "affected_groups": list(system.affected_groups),
            "jurisdictions": list(system.jurisdictions),
            "model_card_url": system.model_card_url,
            "system_prompt_ref": system.system_prompt_ref,
            "system_prompt_version": system.system_prompt_version,
            "system_prompt_sha256": system.system_prompt_sha256,
            "guardrail_config_ref": system.guardrail_config_ref,
            "tags": list(system.tags),
            "models": system.link_rows(),
            "created_at": iso_datetime(system.created_at),
            "updated_at": iso_datetime(system.updated_at),
        }
