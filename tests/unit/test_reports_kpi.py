"""KPI arithmetic and target parsing (pure)."""

from __future__ import annotations

import pytest

from models.services.common.errors import ValidationFailed
from models.services.reports.kpi import KPIS, Direction, State, meets, parse_targets, values_of
from models.services.reports.summary import Figures, Satisfaction, Throughput

DEFAULT_FORM = {
    "satisfied_share": "90",
    "first_response_hours": "24",
    "resolution_rate": "95",
    "repeat_rate": "5",
    "tickets_per_agent_hour": "10",
}


@pytest.mark.parametrize(
    ("value", "target", "direction", "state"),
    [
        (0.9, 0.9, Direction.AT_LEAST, State.OK),
        (0.89, 0.9, Direction.AT_LEAST, State.BAD),
        (0.05, 0.05, Direction.AT_MOST, State.OK),
        (0.051, 0.05, Direction.AT_MOST, State.BAD),
        (None, 0.9, Direction.AT_LEAST, State.NONE),
    ],
)
def test_meets(value: float | None, target: float, direction: Direction, state: State) -> None:
    assert meets(value, target, direction) is state


def test_defaults_are_the_service_process_targets() -> None:
    assert {k.key: k.default for k in KPIS} == {
        "satisfied_share": 0.90,
        "first_response_hours": 24.0,
        "resolution_rate": 0.95,
        "repeat_rate": 0.05,
        "tickets_per_agent_hour": 10.0,
    }


def test_parse_targets_reads_percent_as_percent() -> None:
    parsed = parse_targets({**DEFAULT_FORM, "satisfied_share": "92,5%", "repeat_rate": " 3 "})
    assert parsed["satisfied_share"] == pytest.approx(0.925)
    assert parsed["repeat_rate"] == pytest.approx(0.03)
    assert parsed["first_response_hours"] == 24.0


def test_parse_targets_reports_every_bad_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_targets(
            {
                **DEFAULT_FORM,
                "satisfied_share": "101",
                "resolution_rate": "x",
                "tickets_per_agent_hour": "0",
                "repeat_rate": "nan",
                "first_response_hours": "",
            }
        )
    assert set(caught.value.fields) == {
        "satisfied_share",
        "resolution_rate",
        "tickets_per_agent_hour",
        "repeat_rate",
        "first_response_hours",
    }


def test_satisfaction_sums_exactly() -> None:
    total = Satisfaction.of(5, 5, 5) + Satisfaction.of(4, 3, 5, n=2) + Satisfaction()
    assert total.answered == 3
    assert total.avg_solution == pytest.approx((5 + 3 + 3) / 3)
    assert total.satisfied == 1 and total.low == 2
    assert total.distribution[1] == (0, 0, 2, 0, 1)
    assert total.overall == pytest.approx((15 + 24) / 9)
    assert Satisfaction().satisfied_share is None


def test_values_of_a_period() -> None:
    figures = Figures(
        count=10,
        resolved=9,
        handling_seconds=9 * 3600,
        responded=8,
        response_seconds=8 * 1800,
        repeats=1,
        satisfaction=Satisfaction.of(5, 4, 4, n=9) + Satisfaction.of(3, 5, 5),
    )
    flow = Throughput(resolved=60, agents=2, business_hours=3)
    goals = {k.key: k.default for k in KPIS}
    values = values_of(figures, flow, goals)
    assert values["satisfied_share"].value == pytest.approx(0.9)
    assert values["satisfied_share"].state is State.OK
    assert values["first_response_hours"].value == pytest.approx(0.5)
    assert values["resolution_rate"].value == pytest.approx(0.9)
    assert values["resolution_rate"].state is State.BAD
    assert values["repeat_rate"].value == pytest.approx(0.1)
    assert values["repeat_rate"].state is State.BAD
    assert values["tickets_per_agent_hour"].value == pytest.approx(10)
    assert values["tickets_per_agent_hour"].state is State.OK
    assert Throughput(resolved=5, agents=0, business_hours=8).per_agent_hour is None
