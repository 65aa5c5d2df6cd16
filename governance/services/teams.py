"""Writes to teams and their membership."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from governance.models import Team, TeamMembership, User
from governance.services.access import require_permission
from governance.services.records import create_validated, delete_unless_protected, update_validated


@transaction.atomic
def create_team(*, actor: User, data: Mapping[str, object]) -> Team:
    require_permission(actor, "add_team")
    return create_validated(Team, data)


@transaction.atomic
def update_team(*, actor: User, team: Team, changes: Mapping[str, object]) -> Team:
    require_permission(actor, "change_team")
    return update_validated(team, changes)


@transaction.atomic
def delete_team(*, actor: User, team: Team) -> None:
    """Delete a team; refused while it still owns systems (reassign them first)."""
    require_permission(actor, "delete_team")
    delete_unless_protected(
        team, lambda systems: f"The team still owns {len(systems)} system(s); reassign them first."
    )


@transaction.atomic
def add_member(*, actor: User, team: Team, user: User) -> TeamMembership:
    require_permission(actor, "add_teammembership")
    membership, _ = TeamMembership.objects.get_or_create(team=team, user=user)
    return membership
