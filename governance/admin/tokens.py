from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from governance.admin.base import ChangeHistoryMixin
from governance.models import ApiToken, User
from governance.services import tokens
from governance.services.access import is_officer


class IssueTokenForm(forms.ModelForm):
    never_expires = forms.BooleanField(
        required=False, help_text="Leave unticked and the expiry empty for the default of 90 days."
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "expires_at"]

    def clean(self):
        data = super().clean()
        if data.get("never_expires") and data.get("expires_at"):
            self.add_error("expires_at", "Leave the expiry empty for a token that never expires.")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "scope", "status", "expires_at", "last_used_at", "created_at"]
    list_filter = ["scope", "user__is_service_account"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    actions = ["revoke_selected"]
    readonly_fields = [
        "user",
        "name",
        "scope",
        "prefix",
        "expires_at",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = IssueTokenForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "scope", "expires_at", "never_expires"]
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not is_officer(request.user):
            kwargs["queryset"] = User.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # tokens are revoked, never deleted, so their history stays whole

    @admin.display(description="status")
    def status(self, token):
        if token.revoked_at:
            return "revoked"
        return "expired" if token.is_expired else "active"

    def save_model(self, request, obj, form, change):
        issued = tokens.issue_token(
            actor=request.user,
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.cleaned_data["expires_at"],
            never_expires=form.cleaned_data.get("never_expires", False),
        )
        obj.pk = issued.token.pk
        request._issued_token_secret = issued.secret

    def response_add(self, request, obj, post_url_continue=None):
        token = ApiToken.objects.get(pk=obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": token,
            "secret": request._issued_token_secret,
        }
        return TemplateResponse(request, "admin/governance/token_created.html", context)

    def has_revoke_permission(self, request):
        return request.user.has_perm("governance.change_apitoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.revoke_token(actor=request.user, token=token)
            count += 1
        self.message_user(
            request, f"Revoked {count} token(s) at {timezone.now():%Y-%m-%d %H:%M} UTC.", messages.SUCCESS
        )
