"""Demo transparency assessments: one final deployment-set assessment per deployed demo system, so
the ranking and the system scores have something to show after ``make run``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone

from governance.choices import IndicatorAnswer
from governance.models import AISystem, User
from governance.services import transparency
from governance.services.transparency_systems import current_deployment_set


def _demo_answer(system_slug: str, indicator_key: str) -> dict[str, str]:
    # A stable spread per system: about 6 in 10 satisfied, 3 not, 1 not applicable.
    draw = hashlib.sha256(f"{system_slug}:{indicator_key}".encode()).digest()[0] % 10
    if draw < 6:
        return {"answer": IndicatorAnswer.SATISFIED, "disclosure": "Documented on the team's wiki page."}
    if draw < 9:
        return {"answer": IndicatorAnswer.NOT_SATISFIED}
    return {"answer": IndicatorAnswer.NOT_APPLICABLE, "justification": "Does not arise for this system."}


def seed_transparency(*, officer: User, system_slugs: list[str]) -> int:
    """Assess each deployed demo system once on the current deployment set, dated a month ago;
    returns how many were written (none when the set is not loaded or all exist)."""
    indicator_set = current_deployment_set()
    if indicator_set is None:
        return 0
    keys = list(indicator_set.indicators.values_list("key", flat=True))
    systems = (
        AISystem.objects.filter(slug__in=system_slugs, lifecycle_stage="deployed")
        .exclude(assessments__indicator_set=indicator_set)
        .order_by("slug")
    )
    assessed_on = timezone.localdate() - timedelta(days=30)
    for system in systems:
        assessment = transparency.start_assessment(
            actor=officer, indicator_set=indicator_set, system=system, assessed_on=assessed_on
        )
        answers = {key: _demo_answer(system.slug, key) for key in keys}
        assessment = transparency.answer(actor=officer, assessment=assessment, answers=answers)
        transparency.finalize(actor=officer, assessment=assessment)
    return len(systems)
