"""The control library and control implementations in the admin.

Every save and delete goes through ``governance.services.controls``, so the admin applies the
same rules as the API: officers maintain the library; engineers change implementations of their
teams' systems only, never organisation-wide ones.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse

from governance.admin.base import ChangeHistoryMixin, TodayRuleFilter, WithoutRelatedEditLinks
from governance.exceptions import Conflict
from governance.models import AISystem, Control, ControlImplementation
from governance.services import controls
from governance.services.access import is_officer, may_manage_team_objects


def may_change_implementation(user, implementation) -> bool:
    if is_officer(user):
        return True
    return implementation.system_id is not None and may_manage_team_objects(
        user, implementation.system.owning_team
    )


def restrict_system_choices(db_field, request, kwargs) -> None:
    """Engineers pick among their teams' systems, and must pick one."""
    if db_field.name == "system" and not is_officer(request.user):
        kwargs["queryset"] = AISystem.objects.filter(owning_team_id__in=request.user.team_ids())
        kwargs["required"] = True


class ImplementationInline(WithoutRelatedEditLinks, admin.TabularInline):
    """The control's implementations the user can see; officers edit them here, engineers on the
    implementation pages."""

    model = ControlImplementation
    extra = 0
    fields = [
        "system",
        "status",
        "effectiveness",
        "owner",
        "last_tested_on",
        "next_test_due",
        "justification",
    ]
    autocomplete_fields = ["system", "owner"]
    show_change_link = True
    verbose_name_plural = "Where the control is implemented (empty system: organisation-wide)"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .select_related("system__owning_team", "owner")
        )

    def has_add_permission(self, request, obj=None):
        return is_officer(request.user) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return is_officer(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_officer(request.user) and super().has_delete_permission(request, obj)


@admin.register(Control)
class ControlAdmin(ChangeHistoryMixin, WithoutRelatedEditLinks, admin.ModelAdmin):
    list_display = [
        "code",
        "title",
        "control_type",
        "frequency",
        "owner",
        "requirement_count",
        "implementation_count",
    ]
    list_filter = ["control_type", "frequency"]
    list_select_related = ["owner"]
    search_fields = ["code", "title", "description"]
    autocomplete_fields = ["owner", "requirements"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ImplementationInline]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["code", "title", "description", "owner"]}),
        ("How it operates", {"fields": ["control_type", "frequency"]}),
        (
            "What it satisfies",
            {"fields": ["requirements"], "description": "Requirements of any framework."},
        ),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .annotate(
                _requirements=Count("requirements", distinct=True),
                _implementations=Count("implementations", distinct=True),
            )
        )

    @admin.display(description="requirements", ordering="_requirements")
    def requirement_count(self, control):
        return control._requirements

    @admin.display(description="implementations", ordering="_implementations")
    def implementation_count(self, control):
        return control._implementations

    def get_actions(self, request):
        # One at a time: a control that is still implemented is refused with the reason.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        controls.save_control(actor=request.user, control=obj)

    def save_related(self, request, form, formsets, change):
        if "requirements" in form.cleaned_data:
            controls.set_control_requirements(
                actor=request.user,
                control=form.instance,
                requirement_ids=[requirement.pk for requirement in form.cleaned_data["requirements"]],
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        originals = {f.instance.pk: f.initial.get("system") for f in formset.initial_forms}
        implementations = formset.save(commit=False)
        for implementation in formset.deleted_objects:
            controls.delete_implementation(actor=request.user, implementation=implementation)
        for implementation in implementations:
            controls.save_implementation(
                actor=request.user,
                implementation=implementation,
                original_system_id=originals.get(implementation.pk),
            )

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except Conflict as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:governance_control_change", args=[object_id]))

    def delete_model(self, request, obj):
        controls.delete_control(actor=request.user, control=obj)


class OverdueFilter(TodayRuleFilter):
    title = "test overdue"
    parameter_name = "overdue"
    rule, yes, no = "test_overdue", "Overdue", "Not overdue"


@admin.register(ControlImplementation)
class ControlImplementationAdmin(ChangeHistoryMixin, WithoutRelatedEditLinks, admin.ModelAdmin):
    list_display = [
        "control",
        "where",
        "team",
        "status",
        "effectiveness",
        "owner",
        "last_tested_on",
        "next_test_due",
    ]
    list_filter = [
        "status",
        "effectiveness",
        OverdueFilter,
        "control__control_type",
        ("system__owning_team", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["control", "system__owning_team", "owner"]
    search_fields = ["control__code", "control__title", "system__name", "system__slug", "justification"]
    autocomplete_fields = ["control", "system", "owner"]
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 50
    fieldsets = [
        (
            None,
            {
                "fields": ["control", "system", "owner"],
                "description": "Leave the system empty for an organisation-wide implementation (officers).",
            },
        ),
        ("State", {"fields": ["status", "justification", "effectiveness"]}),
        ("Testing", {"fields": ["last_tested_on", "next_test_due"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="system", ordering="system__name")
    def where(self, implementation):
        return implementation.system.name if implementation.system_id else "organisation-wide"

    @admin.display(description="team", ordering="system__owning_team__name")
    def team(self, implementation):
        return implementation.system.owning_team if implementation.system_id else "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        restrict_system_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_change_implementation(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_change_implementation(request.user, obj))

    def save_model(self, request, obj, form, change):
        original_system = form.initial.get("system") if change else None
        controls.save_implementation(
            actor=request.user, implementation=obj, original_system_id=original_system
        )

    def delete_model(self, request, obj):
        controls.delete_implementation(actor=request.user, implementation=obj)

    def delete_queryset(self, request, queryset):
        for implementation in queryset.select_related("system__owning_team"):
            controls.delete_implementation(actor=request.user, implementation=implementation)
