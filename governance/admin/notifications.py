"""Notifications in the admin: the outbox with its delivery errors and a retry action, each
person's inbox of in-app notifications, webhook endpoints and notification preferences.

Writes go through ``governance.services.notifications`` (and ``webhooks`` for changing and
removing endpoints). A webhook endpoint's signing secret is shown once, on the page that
follows its creation or a rotation, and never in a form.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import Truncator

from governance import choices
from governance.admin.base import ChangeHistoryMixin, ServiceForm
from governance.exceptions import Conflict, NotAllowed
from governance.models import Notification, NotificationPreference, WebhookEndpoint
from governance.services import notifications as services
from governance.services import webhooks
from governance.services.access import is_officer

INBOX_LIMIT = 200
PERSONAL_CHANNELS = [
    (value, label)
    for value, label in choices.NotificationChannel.choices
    if value != choices.NotificationChannel.WEBHOOK
]


def _form_for(form_class, request):
    return type(form_class.__name__, (form_class,), {"actor": request.user})


# --- Outbox and inbox -----------------------------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox: one row per message, recipient and channel, with its delivery state."""

    list_display = [
        "created_at",
        "kind",
        "channel",
        "to",
        "subject_label",
        "status",
        "attempts",
        "next_attempt_at",
        "error",
    ]
    list_filter = ["status", "channel", "kind", "in_digest"]
    list_select_related = ["recipient", "endpoint"]
    search_fields = ["subject_label", "dedupe_key", "recipient__username", "endpoint__name", "last_error"]
    date_hierarchy = "created_at"
    actions = ["retry_delivery"]
    list_per_page = 100
    fields = [
        "kind",
        "channel",
        "recipient",
        "endpoint",
        "subject_type",
        "subject_id",
        "subject_label",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "last_error",
        "in_digest",
        "digest",
        "dedupe_key",
        "created_at",
        "sent_at",
        "read_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # rows change by delivery; officers retry with the action

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("governance.change_notification")

    @admin.display(description="to")
    def to(self, notification):
        return notification.recipient or notification.endpoint

    @admin.display(description="last error")
    def error(self, notification):
        return Truncator(notification.last_error).chars(80) or "—"

    @admin.action(description="Retry delivery", permissions=["retry"])
    def retry_delivery(self, request, queryset):
        retried = 0
        for notification in queryset:
            try:
                services.retry_notification(actor=request.user, notification=notification)
                retried += 1
            except (Conflict, NotAllowed, ValidationError) as exc:
                text = (
                    exc.message
                    if isinstance(exc, Conflict)
                    else "; ".join(getattr(exc, "messages", [str(exc)]))
                )
                self.message_user(request, f"Notification {notification.pk}: {text}", messages.WARNING)
        if retried:
            self.message_user(
                request, f"{retried} notification(s) queued for delivery again.", messages.SUCCESS
            )

    def get_urls(self):
        inbox = path(
            "inbox/",
            self.admin_site.admin_view(self.inbox_view),
            name="governance_notification_inbox",
        )
        return [inbox, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "unread_count": self._unread(request).count()}
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _unread(request):
        return Notification.objects.unread_in_app(request.user)

    def inbox_view(self, request):
        """The logged-in person's unread in-app notifications, each with "Mark read"."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._mark_read(request)
        unread = self._unread(request).order_by("-created_at", "-id")
        rows = list(unread[: INBOX_LIMIT + 1])
        context = {
            **self.admin_site.each_context(request),
            "title": "My notifications",
            "subtitle": None,
            "opts": self.opts,
            "notifications": rows[:INBOX_LIMIT],
            "more": len(rows) > INBOX_LIMIT,
            "outbox_url": reverse("admin:governance_notification_changelist"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/governance/notification/inbox.html", context)

    def _mark_read(self, request):
        unread = self._unread(request)
        if "all" in request.POST:
            chosen = list(unread.order_by("id")[:INBOX_LIMIT])
        else:
            chosen = list(unread.filter(pk__in=request.POST.getlist("notification")[:INBOX_LIMIT]))
        for notification in chosen:
            try:
                services.mark_read(actor=request.user, notification=notification)
            except (Conflict, NotAllowed) as exc:
                self.message_user(request, str(exc), messages.WARNING)
        if chosen:
            self.message_user(request, f"Marked {len(chosen)} notification(s) read.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:governance_notification_inbox"))


# --- Webhook endpoints ----------------------------------------------------------------------------


def _url_field():
    return forms.URLField(max_length=1000, assume_scheme="https", help_text="Where the signed POSTs go.")


def _kinds_field():
    return forms.MultipleChoiceField(
        choices=choices.NotificationKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every kind.",
    )


class WebhookEndpointAddForm(ServiceForm):
    url = _url_field()
    kinds = _kinds_field()

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "kinds"]

    def decide(self, data):
        return webhooks.create_webhook_endpoint(
            actor=self.actor, name=data["name"], url=data["url"], kinds=data.get("kinds") or []
        )


class WebhookEndpointChangeForm(ServiceForm):
    url = _url_field()
    kinds = _kinds_field()

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "kinds", "is_active"]

    def decide(self, data):
        changes = {name: data[name] for name in self.changed_data if name in data}
        if not changes:
            return self.instance
        return webhooks.update_webhook_endpoint(actor=self.actor, endpoint=self.instance, changes=changes)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["name", "url", "owner", "kind_list", "is_active", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    list_select_related = ["owner"]
    search_fields = ["name", "url", "owner__username"]
    actions = ["rotate_secret"]
    record = ["owner", "consecutive_failures", "disabled_at", "disabled_reason", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _form_for(WebhookEndpointChangeForm if obj else WebhookEndpointAddForm, request)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "url", "kinds"]
        return ["name", "url", "kinds", "is_active", *self.record]

    def get_readonly_fields(self, request, obj=None):
        return self.record if obj is not None else []

    def _owns(self, request, obj) -> bool:
        return obj is None or obj.owner_id == request.user.pk or is_officer(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owns(request, obj)

    def has_rotate_permission(self, request):
        return request.user.has_perm("governance.change_webhookendpoint")

    @admin.display(description="kinds")
    def kind_list(self, endpoint):
        return ", ".join(endpoint.kinds) if endpoint.kinds else "all"

    def save_model(self, request, obj, form, change):
        if change:
            return  # the service changed it when the form was validated
        endpoint, secret = form.result
        obj.pk = endpoint.pk
        request._webhook_secrets = [(endpoint, secret)]

    def save_related(self, request, form, formsets, change):
        pass

    def response_add(self, request, obj, post_url_continue=None):
        return self._secrets_page(request, request._webhook_secrets, created=True)

    def delete_model(self, request, obj):
        webhooks.delete_webhook_endpoint(actor=request.user, endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            webhooks.delete_webhook_endpoint(actor=request.user, endpoint=endpoint)

    @admin.action(description="Rotate the signing secret (shown once)", permissions=["rotate"])
    def rotate_secret(self, request, queryset):
        rotated = []
        for endpoint in queryset:
            try:
                rotated.append(
                    (endpoint, webhooks.rotate_webhook_secret(actor=request.user, endpoint=endpoint))
                )
            except NotAllowed as exc:
                self.message_user(request, f"{endpoint}: {exc}", messages.ERROR)
        return self._secrets_page(request, rotated, created=False) if rotated else None

    def _secrets_page(self, request, secrets, *, created: bool):
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook endpoint created" if created else "Signing secrets rotated",
            "opts": self.opts,
            "secrets": secrets,
            "created": created,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/governance/webhook_secret.html", context)


# --- Preferences ----------------------------------------------------------------------------------


class PreferenceForm(ServiceForm):
    channels = forms.MultipleChoiceField(
        choices=PERSONAL_CHANNELS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: this kind is not sent to you at all.",
    )

    class Meta:
        model = NotificationPreference
        fields = ["kind", "channels", "digest"]

    def decide(self, data):
        kind = data.get("kind") or self.instance.kind
        return services.set_preference(
            actor=self.actor, kind=kind, channels=data.get("channels") or [], digest=data.get("digest", False)
        )


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    """Each person's own channels per kind (officers see everyone's, and change only their own)."""

    list_display = ["user", "kind", "channel_list", "digest"]
    list_filter = ["kind", "digest"]
    list_select_related = ["user"]
    search_fields = ["user__username"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _form_for(PreferenceForm, request)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["kind", "channels", "digest"] if obj is None else ["user", "kind", "channels", "digest"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "kind"] if obj is not None else []

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.user_id == request.user.pk)

    def has_delete_permission(self, request, obj=None):
        return False  # set the channels instead; none ticked turns a kind off

    @admin.display(description="channels")
    def channel_list(self, preference):
        return ", ".join(preference.channels) if preference.channels else "off"

    def save_model(self, request, obj, form, change):
        obj.pk, obj.user_id = form.result.pk, form.result.user_id

    def save_related(self, request, form, formsets, change):
        pass
