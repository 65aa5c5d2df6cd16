"""What each Verity role may do, as Django permissions on the role's group.

Object scope (which team's systems an engineer may touch) is not a Django permission: it is
``visible_to()`` for reads and ``governance.services.access`` for writes.
"""

from governance.choices import Role

_CRUD = ("add", "change", "delete", "view")

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.OFFICER: {
        "aisystem": _CRUD,
        "aimodel": _CRUD,
        "systemmodel": _CRUD,
        "team": _CRUD,
        "teammembership": _CRUD,
        "apitoken": _CRUD,
        "user": ("add", "change", "view"),
        "changeevent": ("view",),
        "auditchainlink": ("view",),
        "auditanchor": ("view",),
        "framework": ("view",),
        "requirement": ("view",),
        "requirementmapping": _CRUD,
        "control": _CRUD,
        "controlimplementation": _CRUD,
        "evidence": _CRUD,
        "evidencepack": ("add", "view"),  # built in the background, never changed
        "packdownload": ("view",),
        "risk": _CRUD,
        "applicability": _CRUD,
        "soaversion": ("add", "view"),  # approving adds a version; versions never change
        "reviewpolicy": _CRUD,
        "review": ("add", "change", "view"),  # waived with a reason, never deleted
        "notification": ("change", "view"),  # the outbox: retry a failed delivery
        "notificationpreference": _CRUD,  # their own
        "webhookendpoint": _CRUD,
        "indicatorset": ("view",),  # shipped as data, loaded by load_catalogs
        "indicator": ("view",),
        "transparencyassessment": _CRUD,
        "assessmentanswer": _CRUD,
        "incidents.incident": ("add", "change", "view"),  # never deleted: rejected or closed instead
        "incidents.timelineentry": ("add", "view"),
        "incidents.correctiveaction": _CRUD,
        "incidents.referenceincident": ("view",),
        "incidents.evaluationrun": ("add", "view"),  # runs are evidence: never changed
        "incidents.evaluationsample": ("add", "view"),
        "incidents.hallucinationfinding": ("add", "change", "view"),
        "incidents.hallucinationlimit": _CRUD,
    },
    Role.ENGINEER: {
        "aisystem": _CRUD,
        "systemmodel": _CRUD,
        "aimodel": ("add", "view"),  # shared by all teams: officers curate changes
        "team": ("view",),
        "teammembership": ("view",),
        "apitoken": ("add", "change", "view"),
        "user": ("view",),  # to pick business and technical owners
        "framework": ("view",),
        "requirement": ("view",),
        "requirementmapping": ("view",),
        "control": ("view",),
        "controlimplementation": _CRUD,  # for their teams' systems only
        "evidence": _CRUD,  # their teams' evidence
        "evidencepack": ("add", "view"),  # their own packs, holding only what they may read
        "risk": _CRUD,  # their teams' systems' risks
        "applicability": ("view",),
        "soaversion": ("view",),
        "reviewpolicy": ("view",),
        "review": ("view",),  # their teams' systems' reviews
        "notification": ("view",),  # their own
        "notificationpreference": _CRUD,  # their own
        "webhookendpoint": _CRUD,  # their own
        "indicatorset": ("view",),
        "indicator": ("view",),
        "transparencyassessment": ("add", "change", "view"),  # drafts of their teams' systems
        "assessmentanswer": ("add", "change", "view"),
        "incidents.incident": ("add", "change", "view"),  # their teams' systems only
        "incidents.timelineentry": ("add", "view"),
        "incidents.correctiveaction": ("add", "change", "view"),
        "incidents.referenceincident": ("view",),
        "incidents.evaluationrun": ("add", "view"),  # their teams' systems only
        "incidents.evaluationsample": ("add", "view"),
        "incidents.hallucinationfinding": ("add", "change", "view"),
        "incidents.hallucinationlimit": ("view",),  # officers set the limits
    },
    Role.AUDITOR: {
        "aisystem": ("view",),
        "aimodel": ("view",),
        "systemmodel": ("view",),
        "team": ("view",),
        "teammembership": ("view",),
        "apitoken": ("view",),
        "user": ("view",),
        "changeevent": ("view",),
        "auditchainlink": ("view",),
        "auditanchor": ("view",),
        "framework": ("view",),
        "requirement": ("view",),
        "requirementmapping": ("view",),
        "control": ("view",),
        "controlimplementation": ("view",),
        "evidence": ("view",),
        "evidencepack": ("add", "view"),  # auditors build and download packs
        "packdownload": ("view",),
        "risk": ("view",),
        "applicability": ("view",),
        "soaversion": ("view",),
        "reviewpolicy": ("view",),
        "review": ("view",),
        "notification": ("view",),  # their own
        "notificationpreference": _CRUD,  # their own
        "indicatorset": ("view",),
        "indicator": ("view",),
        "transparencyassessment": ("view",),
        "assessmentanswer": ("view",),
        "incidents.incident": ("view",),
        "incidents.timelineentry": ("view",),
        "incidents.correctiveaction": ("view",),
        "incidents.referenceincident": ("view",),
        "incidents.evaluationrun": ("view",),
        "incidents.evaluationsample": ("view",),
        "incidents.hallucinationfinding": ("view",),
        "incidents.hallucinationlimit": ("view",),
    },
}


def sync_role_groups(apps, schema_editor=None) -> None:
    """Create the role groups and give each exactly its permissions (used by migrations)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    apply_role_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def permission_names(role: str) -> set[str]:
    """``{"<app>.<action>_<model>"}`` for a role; model keys without an app are governance's."""
    names = set()
    for key, actions in ROLE_PERMISSIONS.get(role, {}).items():
        app, _, model = key.rpartition(".")
        names.update(f"{app or 'governance'}.{action}_{model}" for action in actions)
    return names


def apply_role_permissions(Group, Permission) -> dict:
    """Give each role group exactly its permissions; returns the groups by role."""
    from django.db.models import Q

    groups = {}
    for role in ROLE_PERMISSIONS:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Q(pk__in=[])
        for name in permission_names(role):
            app, codename = name.split(".")
            wanted |= Q(content_type__app_label=app, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))
        groups[role] = group
    return groups
