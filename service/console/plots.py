"""Scatter plots as inline SVG (no plotting library, no JavaScript): one point per result row."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

__all__ = ["Point", "scatter_svg"]

WIDTH, HEIGHT = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 34, 48
X_END, Y_END = WIDTH - RIGHT, HEIGHT - BOTTOM


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float


def _ticks(low: float, high: float, log: bool) -> list[float]:
    """Round tick values covering [low, high]: powers of ten on a log axis, 1/2/5 steps otherwise."""
    if log:
        return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    span = high - low or abs(high) or 1.0
    raw = span / 4
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:.3g}"


def scatter_svg(points: list[Point], x_title: str, y_title: str, title: str) -> str:
    """An SVG scatter plot of `points`; the x axis turns logarithmic when x spans over 50x.

    Returns:
        The `<svg>` element as a string (labels escaped).
    """
    xs, ys = [p.x for p in points], [p.y for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) > 50
    x_ticks = _ticks(min(xs), max(xs), log)
    y_ticks = _ticks(min(ys), max(ys), False)
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1

    def px(x: float) -> float:
        ratio = (
            (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            if log
            else (x - x0) / (x1 - x0)
        )
        return LEFT + ratio * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" class="plot-title">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{Y_END}" x2="{X_END}" y2="{Y_END}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
    ]
    for tick in x_ticks:
        x = px(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{Y_END + 16}" text-anchor="middle">{_label(tick)}</text>')
    for tick in y_ticks:
        y = py(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    x_axis = f"{x_title} (log scale)" if log else x_title
    parts.append(
        f'<text x="{(LEFT + X_END) / 2}" y="{HEIGHT - 10}" text-anchor="middle">{escape(x_axis)}</text>'
    )
    parts.append(
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_title)}</text>'
    )
    for point in points:
        x, y = px(point.x), py(point.y)
        tip = f"{point.label}: {x_title} {point.x:.4g}, {y_title} {point.y:.4g}"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="point"><title>{escape(tip)}</title></circle>'
        )
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" class="point-label">{escape(point.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
