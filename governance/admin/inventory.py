from functools import partial

from django import forms
from django.contrib import admin
from django.db import models

from governance import choices
from governance.admin.base import ChangeHistoryMixin, WithoutRelatedEditLinks
from governance.admin.packs import BuildPackPermission, build_pack_for_systems
from governance.models import AIModel, AISystem, SystemModel, Team
from governance.services import inventory
from governance.services.access import is_officer, may_manage_team_objects


class AISystemForm(forms.ModelForm):
    """Tick-boxes for the closed lists, so officers see every allowed value."""

    personal_data_categories = forms.MultipleChoiceField(
        choices=choices.PersonalDataCategory.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    affected_groups = forms.MultipleChoiceField(
        choices=choices.AffectedGroup.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = AISystem
        fields = [
            "personal_data_categories",
            "affected_groups",
            "jurisdictions",
            "tags",
        ]  # admin adds the rest
        help_texts = {
            "jurisdictions": "Comma-separated ISO 3166-1 alpha-2 codes, e.g. EU,DE,FR.",
            "tags": "Comma-separated, lowercase, e.g. genai,chatbot.",
        }


class SystemModelInline(WithoutRelatedEditLinks, admin.TabularInline):
    model = SystemModel
    extra = 0
    autocomplete_fields = ["model"]
    verbose_name = "model used"
    verbose_name_plural = "Models this system uses"


@admin.register(AISystem)
class AISystemAdmin(BuildPackPermission, ChangeHistoryMixin, WithoutRelatedEditLinks, admin.ModelAdmin):
    actions = [build_pack_for_systems]
    form = AISystemForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "owning_team",
        "lifecycle_stage",
        "eu_ai_act_class",
        "risk_tier",
        "operator_role",
        "deployed_on",
    ]
    list_filter = [
        "lifecycle_stage",
        "eu_ai_act_class",
        "risk_tier",
        "operator_role",
        "annex_iii_area",
        "human_oversight",
        "owning_team",
    ]
    list_select_related = ["owning_team"]
    search_fields = ["name", "slug", "purpose", "description", "tags"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["business_owner", "technical_owner"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [SystemModelInline]
    list_per_page = 50
    fieldsets = [
        ("What the system is", {"fields": ["name", "slug", "purpose", "description", "tags"]}),
        ("Who is accountable", {"fields": ["owning_team", "business_owner", "technical_owner"]}),
        ("Lifecycle", {"fields": ["lifecycle_stage", "deployed_on", "retired_on"]}),
        (
            "Regulatory classification",
            {
                "fields": [
                    "eu_ai_act_class",
                    "annex_iii_area",
                    "operator_role",
                    "risk_tier",
                    "jurisdictions",
                ],
                "description": (
                    "A high-risk system needs its Annex III area. The risk tier sets the review cadence."
                ),
            },
        ),
        ("Autonomy and oversight", {"fields": ["autonomy_level", "human_oversight"]}),
        ("People and data affected", {"fields": ["personal_data_categories", "affected_groups"]}),
        (
            "Documentation and configuration",
            {
                "fields": [
                    "model_card_url",
                    "system_prompt_ref",
                    "system_prompt_version",
                    "system_prompt_sha256",
                    "guardrail_config_ref",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owning_team" and not is_officer(request.user):
            kwargs["queryset"] = Team.objects.filter(pk__in=request.user.team_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage_team_objects(request.user, obj.owning_team))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_manage_team_objects(request.user, obj.owning_team))

    def save_model(self, request, obj, form, change):
        pass  # saved with its model links in save_related

    def save_related(self, request, form, formsets, change):
        # The system and its inline model links are saved by one service call, so a primary model
        # changed here makes a review due exactly as through the API, and together with a changed
        # EU AI Act class or prompt on the main form it is one material change.
        original_team = form.initial.get("owning_team") if change else None
        inventory.save_system(
            actor=request.user,
            system=form.instance,
            original_team_id=original_team,
            save_links=partial(super().save_related, request, form, formsets, change),
        )

    def delete_model(self, request, obj):
        inventory.delete_system(actor=request.user, system=obj)


@admin.register(AIModel)
class AIModelAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["provider", "name", "version", "modality", "model_type", "weights", "hosting"]
    list_filter = ["provider", "modality", "model_type", "weights", "hosting"]
    search_fields = ["provider", "name", "version"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["provider", "name", "version"]}),
        ("Kind", {"fields": ["modality", "model_type", "weights", "licence"]}),
        ("Where it runs", {"fields": ["hosting", "model_card_url", "notes"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def delete_model(self, request, obj):
        # The admin's delete page already lists systems that still use the model.
        inventory.delete_model(actor=request.user, model=obj)
