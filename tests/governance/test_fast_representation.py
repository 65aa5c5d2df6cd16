"""``FastRepresentation`` renders every serializer that uses it exactly as DRF's own field-by-field
rendering would, for rows read through the list query (annotated) and for plain instances."""

from datetime import date

import pytest
from rest_framework import serializers

from governance.api.base import FastRepresentation
from governance.api.inventory import AISystemSerializer
from governance.models import AISystem
from tests.factories import AIModelFactory, AISystemFactory, SystemModelFactory, UserFactory


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _system_rows(team_a):
    owner = UserFactory(username="owner-1")
    system = AISystemFactory(
        owning_team=team_a,
        business_owner=owner,
        deployed_on=date(2026, 3, 1),
        tags=["chat", "support"],
        jurisdictions=["DE", "EU"],
    )
    SystemModelFactory(system=system, model=AIModelFactory(name="m-1"))
    bare = AISystemFactory(owning_team=team_a)
    listed = list(AISystem.objects.filter(pk__in=[system.pk, bare.pk]).with_related().order_by("pk"))
    return [system, bare, *listed]


CASES = {AISystemSerializer: _system_rows}


def test_it_checks_every_serializer_that_renders_fast():
    assert set(_all_subclasses(FastRepresentation)) <= set(CASES)


@pytest.mark.parametrize("serializer_class", list(CASES), ids=lambda cls: cls.__name__)
def test_it_renders_exactly_as_drf_would(serializer_class, team_a):
    for row in CASES[serializer_class](team_a):
        serializer = serializer_class()
        fast = serializer.to_representation(row)
        by_drf = serializers.ModelSerializer.to_representation(serializer, row)
        assert fast == dict(by_drf)
        assert list(fast) == list(by_drf)  # the declared order too
