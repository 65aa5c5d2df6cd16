"""What each Verity role may do with the incidents app's models.

Declared to governance's role registry from ``IncidentsConfig.ready()``; ``migrate`` then gives
the role groups these permissions alongside governance's own.
"""

from governance.choices import Role
from governance.roles import CRUD, RoleTable

PERMISSIONS: RoleTable = {
    Role.OFFICER: {
        "incident": ("add", "change", "view"),  # never deleted: rejected or closed instead
        "timelineentry": ("add", "view"),
        "correctiveaction": CRUD,
        "referenceincident": ("view",),
        "evaluationrun": ("add", "view"),  # runs are evidence: never changed
        "evaluationsample": ("add", "view"),
        "hallucinationfinding": ("add", "change", "view"),
        "hallucinationlimit": CRUD,
    },
    Role.ENGINEER: {
        "incident": ("add", "change", "view"),  # their teams' systems only
        "timelineentry": ("add", "view"),
        "correctiveaction": ("add", "change", "view"),
        "referenceincident": ("view",),
        "evaluationrun": ("add", "view"),  # their teams' systems only
        "evaluationsample": ("add", "view"),
        "hallucinationfinding": ("add", "change", "view"),
        "hallucinationlimit": ("view",),  # officers set the limits
    },
    Role.AUDITOR: {
        "incident": ("view",),
        "timelineentry": ("view",),
        "correctiveaction": ("view",),
        "referenceincident": ("view",),
        "evaluationrun": ("view",),
        "evaluationsample": ("view",),
        "hallucinationfinding": ("view",),
        "hallucinationlimit": ("view",),
    },
}
