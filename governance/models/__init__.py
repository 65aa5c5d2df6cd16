from governance.models.audit_chain import AuditAnchor, AuditChainLink
from governance.models.changes import ChangeEvent
from governance.models.controls import Control, ControlImplementation
from governance.models.evidence import Evidence
from governance.models.frameworks import Framework, Requirement, RequirementMapping
from governance.models.idempotency import IdempotencyRecord
from governance.models.inventory import AIModel, AISystem, SystemModel
from governance.models.notifications import Notification, NotificationPreference, WebhookEndpoint
from governance.models.packs import EvidencePack, PackDownload
from governance.models.reviews import Review, ReviewPolicy
from governance.models.risks import Risk
from governance.models.soa import Applicability, SoAVersion
from governance.models.teams import Team, TeamMembership, User
from governance.models.tokens import ApiToken
from governance.models.transparency import (
    AssessmentAnswer,
    Indicator,
    IndicatorSet,
    TransparencyAssessment,
)

__all__ = [
    "AuditAnchor",
    "AuditChainLink",
    "AssessmentAnswer",
    "Indicator",
    "IndicatorSet",
    "TransparencyAssessment",
    "Applicability",
    "Evidence",
    "EvidencePack",
    "PackDownload",
    "Risk",
    "SoAVersion",
    "AIModel",
    "AISystem",
    "ApiToken",
    "ChangeEvent",
    "Control",
    "ControlImplementation",
    "Framework",
    "IdempotencyRecord",
    "Notification",
    "NotificationPreference",
    "Requirement",
    "RequirementMapping",
    "Review",
    "ReviewPolicy",
    "SystemModel",
    "Team",
    "TeamMembership",
    "User",
    "WebhookEndpoint",
]
