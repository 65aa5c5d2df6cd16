"""Fixtures shared by the incident API tests."""

import pytest

from tests.factories import AISystemFactory, IncidentFactory


@pytest.fixture
def target(team_a):
    return AISystemFactory(slug="target", owning_team=team_a)


@pytest.fixture
def incident(target):
    return IncidentFactory(system=target, reference="INC-2000-1", title="Wrong refund policy")
