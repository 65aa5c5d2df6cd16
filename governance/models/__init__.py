from governance.models.changes import ChangeEvent
from governance.models.inventory import AIModel, AISystem, SystemModel
from governance.models.teams import Team, TeamMembership, User
from governance.models.tokens import ApiToken

__all__ = [
    "AIModel",
    "AISystem",
    "ApiToken",
    "ChangeEvent",
    "SystemModel",
    "Team",
    "TeamMembership",
    "User",
]
