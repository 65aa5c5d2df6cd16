"""The AI risk register in the admin, per system and scoped like the API.

Saves and deletes go through ``governance.services.risks``: officers manage every system's risks,
engineers those of their teams' systems. The scores are computed by the database.
"""

from django import forms
from django.contrib import admin

from governance.admin.base import ChangeHistoryMixin, TodayRuleFilter, WithoutRelatedEditLinks
from governance.admin.controls import restrict_system_choices
from governance.models import Risk
from governance.services import risks
from governance.services.access import may_manage_team_objects

_PAIR_MESSAGE = "Give both residual likelihood and residual impact, or neither."


class RiskForm(forms.ModelForm):
    class Meta:
        model = Risk
        fields = []  # the admin adds its fieldsets

    def clean(self):
        """Report a half-given residual pair on the field that is missing."""
        cleaned = super().clean()
        likelihood, impact = cleaned.get("residual_likelihood"), cleaned.get("residual_impact")
        if (likelihood is None) != (impact is None):
            missing = "residual_impact" if impact is None else "residual_likelihood"
            if missing not in self.errors:
                self.add_error(missing, _PAIR_MESSAGE)
        return cleaned


class ReviewDueFilter(TodayRuleFilter):
    title = "review due"
    parameter_name = "review_due"
    rule, yes, no = "review_due", "Due or overdue", "Not yet due"


@admin.register(Risk)
class RiskAdmin(ChangeHistoryMixin, WithoutRelatedEditLinks, admin.ModelAdmin):
    form = RiskForm
    list_display = [
        "title",
        "system",
        "characteristic",
        "inherent_score",
        "residual_score",
        "treatment",
        "status",
        "owner",
        "review_on",
    ]
    list_filter = [
        "characteristic",
        "treatment",
        "status",
        ReviewDueFilter,
        ("system__owning_team", admin.RelatedOnlyFieldListFilter),
        ("system", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["system", "owner"]
    search_fields = ["title", "description", "system__name", "system__slug"]
    autocomplete_fields = ["system", "owner", "controls"]
    readonly_fields = ["inherent_score", "residual_score", "created_at", "updated_at"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["system", "title", "description", "characteristic", "owner"]}),
        (
            "Before treatment",
            {"fields": ["likelihood", "impact", "inherent_score"], "description": "Each from 1 to 5."},
        ),
        ("Treatment", {"fields": ["treatment", "controls", "status", "review_on"]}),
        (
            "After treatment",
            {
                "fields": ["residual_likelihood", "residual_impact", "residual_score"],
                "description": "Both or neither, each from 1 to 5.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        restrict_system_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage_team_objects(request.user, obj.system.owning_team))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_manage_team_objects(request.user, obj.system.owning_team))

    def save_model(self, request, obj, form, change):
        original_system = form.initial.get("system") if change else None
        risks.save_risk(actor=request.user, risk=obj, original_system_id=original_system)

    def save_related(self, request, form, formsets, change):
        if "controls" in form.cleaned_data:
            risks.set_risk_controls(
                actor=request.user,
                risk=form.instance,
                control_ids=[control.pk for control in form.cleaned_data["controls"]],
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        risks.delete_risk(actor=request.user, risk=obj)

    def delete_queryset(self, request, queryset):
        for risk in queryset.select_related("system__owning_team"):
            risks.delete_risk(actor=request.user, risk=risk)
