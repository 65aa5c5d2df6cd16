"""The trend page's data and its chart: a small server-side SVG of hallucination rates over time.

Each run is a dot at its rate with a whisker from the interval's low to its high end, coloured by
model version and placed in the order the runs were made; each limit is a dashed horizontal line.
The markup is plain SVG (no script), so the page needs no JavaScript and nothing from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from governance.admin.charts import LEFT, RIGHT, WIDTH, Frame, axis_top, legend, percent, svg
from governance.admin.charts import series_colours as version_colours
from governance.models import AISystem
from incidents import choices
from incidents.models import EvaluationRun, HallucinationLimit
from incidents.services import evaluations

__all__ = [
    "MAX_CHART_POINTS",
    "LimitLine",
    "percent",
    "rate_with_interval",
    "trend_context",
    "trend_svg",
    "version_colours",
]

LIMIT_COLOUR = "#cf222e"
# The page draws at most this many runs, the latest ones: the API's bound on a trend response.
MAX_CHART_POINTS = 1000


@dataclass(frozen=True)
class LimitLine:
    rate: float
    label: str


def rate_with_interval(rate: float | None, low: float | None, high: float | None) -> str:
    """``"12.3 % (10.1–14.8 %)"``: the rate and its 95 % interval; without an interval, the rate alone."""
    if rate is None:
        return "—"
    if low is None or high is None:
        return percent(rate)
    return f"{percent(rate)} ({low * 100:.1f}–{high * 100:.1f} %)"


def trend_svg(points: Sequence[dict], limits: Sequence[LimitLine] = (), *, title: str = "") -> SafeString:
    """The chart for ``points`` (dicts with ``run``, ``created_at``, ``model_version``, ``rate``, ``low``,
    ``high`` and ``n``, oldest first) and the ``limits`` to draw across it."""
    plotted = [p for p in points if p.get("rate") is not None]
    values = [v for p in plotted for v in (p["rate"], p.get("high")) if v is not None]
    top, step = axis_top([*values, *(limit.rate for limit in limits)])
    frame = Frame(count=len(plotted), top=top, step=step)
    y, x = frame.y, frame.x

    colours = version_colours([p["model_version"] for p in plotted])
    parts: list[str] = [frame.grid(), frame.x_labels([p["created_at"].strftime("%Y-%m-%d") for p in plotted])]

    # Limits.
    parts.append(
        format_html_join(
            "",
            '<g class="limit" data-rate="{}"><line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"'
            ' stroke-width="2" stroke-dasharray="6 4"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="{}">{}</text></g>',
            (
                (
                    limit.rate,
                    LEFT,
                    WIDTH - RIGHT,
                    y(limit.rate),
                    y(limit.rate),
                    LIMIT_COLOUR,
                    WIDTH - RIGHT - 4,
                    y(limit.rate) - 5,
                    LIMIT_COLOUR,
                    limit.label,
                )
                for limit in limits
            ),
        )
    )

    # Runs: whisker, caps and dot (ringed in red when the run exceeded its limit).
    for i, p in enumerate(plotted):
        low = p["rate"] if p.get("low") is None else p["low"]
        high = p["rate"] if p.get("high") is None else p["high"]
        exceeded = bool(p.get("exceeded_limit"))
        tip = " · ".join(
            [
                p["model_version"],
                f"{p['created_at']:%Y-%m-%d %H:%M}",
                rate_with_interval(p["rate"], p.get("low"), p.get("high")),
                f"n = {p.get('n')}",
                *(["limit exceeded"] if exceeded else []),
            ]
        )
        parts.append(
            format_html(
                '<g class="point{extra}" data-run="{run}" data-version="{version}" data-rate="{rate}">'
                '<line class="whisker" x1="{x}" x2="{x}" y1="{low}" y2="{high}" stroke="{colour}"'
                ' stroke-width="1.5"/>'
                '<line class="cap" x1="{left}" x2="{right}" y1="{low}" y2="{low}" stroke="{colour}"'
                ' stroke-width="1.5"/>'
                '<line class="cap" x1="{left}" x2="{right}" y1="{high}" y2="{high}" stroke="{colour}"'
                ' stroke-width="1.5"/>'
                '<circle class="rate" cx="{x}" cy="{y}" r="4.5" fill="{colour}" stroke="{ring}"'
                ' stroke-width="2"><title>{tip}</title></circle></g>',
                extra=" exceeded" if exceeded else "",
                run=p["run"],
                version=p["model_version"],
                rate=p["rate"],
                x=x(i),
                left=x(i) - 4,
                right=x(i) + 4,
                low=y(low),
                high=y(high),
                y=y(p["rate"]),
                colour=colours[p["model_version"]],
                ring=LIMIT_COLOUR if exceeded else "none",
                tip=tip,
            )
        )

    # Legend: one swatch per model version.
    parts.append(legend(colours, attribute="version"))
    if not plotted:
        parts.append(frame.empty("No runs with a rate to show."))
    return svg(parts, title=title or "Hallucination rate over time", css_class="trend-chart")


# --- The trend page ---


def trend_context(user, params) -> dict:
    """What the trend page shows for the GET ``params`` (system slug, benchmark, model version and
    the two versions to compare); a system the user may not see is not found."""
    systems = (
        AISystem.objects.visible_to(user).filter(evaluation_runs__isnull=False).distinct().order_by("name")
    )
    context: dict = {"systems": systems, "system": None}
    slug = params.get("system")
    if not slug:
        return context
    system = AISystem.objects.visible_to(user).filter(slug=slug).first()
    if system is None:
        raise Http404("No such AI system.")
    benchmark = params.get("benchmark") or ""
    model_version = params.get("model_version") or ""
    runs = EvaluationRun.objects.filter(system=system)
    chosen = {"system": system, "model_version": model_version or None, "benchmark": benchmark or None}
    points = [_point(point) for point in evaluations.trend(**chosen, limit=MAX_CHART_POINTS)]
    limits = _limits(system, benchmark)
    context.update(
        system=system,
        benchmark=benchmark,
        model_version=model_version,
        benchmarks=sorted(set(runs.values_list("benchmark_name", flat=True))),
        versions=sorted(set(runs.values_list("model_version", flat=True))),
        points=points,
        points_note=_points_note(len(points), lambda: evaluations.trend_runs(**chosen).count()),
        limits=limits,
        chart=trend_svg(
            points,
            [LimitLine(limit.max_rate, _limit_label(limit)) for limit in limits],
            title=f"Hallucination rate of {system.name} over time",
        ),
        version_a=params.get("version_a") or "",
        version_b=params.get("version_b") or "",
        rate_bases=[
            (value, label)
            for value, label in choices.RateBasis.choices
            if value in set(runs.values_list("rate_basis", flat=True))
        ],
        rate_basis=params.get("rate_basis") if params.get("rate_basis") in choices.RateBasis.values else "",
    )
    context.update(
        _comparison(system, benchmark, context["version_a"], context["version_b"], context["rate_basis"])
    )
    return context


def _points_note(shown: int, count) -> str:
    """The line saying runs were left out, or "" when the page shows them all: counted (an indexed
    count of the system's runs) only when the page is full."""
    if shown < MAX_CHART_POINTS:
        return ""
    total = count()
    if total <= shown:
        return ""
    return f"Showing the latest {shown:,} of {total:,} runs."


def _point(point: dict) -> dict:
    run = point.get("run", point.get("id"))
    return {
        **point,
        "run": getattr(run, "pk", run),
        "label": rate_with_interval(point.get("rate"), point.get("low"), point.get("high")),
    }


def _limits(system, benchmark: str) -> list[HallucinationLimit]:
    limits = list(HallucinationLimit.objects.filter(system=system))
    if not benchmark:
        return limits
    own = [limit for limit in limits if limit.benchmark_name == benchmark]
    return own or [limit for limit in limits if not limit.benchmark_name]


def _limit_label(limit: HallucinationLimit) -> str:
    scope = limit.benchmark_name or "any benchmark"
    judged = (
        " (on the interval's lower bound)" if limit.judged_on == choices.LimitJudgedOn.LOWER_BOUND else ""
    )
    return f"limit {percent(limit.max_rate)}, {scope}{judged}"


def _comparison(system, benchmark: str, version_a: str, version_b: str, rate_basis: str) -> dict:
    if not (version_a and version_b):
        return {}
    if not benchmark:
        return {"compare_error": "Choose a benchmark: versions are compared on one benchmark."}
    if version_a == version_b:
        return {"compare_error": "Choose two different model versions."}
    try:
        result = evaluations.compare_versions(
            system=system,
            benchmark=benchmark,
            version_a=version_a,
            version_b=version_b,
            rate_basis=rate_basis or None,
        )
    except (ValidationError, ValueError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return {"compare_error": message}
    return {"comparison": _comparison_rows(result)}


def _comparison_rows(result: dict) -> dict:
    """The service's comparison with the labels the page shows."""
    sides = [
        {
            **result[key],
            "label": rate_with_interval(result[key]["rate"], result[key]["low"], result[key]["high"]),
        }
        for key in ("a", "b")
    ]
    difference, z, p_value = result.get("difference"), result.get("z"), result.get("p_value")
    return {
        "sides": sides,
        "difference_label": "—"
        if difference is None
        else f"{difference * 100:+.1f} points".replace("-", "−"),
        "z_label": "—" if z is None else f"{z:.2f}".replace("-", "−"),
        "p_label": "= —" if p_value is None else (f"= {p_value:.3f}" if p_value >= 0.001 else "< 0.001"),
        "significant": p_value is not None and p_value < 0.05,
        **result,
    }
