"""The picture of a run: settled checkouts per second and request latency over time.

One column per mode: above, checkouts settled in each second of the checkout phase;
below, the p50, p95 and p99 latency of the checkout requests answered in that second.
The warm-up (not measured) is shaded. Plain SVG, written by hand: no plotting library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

COLUMN = 460  # px per mode
PLOT_HEIGHT = 140
LEFT, RIGHT, TOP, GAP, BOTTOM = 56, 16, 52, 44, 40
RATE_COLOUR = "#2b6cb0"
LATENCY_COLOURS = {"p50": "#38a169", "p95": "#dd8a00", "p99": "#c53030"}


@dataclass(frozen=True)
class Plot:
    """A rectangle of the picture, and the scale that maps values into it."""

    left: float
    top: float
    width: float
    height: float
    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        return self.left + value / self.x_max * self.width

    def y(self, value: float) -> float:
        return self.top + self.height - value / self.y_max * self.height


def svg(results: dict[str, Any]) -> str:
    """The whole picture; a mode without a checkout phase gets a column that says so."""
    modes = results.get("modes") or {}
    warmup = float((results.get("options") or {}).get("warmupSeconds", 0.0))
    width = max(1, len(modes)) * COLUMN
    height = TOP + 2 * PLOT_HEIGHT + GAP + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" fill="#333">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for index, (mode, outcome) in enumerate(modes.items()):
        parts += _column(mode, outcome, index * COLUMN, warmup)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _column(mode: str, outcome: dict[str, Any], left: float, warmup: float) -> list[str]:
    checkout = outcome.get("checkout") or {}
    seconds: list[dict[str, float]] = checkout.get("perSecond") or []
    p99 = (checkout.get("requestLatencyMs") or {}).get("p99")
    title = f"{mode}: {checkout.get('settledPerSecond', 0):.1f} checkouts/s"
    title += f", p99 {p99:.0f} ms" if p99 is not None else ""
    parts = [_text(left + LEFT, 20, escape(title), 'font-size="13" font-weight="bold"')]
    if not seconds:
        return [*parts, _text(left + LEFT, TOP + 20, "no checkout phase measured")]
    x_max = float(len(seconds))
    width = COLUMN - LEFT - RIGHT
    rate = Plot(left + LEFT, TOP, width, PLOT_HEIGHT, x_max, _nice([s["settled"] for s in seconds]))
    latency_top = TOP + PLOT_HEIGHT + GAP
    peak = [s[name] for s in seconds for name in LATENCY_COLOURS]
    latency = Plot(left + LEFT, latency_top, width, PLOT_HEIGHT, x_max, _nice(peak))
    parts += _frame(rate, warmup, "settled checkouts/s")
    parts.append(_line(rate, [s["settled"] for s in seconds], RATE_COLOUR))
    parts += _frame(latency, warmup, "checkout request latency, ms")
    parts.append(
        _text(
            latency.left + latency.width,
            latency.top + latency.height + 30,
            "seconds into the phase (shaded: warm-up, not measured)",
            'text-anchor="end"',
        )
    )
    for name, colour in LATENCY_COLOURS.items():
        parts.append(_line(latency, [s[name] for s in seconds], colour))
    parts += _legend(latency, left)
    return parts


def _frame(plot: Plot, warmup: float, unit: str) -> list[str]:
    """The warm-up shade, the grid with its values, the axes and the seconds below."""
    parts = []
    if warmup > 0:
        parts.append(
            f'<rect x="{plot.x(0):.1f}" y="{plot.top}" width="{plot.x(warmup) - plot.x(0):.1f}" '
            f'height="{plot.height}" fill="#edf2f7"/>'
        )
    for value in _ticks(plot.y_max):
        y = plot.y(value)
        parts.append(_segment(plot.left, y, plot.left + plot.width, y, "#e2e8f0"))
        parts.append(_text(plot.left - 6, y + 4, f"{value:g}", 'text-anchor="end"'))
    for value in _ticks(plot.x_max):
        parts.append(
            _text(plot.x(value), plot.top + plot.height + 14, f"{value:g}", 'text-anchor="middle"')
        )
    bottom = plot.top + plot.height
    parts.append(_segment(plot.left, plot.top, plot.left, bottom, "#718096"))
    parts.append(_segment(plot.left, bottom, plot.left + plot.width, bottom, "#718096"))
    parts.append(_text(plot.left, plot.top - 6, unit))
    return parts


def _legend(plot: Plot, left: float) -> list[str]:
    parts = []
    x = left + COLUMN - RIGHT - 150
    for index, (name, colour) in enumerate(LATENCY_COLOURS.items()):
        at = x + index * 50
        parts.append(_segment(at, plot.top - 10, at + 14, plot.top - 10, colour, 2))
        parts.append(_text(at + 18, plot.top - 6, name))
    return parts


def _line(plot: Plot, values: Sequence[float], colour: str) -> str:
    """A polyline through the middle of each one-second bucket."""
    points = " ".join(f"{plot.x(i + 0.5):.1f},{plot.y(v):.1f}" for i, v in enumerate(values))
    return (
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8" '
        'stroke-linejoin="round"/>'
    )


def _segment(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="{width}"/>'
    )


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{text}</text>'


def _step(top: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts 0..top into 3 to 6 parts."""
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    return next(power * factor for factor in (1, 2, 5, 10) if power * factor >= raw)


def _nice(values: Sequence[float]) -> float:
    """The top of the axis: the largest value rounded up to a whole step."""
    top = max(values, default=0.0)
    if top <= 0:
        return 1.0
    step = _step(top)
    return math.ceil(top / step) * step


def _ticks(top: float) -> list[float]:
    step = _step(top)
    return [step * index for index in range(int(top / step + 1e-9) + 1)]
