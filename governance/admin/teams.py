from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone

from governance.admin.base import ChangeHistoryMixin
from governance.models import Team, TeamMembership, User
from governance.services import sign_in


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


class SignInFilter(admin.SimpleListFilter):
    title = "sign-in"
    parameter_name = "sign_in"

    def lookups(self, request, model_admin):
        return [("locked", "Locked after failed sign-ins")]

    def queryset(self, request, queryset):
        if self.value() == "locked":
            return queryset.filter(sign_in_locked_until__isnull=False)
        return queryset


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
        "sign_in",
        "is_service_account",
        "is_active",
    ]
    list_filter = ["groups", "is_service_account", "is_active", "is_staff", SignInFilter]
    actions = ["unlock_sign_in"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Verity", {"fields": ["is_service_account"]}),
    ]
    inlines = [UserMembershipInline]

    def get_queryset(self, request):
        return sign_in.with_lock_ends(super().get_queryset(request).prefetch_related("groups"))

    @admin.display(description="sign-in", ordering="sign_in_locked_until")
    def sign_in(self, user):
        if user.sign_in_locked_until is None:
            return "—"
        until = timezone.localtime(user.sign_in_locked_until)
        return f"Locked until {until:%H:%M} {until.tzname()}"

    @admin.action(description="Unlock sign-in (clear failed sign-ins)", permissions=["change"])
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            cleared = sign_in.unlock(actor=request.user, user=user)
            self.log_change(request, user, f"Unlocked sign-in ({cleared} failed sign-in records cleared).")
            self.message_user(
                request,
                f"Unlocked sign-in for {user.get_username()}: they can sign in again now.",
                messages.SUCCESS,
            )

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
