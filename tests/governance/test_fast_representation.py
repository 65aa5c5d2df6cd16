"""``FastRepresentation`` renders every serializer that uses it exactly as DRF's own field-by-field
rendering would, for rows read through the list query (annotated) and for plain instances."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from governance.api.base import FastRepresentation
from governance.api.inventory import AISystemSerializer
from governance.models import AISystem
from incidents.api.incidents.serializers import IncidentSerializer
from incidents.models import Incident
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    IncidentFactory,
    SystemModelFactory,
    UserFactory,
)


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


def _incident_rows(team_a):
    now = timezone.now()
    system = AISystemFactory(owning_team=team_a)
    model = AIModelFactory(name="m-2")
    SystemModelFactory(system=system, model=model)
    original = IncidentFactory(
        system=system,
        model=model,
        reporter=UserFactory(username="reporter-1"),
        harm_types=["financial_loss", "reputational"],
        harm_level="harm_occurred",
        affected_parties=["customers"],
        sector="banking",
    )
    serious = IncidentFactory(
        system=system,
        severity="SEV1",
        status="investigating",
        is_serious=True,
        serious_grounds=["death", "critical_infrastructure"],
        widespread_infringement=True,
        report_due_at=now + timedelta(days=2),
        report_due_rule="Art. 73(4)",
        initial_report_sent_at=now - timedelta(hours=1),
        authority_reference="MSA-7",
        responded_at=now - timedelta(hours=3),
    )
    overdue = IncidentFactory(
        system=system, is_serious=True, serious_grounds=["health"], report_due_at=now - timedelta(days=1)
    )
    duplicate = IncidentFactory(system=system, status="duplicate", duplicate_of=original)
    resolved = IncidentFactory(
        system=system, status="resolved", responded_at=now - timedelta(hours=1), resolved_at=now
    )
    pks = [original.pk, serious.pk, overdue.pk, duplicate.pk, resolved.pk]
    rows = Incident.objects.filter(pk__in=pks).with_clocks(now).order_by("pk")
    # The list's rows carry the names as annotations; the others read each relation.
    return [*rows.with_names(), *rows]


CASES = {AISystemSerializer: _system_rows, IncidentSerializer: _incident_rows}


def test_it_checks_every_serializer_that_renders_fast():
    assert set(_all_subclasses(FastRepresentation)) <= set(CASES)


@pytest.mark.parametrize("serializer_class", list(CASES), ids=lambda cls: cls.__name__)
def test_it_renders_exactly_as_drf_would(serializer_class, team_a):
    rows = CASES[serializer_class](team_a)
    assert rows
    for row in rows:
        serializer = serializer_class()
        fast = serializer.to_representation(row)
        by_drf = serializers.ModelSerializer.to_representation(serializer, row)
        assert fast == dict(by_drf)
        assert list(fast) == list(by_drf)  # the declared order too
