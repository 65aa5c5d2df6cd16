"""Fields shared by the incidents API modules: the AI system reference (written as an id or slug,
read as the slug), the benchmark's name, the choice fields documented as named enums, and the
lookup behind the lists' ``system`` filter."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from governance.api.fields import named_choice_field
from governance.models import AISystem
from governance.querysets import system_visible_to
from governance.services import inventory
from incidents import choices

_SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,80}")
MAX_ID = 2**63 - 1
"""The largest id a bigint primary key holds: a larger number names nothing."""


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "The AI system's id or slug; read as its slug.",
    }
)
class SystemReferenceField(serializers.Field):
    """An AI system written as its id (a number) or slug (text), read as its slug.

    A system that does not exist is a field message; one that exists but belongs to another team
    answers 404, as reading it would.
    """

    default_error_messages = {
        "invalid": "Give the AI system's id (a number) or its slug (text).",
        "unknown": "No AI system with this id or slug.",
    }

    def get_attribute(self, instance):
        return system_slug(instance)

    def to_representation(self, value):
        return value

    def row_getter(self):
        return system_slug

    def to_internal_value(self, data) -> AISystem:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            if not 0 < data <= MAX_ID:
                self.fail("unknown")
            system = inventory.system_brief(pk=data)
        elif isinstance(data, str) and _SLUG_PATTERN.fullmatch(data):
            system = inventory.system_brief(slug=data)
        else:
            self.fail("invalid")
        if system is None:
            self.fail("unknown")
        request = self.context.get("request")
        if request is not None and not system_visible_to(system, request.user):
            raise exceptions.NotFound("No AI system with this id or slug.")
        return system


def system_slug(instance) -> str:
    """The slug of a row's system: the list query's ``system_slug`` annotation, else the relation."""
    return instance.system_slug if hasattr(instance, "system_slug") else instance.system.slug


IncidentStatusField = named_choice_field("IncidentStatus", choices.IncidentStatus.choices)
SeriousGroundField = named_choice_field("SeriousIncidentGround", choices.SeriousIncidentGround.choices())
SlaStepStateField = named_choice_field("SlaStepState", choices.SlaStepState.choices)
ReportStateField = named_choice_field("ReportState", choices.ReportState.choices)


def benchmark_field(**kwargs) -> serializers.CharField:
    """The benchmark's name: ``benchmark`` in every body, response and filter of the API (and the
    trend's points), though the column is ``benchmark_name``."""
    return serializers.CharField(source="benchmark_name", max_length=200, **kwargs)


def system_ids(slug: str) -> list[int]:
    """The id of the AI system with this slug (none if there is none), for a list's ``system``
    filter: with a constant id PostgreSQL reads a system's rows from its index already in page
    order, instead of joining and sorting them all."""
    return list(AISystem.objects.filter(slug=slug).values_list("id", flat=True))
