"""The inventory: AI systems, the models they use, and the link between the two."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models

from governance import choices
from governance.querysets import AIModelQuerySet, AISystemQuerySet
from governance.validators import validate_jurisdiction, validate_sha256, validate_tag

# Owners are accountable people, never service accounts.
PEOPLE = {"is_service_account": False, "is_active": True}


class AIModel(models.Model):
    """A model from some provider, in one version, as used by one or more systems."""

    provider = models.CharField(
        max_length=120, help_text="Who builds the model, e.g. OpenAI, Meta, in-house."
    )
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100, help_text="Version or snapshot identifier.")
    modality = models.CharField(max_length=20, choices=choices.ModelModality.choices)
    model_type = models.CharField(max_length=20, choices=choices.ModelType.choices)
    weights = models.CharField(max_length=10, choices=choices.WeightsAvailability.choices)
    licence = models.CharField(max_length=200, blank=True, help_text="Licence name or SPDX id.")
    model_card_url = models.URLField("model card URL", max_length=500, blank=True)
    hosting = models.CharField(max_length=20, choices=choices.Hosting.choices)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AIModelQuerySet.as_manager()

    class Meta:
        verbose_name = "AI model"
        ordering = ["provider", "name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "name", "version"],
                name="unique_model_version",
                violation_error_message="This provider already has a model with this name and version.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.name} {self.version}"


class AISystem(models.Model):
    """A deployed (or planned) AI system: the unit of governance."""

    slug = models.SlugField(max_length=80, unique=True, help_text="Stable identifier used by the API and CI.")
    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=500, help_text="One sentence: what the system is for.")
    description = models.TextField(blank=True)

    owning_team = models.ForeignKey("governance.Team", on_delete=models.PROTECT, related_name="systems")
    business_owner = models.ForeignKey(
        "governance.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to=PEOPLE,
    )
    technical_owner = models.ForeignKey(
        "governance.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to=PEOPLE,
    )

    lifecycle_stage = models.CharField(
        max_length=20, choices=choices.LifecycleStage.choices, default=choices.LifecycleStage.IDEA
    )
    deployed_on = models.DateField(null=True, blank=True)
    retired_on = models.DateField(null=True, blank=True)

    eu_ai_act_class = models.CharField(
        "EU AI Act class",
        max_length=20,
        choices=choices.EUAIActClass.choices,
        default=choices.EUAIActClass.UNCLASSIFIED,
    )
    annex_iii_area = models.CharField(
        "Annex III area", max_length=30, choices=choices.AnnexIIIArea.choices, blank=True
    )
    operator_role = models.CharField(max_length=20, choices=choices.OperatorRole.choices)
    risk_tier = models.CharField(max_length=10, choices=choices.RiskTier.choices)
    autonomy_level = models.CharField(max_length=20, choices=choices.AutonomyLevel.choices)
    human_oversight = models.CharField(max_length=20, choices=choices.HumanOversight.choices)

    personal_data_categories = ArrayField(
        models.CharField(max_length=30, choices=choices.PersonalDataCategory.choices),
        default=list,
        blank=True,
    )
    affected_groups = ArrayField(
        models.CharField(max_length=30, choices=choices.AffectedGroup.choices), default=list, blank=True
    )
    jurisdictions = ArrayField(
        models.CharField(max_length=2, validators=[validate_jurisdiction]),
        default=list,
        blank=True,
        help_text="ISO 3166-1 alpha-2 codes where the system is used (EU for the Union).",
    )

    model_card_url = models.URLField("model card URL", max_length=500, blank=True)
    system_prompt_ref = models.CharField(
        "system prompt reference", max_length=500, blank=True, help_text="Repository path or URL."
    )
    system_prompt_version = models.CharField(max_length=100, blank=True)
    system_prompt_sha256 = models.CharField(
        "system prompt SHA-256", max_length=64, blank=True, validators=[validate_sha256]
    )
    guardrail_config_ref = models.CharField(
        "guardrail configuration", max_length=500, blank=True, help_text="Repository path or URL."
    )
    tags = ArrayField(models.CharField(max_length=50, validators=[validate_tag]), default=list, blank=True)

    ai_models = models.ManyToManyField(AIModel, through="SystemModel", related_name="systems", blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AISystemQuerySet.as_manager()

    class Meta:
        verbose_name = "AI system"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["owning_team", "name"]),
            models.Index(fields=["lifecycle_stage"]),
            models.Index(fields=["eu_ai_act_class"]),
            models.Index(fields=["risk_tier"]),
            models.Index(fields=["-created_at", "-id"], name="aisystem_created_desc"),
            GinIndex(fields=["tags"], name="aisystem_tags_gin"),
            GinIndex(fields=["jurisdictions"], name="aisystem_jurisdictions_gin"),
        ]

    def __str__(self) -> str:
        return self.name

    def link_rows(self) -> list[dict]:
        """The model links as ``{model, model_name, role, notes}`` dicts, in link order.

        Uses what ``load_link_rows()`` or the last service write left on the instance, and reads
        the database only when neither is at hand.
        """
        if not hasattr(self, "_link_rows"):
            links = getattr(self, "loaded_model_links", None)
            if links is None:
                load_link_rows([self])
            else:
                self._link_rows = [
                    {
                        "model": link.model_id,
                        "model_name": str(link.model),
                        "role": link.role,
                        "notes": link.notes,
                    }
                    for link in links
                ]
        return self._link_rows

    def clean_fields(self, exclude=None) -> None:
        # Fold case the way people type it ("de", "GenAI") before the codes are checked, so the
        # admin, the API and commands accept the same input.
        self.jurisdictions = [str(code).strip().upper() for code in self.jurisdictions or []]
        self.tags = [str(tag).strip().lower() for tag in self.tags or []]
        self.system_prompt_sha256 = (self.system_prompt_sha256 or "").strip().lower()
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        high_risk = self.eu_ai_act_class == choices.EUAIActClass.HIGH_RISK
        if high_risk and not self.annex_iii_area:
            add("annex_iii_area", "A high-risk system needs its Annex III area.")
        if self.annex_iii_area and not high_risk:
            add("annex_iii_area", "Only high-risk systems have an Annex III area.")

        stage = self.lifecycle_stage
        if stage == choices.LifecycleStage.RETIRED and not self.retired_on:
            add("retired_on", "A retired system needs a retirement date.")
        if self.retired_on and stage != choices.LifecycleStage.RETIRED:
            add("retired_on", "Only a retired system has a retirement date.")
        if stage == choices.LifecycleStage.DEPLOYED and not self.deployed_on:
            add("deployed_on", "A deployed system needs its deployment date.")
        if self.deployed_on and self.retired_on and self.retired_on < self.deployed_on:
            add("retired_on", "The retirement date cannot be before the deployment date.")

        if (self.system_prompt_version or self.system_prompt_sha256) and not self.system_prompt_ref:
            add(
                "system_prompt_ref",
                "Give the system prompt reference that this version and digest belong to.",
            )
        if (
            choices.PersonalDataCategory.NONE in self.personal_data_categories
            and len(self.personal_data_categories) > 1
        ):
            add("personal_data_categories", "'none' cannot be combined with other categories.")
        for field in ("personal_data_categories", "affected_groups", "jurisdictions", "tags"):
            values = getattr(self, field)
            if len(values) != len(set(values)):
                add(field, "Remove the duplicate entries.")
        if errors:
            raise ValidationError(errors)


class SystemModel(models.Model):
    """A system's use of a model, with the role the model plays in it."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="model_links")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="system_links")
    role = models.CharField(
        max_length=20, choices=choices.ModelRole.choices, default=choices.ModelRole.PRIMARY
    )
    notes = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "model used"
        verbose_name_plural = "models used"
        constraints = [
            models.UniqueConstraint(
                fields=["system", "model"],
                name="unique_system_model",
                violation_error_message="This model is already linked to the system.",
                # Checked at commit, so one save can swap the models of two links (the admin
                # saves inline rows one by one).
                deferrable=models.Deferrable.DEFERRED,
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.get_role_display()})"


def load_link_rows(systems: list[AISystem]) -> None:
    """Load the model links of many systems with one plain query (no model instances)."""
    by_system: dict[int, list[dict]] = {system.pk: [] for system in systems}
    rows = (
        SystemModel.objects.filter(system_id__in=by_system)
        .order_by("id")
        .values_list(
            "system_id", "model_id", "model__provider", "model__name", "model__version", "role", "notes"
        )
    )
    for system_id, model_id, provider, name, version, role, notes in rows:
        by_system[system_id].append(
            {"model": model_id, "model_name": f"{provider} {name} {version}", "role": role, "notes": notes}
        )
    for system in systems:
        system._link_rows = by_system[system.pk]
