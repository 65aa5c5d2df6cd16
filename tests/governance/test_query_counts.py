"""A list costs the same number of queries for 10 objects as for 50."""

import pytest

from tests.factories import AIModelFactory, AISystemFactory, SystemModelFactory, TeamFactory, UserFactory
from tests.queries import steady_state_queries


def _seed_systems(n, team):
    owner = UserFactory()
    for _ in range(n):
        system = AISystemFactory(owning_team=team, business_owner=owner, technical_owner=owner)
        SystemModelFactory(system=system)
        SystemModelFactory(system=system, model=AIModelFactory(), role="guard")


@pytest.mark.parametrize("persona", ["officer", "engineer"])
def test_it_lists_systems_in_constant_queries(api_as, personas, team_a, persona):
    client = api_as(personas[persona])
    _seed_systems(10, team_a)
    small, body = steady_state_queries(client, "/api/v1/ai-systems/?page_size=50")
    assert len(body["results"]) == 10
    _seed_systems(40, team_a)
    large, body = steady_state_queries(client, "/api/v1/ai-systems/?page_size=50")
    assert len(body["results"]) == 50
    assert small == large, f"{small} queries for 10 systems, {large} for 50"


def _seed_models_and_teams(n):
    AIModelFactory.create_batch(n)
    for _ in range(n):
        UserFactory(teams=[TeamFactory()])


def test_it_lists_models_and_teams_in_constant_queries(api_as, officer):
    client = api_as(officer)
    counts = []
    for batch in (10, 40):
        _seed_models_and_teams(batch)
        models_count, models = steady_state_queries(client, "/api/v1/ai-models/?page_size=50")
        teams_count, teams = steady_state_queries(client, "/api/v1/teams/?page_size=50")
        assert len(models["results"]) == len(teams["results"]) == (10 if batch == 10 else 50)
        counts.append((models_count, teams_count))
    assert counts[0] == counts[1], counts


def test_it_shows_a_system_detail_in_a_fixed_number_of_queries(api_as, officer, system_a):
    SystemModelFactory.create_batch(3, system=system_a)
    count, body = steady_state_queries(api_as(officer), "/api/v1/ai-systems/system-a/")
    assert len(body["models"]) == 3
    assert count <= 8, count
