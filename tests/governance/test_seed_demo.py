from django.core.management import call_command

from governance.models import AIModel, AISystem, ChangeEvent, SystemModel, Team, User


def _snapshot():
    return {
        "teams": Team.objects.count(),
        "systems": AISystem.objects.count(),
        "models": AIModel.objects.count(),
        "links": SystemModel.objects.count(),
        "users": User.objects.count(),
        "events": ChangeEvent.objects.count(),
        "updated": sorted(AISystem.objects.values_list("updated_at", flat=True)),
    }


def test_it_seeds_a_believable_organisation_once(db):
    call_command("seed_demo", verbosity=0)
    first = _snapshot()
    assert first["teams"] == 3
    assert 10 <= first["systems"] <= 14
    classes = set(AISystem.objects.values_list("eu_ai_act_class", flat=True))
    assert {"prohibited", "high_risk", "limited", "minimal", "unclassified"} <= classes
    assert len(set(AIModel.objects.values_list("provider", flat=True))) >= 5
    for system in AISystem.objects.all():
        system.full_clean()  # demo data obeys the same rules as user data

    call_command("seed_demo", verbosity=0)
    assert _snapshot() == first, "a second run must change nothing"
