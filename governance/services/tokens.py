"""API tokens: issue, authenticate, revoke.

A token reads ``vrt_<prefix>_<secret>``. The prefix is stored in clear so a token can be found
and named in logs; only an HMAC-SHA256 digest of the whole token is stored, keyed with
``TOKEN_HMAC_KEY``, so a database dump does not yield usable credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.choices import Role, TokenScope
from governance.exceptions import NotAllowed
from governance.models import ApiToken, TeamMembership, User
from governance.services.access import is_officer

TOKEN_PREFIX = "vrt"
DEFAULT_LIFETIME = timedelta(days=90)
# Write last_used_at at most this often: a token used on every request must not turn every
# read into a write.
LAST_USE_RESOLUTION = timedelta(minutes=1)


class TokenRejected(Exception):
    """The presented token is unknown, malformed, revoked or expired."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the full token; shown once, never stored


def _digest(raw: str) -> str:
    key = settings.TOKEN_HMAC_KEY.encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def issue_token(
    *,
    actor: User | None,
    user: User,
    name: str,
    scope: str = TokenScope.READ,
    expires_at: datetime | None = None,
    never_expires: bool = False,
) -> IssuedToken:
    """Create a token for ``user``; the returned secret is the only copy there will ever be.

    Only officers issue tokens for someone else; ``actor=None`` is for trusted callers such as
    ``manage.py create_token``.
    """
    if actor is not None and actor.pk != user.pk and not is_officer(actor):
        raise NotAllowed("Only governance officers may issue tokens for another account.")
    if scope not in TokenScope.values:
        raise ValueError(f"unknown scope {scope!r}")
    if expires_at is None and not never_expires:
        expires_at = timezone.now() + DEFAULT_LIFETIME
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(raw),
        scope=scope,
        expires_at=expires_at,
        created_by=actor,
    )
    token.full_clean(exclude=["prefix", "digest"])
    token.save()
    return IssuedToken(token=token, secret=raw)


def authenticate(raw: str) -> ApiToken:
    """Return the usable token for ``raw`` (with its user loaded) or raise ``TokenRejected``."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise TokenRejected("Malformed token.")
    token = _load_token(parts[1])
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
        raise TokenRejected("Invalid token.")
    if token.revoked_at is not None:
        raise TokenRejected("Token has been revoked.")
    if token.is_expired:
        raise TokenRejected("Token has expired.")
    if not token.user.is_active:
        raise TokenRejected("The token's account is disabled.")
    _record_use(token)
    return token


def _columns(model, exclude=()) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]


# Every API request starts here, so the token, its account, the account's roles and its teams
# come back in one hand-written statement: the ORM equivalent needs a GROUP BY that costs more to
# plan and compile than to run.
_TOKEN_COLUMNS = _columns(ApiToken)
_USER_COLUMNS = _columns(User, exclude=("password", "last_login", "date_joined"))
_TOKEN_SQL = f"""
    SELECT {", ".join(f"t.{c}" for c in _TOKEN_COLUMNS)}, {", ".join(f"u.{c}" for c in _USER_COLUMNS)},
           ARRAY(SELECT g.name FROM {User.groups.through._meta.db_table} ug
                 JOIN auth_group g ON g.id = ug.group_id
                 WHERE ug.user_id = u.id AND g.name = ANY(%s)),
           ARRAY(SELECT m.team_id FROM {TeamMembership._meta.db_table} m WHERE m.user_id = u.id)
      FROM {ApiToken._meta.db_table} t
      JOIN {User._meta.db_table} u ON u.id = t.user_id
     WHERE t.prefix = %s
"""


def _load_token(prefix: str) -> ApiToken | None:
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_SQL, [list(Role.values), prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_TOKEN_COLUMNS)
    token = ApiToken.from_db(connection.alias, _TOKEN_COLUMNS, row[:split])
    user = User.from_db(connection.alias, _USER_COLUMNS, row[split : split + len(_USER_COLUMNS)])
    user._role_names = frozenset(row[-2])
    user._team_ids = list(row[-1])
    token.user = user
    return token


def _record_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


@transaction.atomic
def revoke_token(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke a token at once; its holder gets 401 from the next request on."""
    if actor.pk != token.user_id and not is_officer(actor):
        raise NotAllowed("Only governance officers may revoke another account's token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
