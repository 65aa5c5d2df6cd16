from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from governance.admin.base import ChangeHistoryMixin
from governance.models import Team, TeamMembership, User


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["joined_at"]


@admin.register(Team)
class TeamAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "contact_email", "member_count", "system_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .annotate(_members=Count("memberships", distinct=True), _systems=Count("systems", distinct=True))
        )

    @admin.display(description="members", ordering="_members")
    def member_count(self, team):
        return team._members

    @admin.display(description="systems", ordering="_systems")
    def system_count(self, team):
        return team._systems


class UserMembershipInline(MembershipInline):
    autocomplete_fields = ["team"]
    verbose_name = "team membership"


@admin.register(User)
class UserAdmin(ChangeHistoryMixin, DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "roles",
        "is_service_account",
        "is_active",
    ]
    list_filter = ["groups", "is_service_account", "is_active", "is_staff"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Verity", {"fields": ["is_service_account"]}),
    ]
    inlines = [UserMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_readonly_fields(self, request, obj=None):
        # Officers manage roles (groups) but cannot make anyone a superuser or grant
        # permissions outside the roles, themselves included.
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return [*super().get_readonly_fields(request, obj), "is_superuser", "user_permissions"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            from django.contrib.auth.models import Group

            from governance.choices import Role

            kwargs["queryset"] = Group.objects.filter(name__in=Role.values)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="roles")
    def roles(self, user):
        return ", ".join(sorted(g.name for g in user.groups.all())) or "—"
