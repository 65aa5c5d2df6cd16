"""What each Verity role may do, as Django permissions on the role's group.

Each app owns its roles' permissions on its own models: it declares a table of them with
``declare()`` from its ``AppConfig.ready()`` (governance's table is below, incidents' is in
``incidents/roles.py``). Governance keeps the registry and never names another app's models, so the
dependency runs one way: other apps import governance, never the reverse.

Object scope (which team's systems an engineer may touch) is not a Django permission: it is
``visible_to()`` for reads and ``governance.services.access`` for writes.
"""

from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

from governance.choices import Role

Actions = tuple[str, ...]
RoleTable = dict[str, dict[str, Actions]]  # role -> model name (lower case) -> actions

CRUD: Actions = ("add", "change", "delete", "view")
ACTIONS = frozenset(CRUD)

# Tables declared by the apps, by app label; filled by the apps' ready() before any request or migrate.
_DECLARED: dict[str, RoleTable] = {}

# Governance's own models; other apps declare theirs the same way from their AppConfig.ready().
PERMISSIONS: RoleTable = {
    Role.OFFICER: {
        "aisystem": CRUD,
        "aimodel": CRUD,
        "systemmodel": CRUD,
        "team": CRUD,
        "teammembership": CRUD,
        "apitoken": CRUD,
        "user": ("add", "change", "view"),
        "changeevent": ("view",),
        "auditchainlink": ("view",),
        "auditanchor": ("view",),
        "framework": ("view",),
        "requirement": ("view",),
        "requirementmapping": CRUD,
        "control": CRUD,
        "controlimplementation": CRUD,
        "evidence": CRUD,
        "evidencepack": ("add", "view"),  # built in the background, never changed
        "packdownload": ("view",),
        "risk": CRUD,
        "applicability": CRUD,
        "soaversion": ("add", "view"),  # approving adds a version; versions never change
        "reviewpolicy": CRUD,
        "review": ("add", "change", "view"),  # waived with a reason, never deleted
        "notification": ("change", "view"),  # the outbox: retry a failed delivery
        "notificationpreference": CRUD,  # their own
        "webhookendpoint": CRUD,
        "indicatorset": ("view",),  # shipped as data, loaded by load_catalogs
        "indicator": ("view",),
        "transparencyassessment": CRUD,
        "assessmentanswer": CRUD,
    },
    Role.ENGINEER: {
        "aisystem": CRUD,
        "systemmodel": CRUD,
        "aimodel": ("add", "view"),  # shared by all teams: officers curate changes
        "team": ("view",),
        "teammembership": ("view",),
        "apitoken": ("add", "change", "view"),
        "user": ("view",),  # to pick business and technical owners
        "framework": ("view",),
        "requirement": ("view",),
        "requirementmapping": ("view",),
        "control": ("view",),
        "controlimplementation": CRUD,  # for their teams' systems only
        "evidence": CRUD,  # their teams' evidence
        "evidencepack": ("add", "view"),  # their own packs, holding only what they may read
        "risk": CRUD,  # their teams' systems' risks
        "applicability": ("view",),
        "soaversion": ("view",),
        "reviewpolicy": ("view",),
        "review": ("view",),  # their teams' systems' reviews
        "notification": ("view",),  # their own
        "notificationpreference": CRUD,  # their own
        "webhookendpoint": CRUD,  # their own
        "indicatorset": ("view",),
        "indicator": ("view",),
        "transparencyassessment": ("add", "change", "view"),  # drafts of their teams' systems
        "assessmentanswer": ("add", "change", "view"),
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
        "notificationpreference": CRUD,  # their own
        "indicatorset": ("view",),
        "indicator": ("view",),
        "transparencyassessment": ("view",),
        "assessmentanswer": ("view",),
    },
}


def declare(app_label: str, table: RoleTable) -> None:
    """Give the roles ``table``'s permissions on ``app_label``'s models.

    Called once from the app's ``AppConfig.ready()``; declaring again replaces the app's table.
    ``migrate`` then brings the role groups in line (``governance.apps``).
    """
    for role, models in table.items():
        if role not in Role.values:
            raise ImproperlyConfigured(f"{app_label} declares permissions for an unknown role {role!r}")
        for model, actions in models.items():
            if "." in model or not set(actions) <= ACTIONS:
                raise ImproperlyConfigured(f"{app_label} declares {model!r}: {actions!r}")
    _DECLARED[app_label] = table
    permissions_of.cache_clear()


def declared_apps() -> list[str]:
    """The app labels that declared permissions, in declaration order."""
    return list(_DECLARED)


def permission_names(role: str) -> set[str]:
    """``{"<app>.<action>_<model>"}`` for a role, over every app's declaration."""
    return {
        f"{app}.{action}_{model}"
        for app, table in _DECLARED.items()
        for model, actions in table.get(role, {}).items()
        for action in actions
    }


@lru_cache(maxsize=16)
def permissions_of(roles: frozenset[str]) -> frozenset[str]:
    """Every permission a holder of ``roles`` has (asked on each request, so cached)."""
    return frozenset(name for role in roles for name in permission_names(role))


def sync_role_groups(apps, schema_editor=None) -> None:
    """Create the role groups and give each exactly its permissions (used by migrations)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    apply_role_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def apply_role_permissions(Group, Permission) -> dict:
    """Give each role group exactly its permissions; returns the groups by role."""
    from django.db.models import Q

    groups = {}
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Q(pk__in=[])
        for name in permission_names(role):
            app, codename = name.split(".")
            wanted |= Q(content_type__app_label=app, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))
        groups[role] = group
    return groups
