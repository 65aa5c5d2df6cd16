"""Webhook endpoints: creating one (its signing secret is returned once, never shown again),
rotating the secret, changing and removing it.

The owner or an officer changes an endpoint. Turning an endpoint back on clears what delivery
recorded when it gave up on it.

An endpoint makes the server send requests where a user says, so its URL must name a public
address: loopback, private, link-local (cloud metadata) and reserved addresses are refused, here
and again by delivery at send time (a name may resolve elsewhere later), which then connects to the
very addresses it checked (``pinned_addresses``). Refusals never name the address a host resolved to.
``VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` lifts this for development and tests; it is off in
production (the default, ``VERITY_ENV``) unless set.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from governance import choices
from governance.exceptions import NotAllowed
from governance.models import User, WebhookEndpoint
from governance.services.access import is_officer, require_permission

CHANGEABLE = ("name", "url", "kinds", "is_active")
"""What a change to a webhook endpoint may set (the API's PATCH); the rest is the delivery's."""
SECRET_PREFIX = "whsec_"


class AddressRefused(Exception):
    """The server must not send to a URL; ``unresolved`` when its host did not resolve (which
    may pass: delivery tries again later)."""

    def __init__(self, message: str, *, unresolved: bool = False):
        super().__init__(message)
        self.message = message
        self.unresolved = unresolved


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    return address.is_global and not address.is_multicast


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number or out of range
        host = port = None
    if parts.scheme not in ("http", "https") or not host:
        raise AddressRefused("Give an http or https URL.")
    return host, port or (443 if parts.scheme == "https" else 80)


def pinned_addresses(url: str, *, resolve=None) -> tuple[str, ...]:
    """The addresses to send ``url``'s requests to, in the resolver's order: its host resolved
    once, with every address it resolves to checked (unless settings allow private addresses).

    Delivery connects to the returned addresses instead of resolving the name again, so a name
    cannot pass this check and then point inside when the connection is made. ``resolve`` has
    ``socket.getaddrinfo``'s signature (the default, looked up on each call). Raises
    ``AddressRefused``; its message never names the addresses a host resolved to (they may be
    internal).
    """
    host, port = _host_and_port(url)
    try:
        infos = (resolve or socket.getaddrinfo)(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        infos = []
    if not infos:
        raise AddressRefused(f"The host {host!r} does not resolve.", unresolved=True)
    if not settings.VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        for info in infos:
            if not _is_public(ipaddress.ip_address(info[4][0].split("%", 1)[0])):
                raise AddressRefused(
                    f"The host {host!r} is not allowed: it does not resolve to a public address."
                )
    return tuple(dict.fromkeys(info[4][0] for info in infos))


def address_problem(url: str) -> str | None:
    """Why the server must not send to ``url``, or None: not http(s), no host, a host that does
    not resolve, or one that resolves to a non-public address. Where settings allow private
    addresses, only the form of the URL is checked (the name is looked up when sending)."""
    try:
        _host_and_port(url)
        if not settings.VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
            pinned_addresses(url)
    except AddressRefused as refused:
        return refused.message
    return None


def _checked_url(url) -> str:
    url = str(url or "").strip()
    problem = address_problem(url)
    if problem:
        raise ValidationError({"url": problem})
    return url


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _require_owner_or_officer(actor: User, endpoint: WebhookEndpoint) -> None:
    if endpoint.owner_id != actor.pk and not is_officer(actor):
        raise NotAllowed("Only the endpoint's owner or an officer can change it or its secret.")


def _checked_kinds(kinds) -> list[str]:
    kinds = list(kinds or [])
    unknown = [kind for kind in kinds if kind not in choices.NotificationKind.values]
    if unknown:
        raise ValidationError({"kinds": f"Unknown kinds of notification: {', '.join(map(str, unknown))}."})
    if len(set(kinds)) != len(kinds):
        raise ValidationError({"kinds": "Name each kind once."})
    return kinds


@transaction.atomic
def create_webhook_endpoint(
    *, actor: User, name: str, url: str, kinds: list[str]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the actor's and its signing secret (returned once, never shown again).

    Officers and engineers; ``kinds`` empty receives every kind.
    """
    require_permission(actor, "add_webhookendpoint")
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        owner=actor, name=(name or "").strip(), url=_checked_url(url), kinds=_checked_kinds(kinds)
    )
    endpoint.secret = secret
    endpoint.full_clean()
    endpoint.save()
    return endpoint, secret


@transaction.atomic
def rotate_webhook_secret(*, actor: User, endpoint: WebhookEndpoint) -> str:
    """A new signing secret for the endpoint (returned once); owner or officer only."""
    require_permission(actor, "change_webhookendpoint")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    _require_owner_or_officer(actor, endpoint)
    secret = _new_secret()
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "updated_at"])
    return secret


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
            value = _checked_url(value)
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
