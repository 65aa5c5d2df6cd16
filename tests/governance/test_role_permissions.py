"""Each app declares its roles' permissions on its own models; together they are exactly these.

EXPECTED is the full set each role holds, written out once more on purpose: a change to any
app's declaration (or a declaration lost) fails here and must be made knowingly.
"""

import ast
from pathlib import Path

from django.apps import apps
from django.contrib.auth.models import Group

from governance import roles
from governance.choices import Role

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "officer": {
        "governance.aimodel": "add change delete view",
        "governance.aisystem": "add change delete view",
        "governance.apitoken": "add change delete view",
        "governance.applicability": "add change delete view",
        "governance.assessmentanswer": "add change delete view",
        "governance.auditanchor": "view",
        "governance.auditchainlink": "view",
        "governance.changeevent": "view",
        "governance.control": "add change delete view",
        "governance.controlimplementation": "add change delete view",
        "governance.evidence": "add change delete view",
        "governance.evidencepack": "add view",
        "governance.framework": "view",
        "governance.indicator": "view",
        "governance.indicatorset": "view",
        "governance.notification": "change view",
        "governance.notificationpreference": "add change delete view",
        "governance.packdownload": "view",
        "governance.requirement": "view",
        "governance.requirementmapping": "add change delete view",
        "governance.review": "add change view",
        "governance.reviewpolicy": "add change delete view",
        "governance.risk": "add change delete view",
        "governance.soaversion": "add view",
        "governance.systemmodel": "add change delete view",
        "governance.team": "add change delete view",
        "governance.teammembership": "add change delete view",
        "governance.transparencyassessment": "add change delete view",
        "governance.user": "add change view",
        "governance.webhookendpoint": "add change delete view",
        "incidents.correctiveaction": "add change delete view",
        "incidents.evaluationrun": "add view",
        "incidents.evaluationsample": "add view",
        "incidents.hallucinationfinding": "add change view",
        "incidents.hallucinationlimit": "add change delete view",
        "incidents.incident": "add change view",
        "incidents.referenceincident": "view",
        "incidents.timelineentry": "add view",
    },
    "engineer": {
        "governance.aimodel": "add view",
        "governance.aisystem": "add change delete view",
        "governance.apitoken": "add change view",
        "governance.applicability": "view",
        "governance.assessmentanswer": "add change view",
        "governance.control": "view",
        "governance.controlimplementation": "add change delete view",
        "governance.evidence": "add change delete view",
        "governance.evidencepack": "add view",
        "governance.framework": "view",
        "governance.indicator": "view",
        "governance.indicatorset": "view",
        "governance.notification": "view",
        "governance.notificationpreference": "add change delete view",
        "governance.requirement": "view",
        "governance.requirementmapping": "view",
        "governance.review": "view",
        "governance.reviewpolicy": "view",
        "governance.risk": "add change delete view",
        "governance.soaversion": "view",
        "governance.systemmodel": "add change delete view",
        "governance.team": "view",
        "governance.teammembership": "view",
        "governance.transparencyassessment": "add change view",
        "governance.user": "view",
        "governance.webhookendpoint": "add change delete view",
        "incidents.correctiveaction": "add change view",
        "incidents.evaluationrun": "add view",
        "incidents.evaluationsample": "add view",
        "incidents.hallucinationfinding": "add change view",
        "incidents.hallucinationlimit": "view",
        "incidents.incident": "add change view",
        "incidents.referenceincident": "view",
        "incidents.timelineentry": "add view",
    },
    "auditor": {
        "governance.aimodel": "view",
        "governance.aisystem": "view",
        "governance.apitoken": "view",
        "governance.applicability": "view",
        "governance.assessmentanswer": "view",
        "governance.auditanchor": "view",
        "governance.auditchainlink": "view",
        "governance.changeevent": "view",
        "governance.control": "view",
        "governance.controlimplementation": "view",
        "governance.evidence": "view",
        "governance.evidencepack": "add view",
        "governance.framework": "view",
        "governance.indicator": "view",
        "governance.indicatorset": "view",
        "governance.notification": "view",
        "governance.notificationpreference": "add change delete view",
        "governance.packdownload": "view",
        "governance.requirement": "view",
        "governance.requirementmapping": "view",
        "governance.review": "view",
        "governance.reviewpolicy": "view",
        "governance.risk": "view",
        "governance.soaversion": "view",
        "governance.systemmodel": "view",
        "governance.team": "view",
        "governance.teammembership": "view",
        "governance.transparencyassessment": "view",
        "governance.user": "view",
        "incidents.correctiveaction": "view",
        "incidents.evaluationrun": "view",
        "incidents.evaluationsample": "view",
        "incidents.hallucinationfinding": "view",
        "incidents.hallucinationlimit": "view",
        "incidents.incident": "view",
        "incidents.referenceincident": "view",
        "incidents.timelineentry": "view",
    },
}


def _expected_names(role: str) -> set[str]:
    return {
        f"{model.split('.')[0]}.{action}_{model.split('.')[1]}"
        for model, actions in EXPECTED[role].items()
        for action in actions.split()
    }


def test_it_gives_each_role_exactly_its_recorded_permissions():
    assert set(EXPECTED) == set(Role.values)
    for role in Role.values:
        assert roles.permission_names(role) == _expected_names(role), role


def test_it_gives_the_role_groups_in_the_database_the_same_permissions(db):
    for role in Role.values:
        rows = Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
        assert {f"{app}.{codename}" for app, codename in rows} == _expected_names(role), role


def test_it_has_each_app_declare_only_its_own_models():
    assert roles.declared_apps() == ["governance", "incidents"]
    for app_label in roles.declared_apps():
        own = {model._meta.model_name for model in apps.get_app_config(app_label).get_models()}
        for role in Role.values:
            declared = {
                name.split(".")[1].split("_", 1)[1]
                for name in roles.permission_names(role)
                if name.startswith(f"{app_label}.")
            }
            assert declared <= own, (app_label, role, declared - own)


def test_it_keeps_governance_from_importing_incidents():
    importers = []
    for path in sorted((ROOT / "governance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "incidents" or name.startswith("incidents.") for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []
    governance_models = {model._meta.model_name for model in apps.get_app_config("governance").get_models()}
    assert {model for table in roles.PERMISSIONS.values() for model in table} <= governance_models
