"""Chart geometry for server-rendered inline SVG (no JavaScript, prints as it looks).

Pure functions from numbers to view-models: the templates in ``templates/reports/partials``
only place the precomputed shapes. Colours come from CSS classes (``series-<key>``,
``score-<n>``), so charts follow the stylesheet and print in colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (an axis maximum); 1 for 0."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value - 1e-9:
            return float(candidate)
    return float(10 ** (exponent + 1))  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class DonutSlice:
    key: str
    label: str
    value: int
    share: float
    dash: str  # stroke-dasharray: "<length> <rest>"
    offset: float  # stroke-dashoffset


@dataclass(frozen=True)
class Donut:
    size: int
    radius: float
    thickness: float
    total: int
    slices: list[DonutSlice]

    @property
    def center(self) -> float:
        return self.size / 2


def donut(
    items: Sequence[tuple[str, str, int]], *, size: int = 180, thickness: float = 28
) -> Donut:
    """A ring split in proportion to the values; each slice is a dashed circle stroke.

    ``items`` are (css key, label, value); zero values get no slice. Slices start at 12
    o'clock (the template rotates the ring by −90°) and go clockwise.
    """
    radius = (size - thickness) / 2
    circumference = 2 * math.pi * radius
    total = sum(max(v, 0) for _, _, v in items)
    slices: list[DonutSlice] = []
    done = 0.0
    for key, label, value in items:
        if value <= 0 or total == 0:
            continue
        share = value / total
        length = circumference * share
        slices.append(
            DonutSlice(
                key=key,
                label=label,
                value=value,
                share=share,
                dash=f"{length:.3f} {circumference - length:.3f}",
                offset=round(-done, 3),
            )
        )
        done += length
    return Donut(size=size, radius=radius, thickness=thickness, total=total, slices=slices)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    points: str  # SVG polyline points "x,y x,y …"
    dots: list[tuple[float, float, int]]  # x, y, value (tooltips)
    total: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_max: float
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom

    @property
    def plot_right(self) -> int:
        return self.width - self.right


def line_chart(
    series: Sequence[tuple[str, str, Sequence[int]]],
    x_labels: Sequence[str],
    *,
    width: int = 640,
    height: int = 240,
    max_x_ticks: int = 8,
) -> LineChart:
    """Lines of counts over shared x positions (e.g. weeks), on a 0-based nice y axis.

    ``series`` are (css key, label, values), all as long as ``x_labels``.
    """
    left, right, top, bottom = 40, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(x_labels)
    peak = max((max(values, default=0) for _, _, values in series), default=0)
    y_max = nice_ceiling(peak)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    lines = []
    for key, label, values in series:
        dots = [(round(x_at(i), 2), round(y_at(v), 2), int(v)) for i, v in enumerate(values)]
        lines.append(
            Line(
                key=key,
                label=label,
                points=" ".join(f"{x},{y}" for x, y, _ in dots),
                dots=dots,
                total=int(sum(values)),
            )
        )
    step = max(1, math.ceil(n / max_x_ticks))
    x_ticks = [Tick(round(x_at(i), 2), x_labels[i]) for i in range(0, n, step)]
    y_ticks = [Tick(round(y_at(y_max * k / 4), 2), f"{y_max * k / 4:g}") for k in range(5)]
    return LineChart(width, height, left, right, top, bottom, y_max, lines, x_ticks, y_ticks)


@dataclass(frozen=True)
class Segment:
    score: int
    count: int
    share: float
    x: float
    width: float


@dataclass(frozen=True)
class StackedBar:
    key: str
    label: str
    y: float
    total: int
    average: float | None
    segments: list[Segment]


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[StackedBar]

    @property
    def plot_width(self) -> int:
        return self.width - self.label_width - 48


def stacked_bars(
    rows: Sequence[tuple[str, str, Sequence[int]]],
    *,
    width: int = 640,
    bar_height: int = 26,
    gap: int = 14,
    label_width: int = 110,
) -> StackedChart:
    """One 100 % bar per row, split by how many answered each score 1…5.

    ``rows`` are (css key, label, counts of scores 1–5). The average is annotated.
    """
    plot = width - label_width - 48
    bars = []
    for index, (key, label, counts) in enumerate(rows):
        total = sum(counts)
        x = float(label_width)
        segments = []
        for score, count in enumerate(counts, start=1):
            if count <= 0:
                continue
            w = plot * count / total
            segments.append(Segment(score, count, count / total, round(x, 2), round(w, 2)))
            x += w
        average = sum(s * c for s, c in enumerate(counts, start=1)) / total if total else None
        bars.append(
            StackedBar(
                key, label, float(gap + index * (bar_height + gap)), total, average, segments
            )
        )
    height = gap + len(rows) * (bar_height + gap)
    return StackedChart(width, height, label_width, bar_height, bars)
