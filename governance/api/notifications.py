"""Notifications API: the caller's own in-app notifications and notification preferences, and
webhook endpoints with their signing secrets.

A webhook endpoint's secret is in the body of the create (201) and of ``rotate-secret`` only:
never in a read, and not in the response an ``Idempotency-Key`` replays (there it is null; rotate
the secret if the first response was lost).
"""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.db.models import F
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance import choices
from governance.api import base, filters
from governance.api.base import crud_summaries
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from governance.api.pagination import StableCursorPagination
from governance.api.permissions import RoleAndScopePermission
from governance.models import Notification, NotificationPreference, WebhookEndpoint
from governance.services import idempotency, webhooks
from governance.services import notifications as services

# Webhook endpoints choose their kinds themselves: a preference names the person's own channels.
PREFERENCE_CHANNELS = [
    (value, label)
    for value, label in choices.NotificationChannel.choices
    if value != choices.NotificationChannel.WEBHOOK
]


# --- Notification preferences -------------------------------------------------------------------


class PreferenceSerializer(base.Serializer):
    kind = serializers.ChoiceField(choices=choices.NotificationKind.choices, read_only=True)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=PREFERENCE_CHANNELS),
        allow_empty=True,
        max_length=len(PREFERENCE_CHANNELS),
        help_text="Channels for this kind; an empty list turns it off.",
    )
    digest = serializers.BooleanField(default=False, help_text="Bundle into one message a day.")
    default = serializers.BooleanField(
        read_only=True, help_text="true: you have not chosen; the default channels apply."
    )

    def validate_channels(self, value):
        return list(dict.fromkeys(value))


def _effective(kind: str, preference: NotificationPreference | None) -> dict:
    if preference is None:
        return {"kind": kind, "channels": list(services.DEFAULT_CHANNELS), "digest": False, "default": True}
    channels, digest = list(preference.channels), preference.digest
    return {"kind": kind, "channels": channels, "digest": digest, "default": False}


@extend_schema_view(
    list=extend_schema(summary="Your notification preferences, one per kind (defaults included)"),
    retrieve=extend_schema(summary="Your preference for one kind of notification"),
    update=extend_schema(summary="Set your channels and digest for one kind of notification"),
)
class NotificationPreferenceViewSet(base.GenericViewSet):
    """Each caller's own channels per kind of notification. Without a choice of yours the default
    channels apply (e-mail and in the admin), as the list shows with ``default: true``."""

    queryset = NotificationPreference.objects.all()
    serializer_class = PreferenceSerializer
    pagination_class = None
    filter_backends = []  # one row per kind, in the kinds' order: nothing to filter or order by
    lookup_field = "kind"
    lookup_value_regex = "[a-z0-9_]+"
    http_method_names = ["get", "put", "head", "options"]

    def _own(self):
        user = self.request.user
        return NotificationPreference.objects.visible_to(user).filter(user=user)

    def _kind(self) -> str:
        kind = self.kwargs[self.lookup_field]
        if kind not in choices.NotificationKind.values:
            raise exceptions.NotFound("No such kind of notification.")
        return kind

    def list(self, request):
        chosen = {preference.kind: preference for preference in self._own()}
        rows = [_effective(kind, chosen.get(kind)) for kind in choices.NotificationKind.values]
        return Response(PreferenceSerializer(rows, many=True).data)

    def retrieve(self, request, kind=None):
        kind = self._kind()
        return Response(PreferenceSerializer(_effective(kind, self._own().filter(kind=kind).first())).data)

    def update(self, request, kind=None):
        kind = self._kind()
        body = PreferenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preference = services.set_preference(
            actor=request.user,
            kind=kind,
            channels=body.validated_data["channels"],
            digest=body.validated_data["digest"],
        )
        return Response(PreferenceSerializer(_effective(kind, preference)).data)


# --- Webhook endpoints --------------------------------------------------------------------------


class WebhookEndpointSerializer(base.ModelSerializer):
    owner = serializers.CharField(source="owner_username", read_only=True)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=choices.NotificationKind.choices),
        allow_empty=True,
        required=False,
        max_length=len(choices.NotificationKind.values),
        help_text="Kinds this endpoint receives; empty for all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "kinds",
            "is_active",
            "owner",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = base.read_only_except(fields, webhooks.CHANGEABLE)

    def validate_kinds(self, value):
        return list(dict.fromkeys(value))


class WebhookEndpointCreateSerializer(WebhookEndpointSerializer):
    class Meta(WebhookEndpointSerializer.Meta):
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "is_active"]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret, shown in this response only (null in an Idempotency-Key replay).",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointPagination(StableCursorPagination):
    ordering = ("-created_at", "-id")


class SecretShownOnceMixin:
    """Keeps signing secrets out of the responses stored for ``Idempotency-Key`` replays.

    The caller gets the secret in the response; the stored copy has ``"secret": null``, so a
    replay never shows it again and it is kept nowhere but on the endpoint itself.
    """

    def _store(self, claim, request, response, *args, **kwargs):
        response = self.finalize_response(request, response, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()
        body = response.content
        data = getattr(response, "data", None)
        if isinstance(data, dict) and data.get("secret"):
            body = response.accepted_renderer.render(
                {**data, "secret": None}, response.accepted_media_type, response.renderer_context
            )
        stored = idempotency.complete(claim, status=response.status_code, headers=response.headers, body=body)
        if not stored:
            transaction.set_rollback(True)
        return response, stored


@extend_schema_view(
    **crud_summaries(
        "a webhook endpoint",
        "your webhook endpoints (officers: all)",
        create="Add a webhook endpoint; the response carries its signing secret, once",
    )
)
class WebhookEndpointViewSet(SecretShownOnceMixin, IdempotentPostMixin, base.ModelViewSet):
    """URLs that receive notifications as signed JSON POSTs (``Verity-Signature``). Each person
    manages their own endpoints; officers see and manage all of them."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    pagination_class = WebhookEndpointPagination
    ordering_fields = ["created_at", "name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return WebhookEndpoint.objects.visible_to(self.request.user).annotate(
            owner_username=F("owner__username")
        )

    def _render(self, endpoint: WebhookEndpoint, *, secret: str | None = None, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=endpoint.pk)
        if secret is None:
            return Response(WebhookEndpointSerializer(fresh).data, status=code)
        fresh.secret = secret
        return Response(WebhookEndpointWithSecretSerializer(fresh).data, status=code)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointWithSecretSerializer},
    )
    def create(self, request, *args, **kwargs):
        body = WebhookEndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        endpoint, secret = webhooks.create_webhook_endpoint(
            actor=request.user, name=data["name"], url=data["url"], kinds=data.get("kinds", [])
        )
        return self._render(endpoint, secret=secret, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        body = WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        endpoint = webhooks.update_webhook_endpoint(
            actor=request.user, endpoint=endpoint, changes=dict(body.validated_data)
        )
        return self._render(endpoint)

    def perform_destroy(self, instance):
        webhooks.delete_webhook_endpoint(actor=self.request.user, endpoint=instance)

    @extend_schema(
        summary="Replace an endpoint's signing secret; the response carries the new one, once",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={
            200: inline_serializer(
                "RotatedWebhookSecret",
                {"id": serializers.IntegerField(), "secret": serializers.CharField()},
            )
        },
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        base.refuse_body_fields(request)
        endpoint = self.get_object()
        secret = webhooks.rotate_webhook_secret(actor=request.user, endpoint=endpoint)
        return Response({"id": endpoint.pk, "secret": secret})


# --- In-app notifications -----------------------------------------------------------------------


class NotificationSerializer(base.ModelSerializer):
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "subject_type",
            "subject_id",
            "subject_label",
            "payload",
            "unread",
            "created_at",
            "sent_at",
            "read_at",
        ]
        read_only_fields = fields

    def get_unread(self, notification) -> bool:
        return notification.read_at is None


class NotificationFilter(filters.FilterSet):
    unread = filters.BooleanFilter(
        field_name="read_at", lookup_expr="isnull", help_text="true: not read yet; false: read."
    )
    kind = django_filters.MultipleChoiceFilter(choices=choices.NotificationKind.choices)

    class Meta:
        model = Notification
        fields = ["kind"]


class NotificationPagination(StableCursorPagination):
    ordering = ("-created_at", "-id")


class InboxPermission(RoleAndScopePermission):
    """Marking one of your own notifications read needs only the right to see them."""

    def has_permission(self, request, view) -> bool:
        if request.method == "POST" and getattr(view, "action", None) == "read":
            if not (request.user and request.user.is_authenticated):
                return False
            if getattr(request.auth, "scope", choices.TokenScope.WRITE) != choices.TokenScope.WRITE:
                self.message = "This token is read-only."
                return False
            return request.user.has_perm("governance.view_notification")
        return super().has_permission(request, view)


@extend_schema_view(
    list=extend_schema(summary="Your in-app notifications, newest first"),
    retrieve=extend_schema(summary="One of your in-app notifications"),
)
class NotificationViewSet(IdempotentPostMixin, base.ReadOnlyModelViewSet):
    """The caller's own notifications in the admin's inbox (channel ``in_app``)."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    pagination_class = NotificationPagination
    permission_classes = [InboxPermission]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        user = self.request.user
        return Notification.objects.visible_to(user).filter(
            recipient=user,
            channel=choices.NotificationChannel.IN_APP,
            status=choices.NotificationStatus.SENT,
        )

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    @extend_schema(exclude=True)
    def create(self, request, *args, **kwargs):
        raise exceptions.MethodNotAllowed(request.method)

    @extend_schema(
        summary="Mark one of your notifications read",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: NotificationSerializer},
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        base.refuse_body_fields(request)
        notification = services.mark_read(actor=request.user, notification=self.get_object())
        return Response(NotificationSerializer(notification).data)
