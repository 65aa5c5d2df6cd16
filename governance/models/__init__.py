from governance.models.changes import ChangeEvent
from governance.models.controls import Control, ControlImplementation
from governance.models.frameworks import Framework, Requirement, RequirementMapping
from governance.models.inventory import AIModel, AISystem, SystemModel
from governance.models.teams import Team, TeamMembership, User
from governance.models.tokens import ApiToken

__all__ = [
    "AIModel",
    "AISystem",
    "ApiToken",
    "ChangeEvent",
    "Control",
    "ControlImplementation",
    "Framework",
    "Requirement",
    "RequirementMapping",
    "SystemModel",
    "Team",
    "TeamMembership",
    "User",
]
