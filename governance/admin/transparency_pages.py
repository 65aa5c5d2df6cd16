"""The transparency pages of the admin beside the assessment list: systems ranked by score (with
a score-range filter, and a link that brings in the retired systems left out by default), and one
system's score history as a server-side SVG chart with both parts of its current score."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse

from governance.admin.charts import line_chart_svg
from governance.choices import LifecycleStage
from governance.models import AISystem
from governance.services import transparency as services
from governance.services import transparency_systems

# The history page draws at most this many assessments, the latest ones: the API's bound on a history.
MAX_HISTORY_POINTS = 1000

SCORE_RANGES = {"0-25": (0, 25), "25-50": (25, 50), "50-75": (50, 75), "75-100": (75, 100)}


def score_text(score) -> str:
    return "—" if score is None else f"{Decimal(score):.2f} %"


def score_range(value: str | None) -> tuple[int, int] | None:
    """A range's bounds; each includes its low end, the last one 100 too."""
    return SCORE_RANGES.get(value or "")


def history_url(system: AISystem) -> str:
    return f"{reverse('admin:governance_transparencyassessment_history')}?system={system.slug}"


def stage_text(system: AISystem) -> str:
    """The lifecycle stage as officers read it, with the retirement date of a retired system."""
    label = LifecycleStage(system.lifecycle_stage).label if system.lifecycle_stage else "—"
    return f"{label} ({system.retired_on.isoformat()})" if system.retired_on else label


def ranking_query(score: str, include_retired: bool) -> str:
    """The ranking page's query string for this score range and retired choice."""
    params = {}
    if score:
        params["score"] = score
    if include_retired:
        params["retired"] = "1"
    return f"?{urlencode(params)}"


def ranking_context(user, params: Mapping[str, str]) -> dict:
    """The systems the user sees ranked by score, best first, within the chosen ``score`` range;
    retired systems only with ``retired=1``. The context carries the link that toggles them."""
    chosen = params.get("score") or ""
    bounds = score_range(chosen)
    include_retired = params.get("retired") == "1"
    systems = list(
        services.ranking(
            user=user,
            min_score=bounds[0] if bounds else None,
            max_score=bounds[1] if bounds else None,
            include_retired=include_retired,
        ).select_related("owning_team")
    )
    if bounds and bounds[1] < 100:
        systems = [s for s in systems if s.transparency_score < bounds[1]]
    rows = [
        {
            "rank": number,
            "system": system,
            "stage": stage_text(system),
            "retired": system.retired_on is not None or system.lifecycle_stage == LifecycleStage.RETIRED,
            "score": score_text(system.transparency_score),
            "deployment": score_text(system.transparency_deployment),
            "models": score_text(system.transparency_models),
            "basis": system.transparency_basis.replace("_", " "),
            "history_url": history_url(system),
        }
        for number, system in enumerate(systems, start=1)
    ]
    ranges = [(key, f"{low}–{high} %") for key, (low, high) in SCORE_RANGES.items()]
    return {
        "rows": rows,
        "ranges": ranges,
        "chosen": chosen,
        "include_retired": include_retired,
        "retired_toggle_url": ranking_query(chosen, not include_retired),
        "retired_toggle_label": "Hide retired systems" if include_retired else "Include retired systems",
    }


def history_note(system: AISystem, shown: int) -> str:
    """The line saying older assessments were left out, or "" when the page shows them all: counted
    (an indexed count of the system's final assessments) only when the page is full."""
    if shown < MAX_HISTORY_POINTS:
        return ""
    total = transparency_systems.history_rows(system=system).count()
    if total <= shown:
        return ""
    return f"Showing the latest {shown:,} of {total:,} assessments."


def history_context(user, params: Mapping[str, str]) -> dict:
    """The systems with assessments to choose from and, for the chosen one, its final assessments
    over time (chart and table) and its current score with both parts. Out of scope: not found."""
    systems = AISystem.objects.visible_to(user).filter(assessments__isnull=False).distinct()
    context: dict = {"systems": systems.order_by("name"), "system": None}
    slug = params.get("system")
    if slug:
        system = AISystem.objects.visible_to(user).filter(slug=slug).first()
        if system is None:
            raise Http404("No such AI system.")
        points = services.history(system=system, limit=MAX_HISTORY_POINTS)
        score = services.system_score(system)
        context.update(
            system=system,
            points=[{**p, "score_label": score_text(p["score"])} for p in points],
            points_note=history_note(system, len(points)),
            score=score,
            score_label=score_text(score["score"]),
            deployment_label=score_text((score["deployment"] or {}).get("score")),
            models_label=score_text(score["models"]["score"]),
            model_rows=[{**m, "score_label": score_text(m["score"])} for m in score["models"]["models"]],
            chart=line_chart_svg(
                [
                    {
                        "series": f"{p['indicator_set']['name']} {p['indicator_set']['version']}",
                        "label": p["assessed_on"].isoformat(),
                        "value": float(p["score"]) / 100,
                        "id": p["id"],
                    }
                    for p in points
                    if p["score"] is not None
                ],
                title=f"Transparency score of {system.name} over time",
                empty="No final assessment yet.",
                css_class="history-chart",
                top=1.0,
            ),
        )
    return context
