"""Small server-side SVG charts for admin pages: plain markup, no script, nothing from elsewhere.

The pieces every chart shares live here (the frame with its grid, axes and labels, a colour per
series, the legend and the ``<svg>`` element); ``line_chart_svg`` draws values over time, one line
per series; ``bar_chart_svg`` draws counts or shares per category, stacked or side by side (evidence
pack reports). Other apps build their own marks on the same frame (incidents' hallucination trend).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 860, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 20, 56
PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bc4c00", "#57606a"]
MUTED = "#57606a"
MAX_X_LABELS = 10
MARKER = "#cf222e"


def percent(rate: float | None, digits: int = 1) -> str:
    """``0.1234`` → ``"12.3 %"``; ``None`` → ``"—"``."""
    return "—" if rate is None else f"{rate * 100:.{digits}f} %"


def series_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per series name, in the order they are first seen."""
    colours: dict[str, str] = {}
    for name in names:
        if name not in colours:
            colours[name] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def axis_top(values: Sequence[float]) -> tuple[float, float]:
    """The top of a 0–1 axis that holds ``values`` and the step between its grid lines."""
    highest = max([*values, 0.01])
    raw_step = highest * 1.1 / 5
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    top = min(math.ceil(highest * 1.1 / step) * step, 1.0)
    return top, step


def count_axis_top(values: Sequence[float]) -> tuple[float, float]:
    """The top of a count axis (from 0) that holds ``values`` and a whole-number step between lines."""
    highest = max([*values, 1])
    raw_step = highest * 1.1 / 5
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = max(1, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step))
    return math.ceil(highest * 1.1 / step) * step, step


@dataclass(frozen=True)
class Frame:
    """The plotting area: ``count`` evenly spaced places along x, a 0–``top`` scale along y."""

    count: int
    top: float
    step: float

    @property
    def inner_w(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def inner_h(self) -> float:
        return HEIGHT - TOP - BOTTOM

    def y(self, value: float) -> float:
        return round(TOP + self.inner_h * (1 - min(value, self.top) / self.top), 1)

    def x(self, index: int) -> float:
        if self.count <= 1:
            return LEFT + self.inner_w / 2
        return round(LEFT + 16 + (self.inner_w - 32) * index / (self.count - 1), 1)

    def grid(self, label: Callable[[float], str] | None = None) -> SafeString:
        """Horizontal grid lines with their labels, and the two axes."""
        label = label or (lambda t: percent(t, 0 if self.step >= 0.01 else 1))
        ticks = [i * self.step for i in range(int(round(self.top / self.step)) + 1)]
        lines = format_html_join(
            "",
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d0d7de" stroke-width="1"/>'
            '<text class="y-label" x="{}" y="{}" text-anchor="end" font-size="11" fill="#57606a">{}</text>',
            ((LEFT, WIDTH - RIGHT, self.y(t), self.y(t), LEFT - 6, self.y(t) + 4, label(t)) for t in ticks),
        )
        bottom = TOP + self.inner_h
        axes = format_html(
            '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
            '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>',
            LEFT,
            LEFT,
            TOP,
            bottom,
            MUTED,
            LEFT,
            WIDTH - RIGHT,
            bottom,
            bottom,
            MUTED,
        )
        return format_html("{}{}", lines, axes)

    def x_labels(self, labels: Sequence[str]) -> SafeString:
        """``labels[i]`` under place ``i``, thinned to at most ``MAX_X_LABELS`` (the last always shown)."""
        every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
        return format_html_join(
            "",
            '<text class="x-label" x="{}" y="{}" text-anchor="middle" font-size="11"'
            ' fill="#57606a">{}</text>',
            (
                (self.x(i), TOP + self.inner_h + 16, text)
                for i, text in enumerate(labels)
                if i % every == 0 or i == len(labels) - 1
            ),
        )

    def empty(self, message: str) -> SafeString:
        return format_html(
            '<text class="empty" x="{}" y="{}" text-anchor="middle" fill="#57606a">{}</text>',
            LEFT + self.inner_w / 2,
            TOP + self.inner_h / 2,
            message,
        )


def legend(colours: dict[str, str], attribute: str = "series") -> SafeString:
    """One swatch per series along the bottom; ``attribute`` names the data attribute."""
    return format_html_join(
        "",
        '<g class="legend-item" data-{}="{}"><circle cx="{}" cy="{}" r="5" fill="{}"/>'
        '<text x="{}" y="{}" font-size="12" fill="#1f2328">{}</text></g>',
        (
            (attribute, name, LEFT + 150 * i, HEIGHT - 14, colour, LEFT + 150 * i + 9, HEIGHT - 10, name)
            for i, (name, colour) in enumerate(colours.items())
        ),
    )


def flowing_legend(colours: dict[str, str], attribute: str = "series") -> SafeString:
    """``legend`` with each swatch placed after the previous label (long names do not overlap)."""
    items, x = [], LEFT
    for name, colour in colours.items():
        items.append((attribute, name, x, HEIGHT - 14, colour, x + 9, HEIGHT - 10, name))
        x += 9 + 7 * len(name) + 22
    return format_html_join(
        "",
        '<g class="legend-item" data-{}="{}"><circle cx="{}" cy="{}" r="5" fill="{}"/>'
        '<text x="{}" y="{}" font-size="12" fill="#1f2328">{}</text></g>',
        items,
    )


def svg(parts: Sequence[str], *, title: str, css_class: str) -> SafeString:
    """The ``<svg>`` element around already escaped ``parts``."""
    return format_html(
        '<svg class="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}"'
        ' height="{}" role="img" aria-label="{}">{}</svg>',
        css_class,
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        title,
        mark_safe("".join(parts)),
    )


def line_chart_svg(
    points: Sequence[dict],
    *,
    title: str,
    empty: str = "Nothing to show yet.",
    css_class: str = "line-chart",
    top: float | None = None,
) -> SafeString:
    """Values (0–1) over time: ``points`` are dicts with ``series``, ``label`` (the x label),
    ``value`` and optionally ``tip`` and ``id``, in order; one coloured line per series, a dot per
    point. ``top`` fixes the scale (e.g. 1.0 for percentages); otherwise it follows the values."""
    plotted = [p for p in points if p.get("value") is not None]
    if top is None:
        top, step = axis_top([p["value"] for p in plotted])
    else:
        step = axis_top([top])[1] if top < 1 else 0.25
    frame = Frame(count=len(plotted), top=top, step=step)
    colours = series_colours([p["series"] for p in plotted])
    parts: list[str] = [frame.grid(), frame.x_labels([p["label"] for p in plotted])]
    for name, colour in colours.items():
        coords = [(frame.x(i), frame.y(p["value"])) for i, p in enumerate(plotted) if p["series"] == name]
        if len(coords) > 1:
            parts.append(
                format_html(
                    '<polyline class="line" data-series="{}" fill="none" stroke="{}" stroke-width="2"'
                    ' points="{}"/>',
                    name,
                    colour,
                    " ".join(f"{x},{y}" for x, y in coords),
                )
            )
    parts.append(
        format_html_join(
            "",
            '<circle class="point" data-series="{}" data-id="{}" data-value="{}" cx="{}" cy="{}" r="4.5"'
            ' fill="{}"><title>{}</title></circle>',
            (
                (
                    p["series"],
                    p.get("id", ""),
                    p["value"],
                    frame.x(i),
                    frame.y(p["value"]),
                    colours[p["series"]],
                    p.get("tip") or f"{p['series']} · {p['label']} · {percent(p['value'])}",
                )
                for i, p in enumerate(plotted)
            ),
        )
    )
    parts.append(legend(colours))
    if not plotted:
        parts.append(frame.empty(empty))
    return svg(parts, title=title, css_class=css_class)


@dataclass(frozen=True)
class BandFrame(Frame):
    """A frame whose ``count`` places are the centres of equal bands, one bar (or stack) each."""

    @property
    def band(self) -> float:
        return self.inner_w / max(self.count, 1)

    def x(self, index: int) -> float:
        return round(LEFT + self.band * (index + 0.5), 1)


def _short(text: str, room: float) -> str:
    limit = max(4, int(room / 6.5))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart_svg(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    stacked: bool = True,
    percent_values: bool = False,
    markers: Sequence[float | None] | None = None,
    marker_label: str = "limit",
    empty: str = "Nothing to show.",
    css_class: str = "bar-chart",
) -> SafeString:
    """Bars per category: ``series`` are ``(name, values)`` with one value (or ``None``) per category,
    stacked or side by side. ``percent_values`` reads the values as 0–1 shares; otherwise they are
    counts. ``markers`` draws a tick per category at that value (e.g. a limit)."""
    values = [[v or 0 for v in vals] for _name, vals in series]
    if stacked:
        heights = [sum(col) for col in zip(*values, strict=True)] if values else []
    else:
        heights = [max(col) for col in zip(*values, strict=True)] if values else []
    marks = [m for m in (markers or []) if m is not None]
    if percent_values:
        top, step = axis_top([*heights, *marks])
        label = None
    else:
        top, step = count_axis_top([*heights, *marks])
        label = lambda t: f"{t:,.0f}"  # noqa: E731
    frame = BandFrame(count=len(categories), top=top, step=step)
    colours = series_colours([name for name, _vals in series])
    parts: list[str] = [frame.grid(label)]
    room = frame.band * 0.9
    parts.append(frame.x_labels([_short(c, room) for c in categories]))
    width = min(frame.band * 0.7, 72)
    shown = percent if percent_values else (lambda v: f"{v:,.0f}")
    rects = []
    for i, category in enumerate(categories):
        base = 0.0
        for k, (name, _vals) in enumerate(series):
            value = values[k][i]
            if not value:
                continue
            if stacked:
                x, w, low, high = frame.x(i) - width / 2, width, base, base + value
                base = high
            else:
                w = width / len(series)
                x, low, high = frame.x(i) - width / 2 + k * w, 0.0, value
            rects.append(
                (
                    name,
                    category,
                    value,
                    round(x, 1),
                    frame.y(high),
                    round(w, 1),
                    round(frame.y(low) - frame.y(high), 1),
                    colours[name],
                    f"{name} · {category} · {shown(value)}",
                )
            )
    parts.append(
        format_html_join(
            "",
            '<rect class="bar" data-series="{}" data-category="{}" data-value="{}" x="{}" y="{}" width="{}"'
            ' height="{}" fill="{}"><title>{}</title></rect>',
            rects,
        )
    )
    if len(categories) <= 24:
        parts.append(
            format_html_join(
                "",
                '<text class="bar-total" x="{}" y="{}" text-anchor="middle" font-size="11"'
                ' fill="#1f2328">{}</text>',
                ((frame.x(i), frame.y(h) - 4, shown(h)) for i, h in enumerate(heights) if h),
            )
        )
    if markers:
        parts.append(
            format_html_join(
                "",
                '<line class="marker" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2"'
                ' stroke-dasharray="4 2"><title>{}</title></line>',
                (
                    (
                        round(frame.x(i) - width / 2 - 4, 1),
                        round(frame.x(i) + width / 2 + 4, 1),
                        frame.y(m),
                        frame.y(m),
                        MARKER,
                        f"{marker_label} · {categories[i]} · {shown(m)}",
                    )
                    for i, m in enumerate(markers)
                    if m is not None
                ),
            )
        )
    drawn = {name for name, *_rest in rects}
    legend_colours = {n: c for n, c in colours.items() if n in drawn} if len(colours) > 1 else {}
    if marks:
        legend_colours[marker_label] = MARKER
    parts.append(flowing_legend(legend_colours))
    if not any(heights):
        parts.append(frame.empty(empty))
    return svg(parts, title=title, css_class=css_class)
