"""Writes to teams and their membership."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.db.models import ProtectedError

from governance.exceptions import Conflict
from governance.models import Team, TeamMembership, User
from governance.services.access import require_permission


@transaction.atomic
def create_team(*, actor: User, data: Mapping[str, object]) -> Team:
    require_permission(actor, "add_team")
    team = Team(**data)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def update_team(*, actor: User, team: Team, changes: Mapping[str, object]) -> Team:
    require_permission(actor, "change_team")
    team = Team.objects.select_for_update().get(pk=team.pk)
    for field, value in changes.items():
        setattr(team, field, value)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def delete_team(*, actor: User, team: Team) -> None:
    """Delete a team; refused while it still owns systems (reassign them first)."""
    require_permission(actor, "delete_team")
    try:
        team.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise Conflict(f"The team still owns {count} system(s); reassign them first.") from exc


@transaction.atomic
def add_member(*, actor: User, team: Team, user: User) -> TeamMembership:
    require_permission(actor, "add_teammembership")
    membership, _ = TeamMembership.objects.get_or_create(team=team, user=user)
    return membership
