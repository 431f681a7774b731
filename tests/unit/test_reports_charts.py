"""Inline SVG chart geometry."""

from __future__ import annotations

import math

import pytest

from web.charts import donut, line_chart, nice_ceiling, stacked_bars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 1),
        (1, 1),
        (3, 5),
        (7, 10),
        (11, 20),
        (23, 25),
        (26, 50),
        (99, 100),
        (101, 200),
        (0.3, 0.5),
    ],
)
def test_nice_ceiling(value: float, expected: float) -> None:
    assert nice_ceiling(value) == pytest.approx(expected)


def test_donut_slices_cover_the_ring_in_order() -> None:
    chart = donut([("a", "A", 3), ("b", "B", 0), ("c", "C", 1)], size=100, thickness=20)
    circumference = 2 * math.pi * chart.radius
    assert chart.radius == 40 and chart.total == 4
    assert [s.key for s in chart.slices] == ["a", "c"]  # zero values get no slice
    lengths = [float(s.dash.split()[0]) for s in chart.slices]
    assert sum(lengths) == pytest.approx(circumference, abs=1e-2)
    assert chart.slices[0].offset == 0
    assert chart.slices[1].offset == pytest.approx(-lengths[0], abs=1e-2)
    assert chart.slices[0].share == 0.75


def test_a_single_slice_is_a_full_ring_and_empty_data_no_slice() -> None:
    (only,) = donut([("a", "A", 5)]).slices
    length, rest = (float(x) for x in only.dash.split())
    assert rest == pytest.approx(0, abs=1e-3) and length > 0
    assert donut([("a", "A", 0)]).slices == []


def test_line_chart_maps_values_to_the_plot() -> None:
    chart = line_chart(
        [("p", "P", [0, 5, 10]), ("q", "Q", [10, 0, 0])], ["w1", "w2", "w3"], width=240, height=140
    )
    assert chart.y_max == 10
    top, bottom = chart.top, chart.plot_bottom
    p = chart.lines[0]
    assert p.dots[0] == (chart.left, bottom, 0)
    assert p.dots[2] == (chart.plot_right, top, 10)
    assert p.points.split()[1] == f"{(chart.left + chart.plot_right) / 2},{(top + bottom) / 2}"
    assert [t.label for t in chart.y_ticks] == ["0", "2.5", "5", "7.5", "10"]
    assert [t.label for t in chart.x_ticks] == ["w1", "w2", "w3"]
    assert p.total == 15


def test_line_chart_thins_out_x_labels_and_survives_no_data() -> None:
    labels = [f"{i:02d}" for i in range(53)]
    chart = line_chart([("p", "P", [0] * 53)], labels, max_x_ticks=8)
    assert len(chart.x_ticks) <= 9 and chart.y_max == 1
    single = line_chart([("p", "P", [4])], ["only"])
    assert single.lines[0].dots[0][0] == pytest.approx((single.left + single.plot_right) / 2)


def test_stacked_bars_split_by_score() -> None:
    chart = stacked_bars(
        [("speed", "Speed", (0, 1, 0, 1, 2)), ("none", "None", (0,) * 5)],
        width=400,
        label_width=100,
    )
    bar, empty = chart.bars
    assert [s.score for s in bar.segments] == [2, 4, 5]
    assert sum(s.width for s in bar.segments) == pytest.approx(chart.plot_width, abs=0.05)
    assert bar.segments[0].x == 100
    assert bar.segments[2].share == 0.5
    assert bar.average == pytest.approx((2 + 4 + 10) / 4)
    assert empty.segments == [] and empty.average is None
    assert empty.y > bar.y
