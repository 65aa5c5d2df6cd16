"""Write rules shared by every surface: which team's objects an actor may change."""

from django.core.exceptions import ValidationError

from governance.choices import Role
from governance.exceptions import NotAllowed


def require_permission(actor, codename: str) -> None:
    """Refuse the write unless the actor's role grants ``governance.<codename>``."""
    if actor is None or not actor.has_perm(f"governance.{codename}"):
        raise NotAllowed(f"Your role does not allow this ({codename}).")


def is_officer(actor) -> bool:
    return bool(actor and actor.is_active and (actor.is_superuser or actor.has_role(Role.OFFICER)))


def may_manage_team_objects(actor, team) -> bool:
    """Officers manage every team's systems; engineers only their own teams'."""
    if is_officer(actor):
        return True
    return actor.has_role(Role.ENGINEER) and team is not None and team.pk in actor.team_ids()


def require_team_scope(actor, team, *, field: str = "owning_team") -> None:
    if not may_manage_team_objects(actor, team):
        raise ValidationError({field: "You can only manage systems that belong to one of your teams."})
