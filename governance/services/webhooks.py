"""Changing and removing webhook endpoints (creating one and rotating its secret live in
``governance.services.notifications``, with the secrets).

The owner or an officer changes an endpoint; the secret is never touched here. Turning an
endpoint back on clears what the delivery recorded when it gave up on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from governance import choices
from governance.exceptions import NotAllowed
from governance.models import User, WebhookEndpoint
from governance.services.access import is_officer, require_permission

CHANGEABLE = ("name", "url", "kinds", "is_active")


def _require_owner_or_officer(actor: User, endpoint: WebhookEndpoint) -> None:
    if endpoint.owner_id != actor.pk and not is_officer(actor):
        raise NotAllowed("Only the endpoint's owner or an officer can change it.")


def _checked_kinds(kinds) -> list[str]:
    kinds = list(kinds or [])
    unknown = [kind for kind in kinds if kind not in choices.NotificationKind.values]
    if unknown:
        raise ValidationError({"kinds": f"Unknown kinds of notification: {', '.join(map(str, unknown))}."})
    if len(set(kinds)) != len(kinds):
        raise ValidationError({"kinds": "Name each kind once."})
    return kinds


@transaction.atomic
def update_webhook_endpoint(
    *, actor: User, endpoint: WebhookEndpoint, changes: Mapping[str, object]
) -> WebhookEndpoint:
    """Change the name, URL, kinds or whether the endpoint is active; owner or officer only."""
    require_permission(actor, "change_webhookendpoint")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    _require_owner_or_officer(actor, endpoint)
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ValidationError({field: "This cannot be changed." for field in unknown})
    changed = []
    for field, value in changes.items():
        if field == "url":
            value = str(value or "").strip()
            if not value.lower().startswith(("https://", "http://")):
                raise ValidationError({"url": "Give an http or https URL."})
        elif field == "name":
            value = str(value or "").strip()
        elif field == "kinds":
            value = _checked_kinds(value)
        if getattr(endpoint, field) != value:
            setattr(endpoint, field, value)
            changed.append(field)
    if "is_active" in changed and endpoint.is_active:
        endpoint.consecutive_failures, endpoint.disabled_at, endpoint.disabled_reason = 0, None, ""
        changed += ["consecutive_failures", "disabled_at", "disabled_reason"]
    if changed:
        endpoint.full_clean()
        endpoint.save(update_fields=[*changed, "updated_at"])
    return endpoint


@transaction.atomic
def delete_webhook_endpoint(*, actor: User, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint and its deliveries; owner or officer only."""
    require_permission(actor, "delete_webhookendpoint")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    _require_owner_or_officer(actor, endpoint)
    endpoint.delete()
