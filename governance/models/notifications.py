"""The notification outbox, who wants what by which channel, and webhook endpoints.

Every notification is first a row here, written idempotently through its ``dedupe_key`` in the
transaction that decided it is due; delivery tasks send rows and record the outcome. A row is
never lost (the scans and the retry sweep find it again) and never sent twice (its key is unique,
and a delivery holds a lease on the row).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from governance import choices
from governance.querysets import (
    NotificationPreferenceQuerySet,
    NotificationQuerySet,
    WebhookEndpointQuerySet,
)


class WebhookEndpoint(models.Model):
    """A URL that receives notifications as signed JSON POSTs.

    The signing secret is kept (it is needed to sign every delivery) but shown only once, when
    the endpoint is created; it never appears in the change history.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=200)
    url = models.URLField(max_length=1000)
    secret = models.CharField(max_length=100, editable=False)
    kinds = ArrayField(
        models.CharField(max_length=30, choices=choices.NotificationKind.choices),
        default=list,
        blank=True,
        help_text="Kinds this endpoint receives; empty for all.",
    )
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class NotificationPreference(models.Model):
    """One user's channels for one kind of notification, and whether to bundle them daily."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=choices.NotificationKind.choices)
    channels = ArrayField(
        models.CharField(max_length=10, choices=choices.NotificationChannel.choices),
        default=list,
        blank=True,
        help_text="Empty: this kind is not sent to this user at all.",
    )
    digest = models.BooleanField(default=False, help_text="Bundle into one message a day.")

    objects = NotificationPreferenceQuerySet.as_manager()

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="unique_notification_preference")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_kind_display()}"


class Notification(models.Model):
    """One message to one recipient (a user or a webhook endpoint) over one channel."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=choices.NotificationChannel.choices)
    kind = models.CharField(max_length=30, choices=choices.NotificationKind.choices)
    subject_type = models.CharField(max_length=60, help_text="app_label.model of what it is about.")
    subject_id = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=255, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=choices.NotificationStatus.choices, default=choices.NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A delivery in progress holds the row until then."
    )
    last_error = models.TextField(blank=True)
    in_digest = models.BooleanField(default=False, help_text="Waits for the recipient's daily digest.")
    digest = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bundled",
        help_text="The digest message this one went out in.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="notification_due",
            ),
            models.Index(fields=["recipient", "channel", "read_at"], name="notification_inbox"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | Q(endpoint__isnull=False),
                name="notification_has_recipient",
            ),
            models.CheckConstraint(
                condition=~Q(channel="webhook") | Q(endpoint__isnull=False),
                name="webhook_notification_has_endpoint",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient or self.endpoint} ({self.get_channel_display()})"
