"""Report periods: parsing, the previous period, URL parameters and the weekly buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from models.services.common.errors import ValidationFailed
from models.services.reports.summary import Period, parse_period, week_bounds

TZ = "Asia/Shanghai"
TODAY = date(2024, 5, 15)


def parse(**params: str) -> Period:
    return parse_period(params, today=TODAY, tz=TZ)


@pytest.mark.parametrize(
    ("params", "first", "last", "key"),
    [
        ({}, date(2024, 5, 1), date(2024, 5, 31), "2024-05"),
        ({"period": "month", "month": "2024-02"}, date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ({"period": "month", "month": "2023-2"}, date(2023, 2, 1), date(2023, 2, 28), "2023-02"),
        ({"period": "quarter"}, date(2024, 4, 1), date(2024, 6, 30), "2024-Q2"),
        (
            {"period": "quarter", "quarter": "2023-Q4"},
            date(2023, 10, 1),
            date(2023, 12, 31),
            "2023-Q4",
        ),
        (
            {"period": "quarter", "quarter": "2024q1"},
            date(2024, 1, 1),
            date(2024, 3, 31),
            "2024-Q1",
        ),
        ({"period": "year", "year": "2023"}, date(2023, 1, 1), date(2023, 12, 31), "2023"),
        (
            {"period": "custom", "from": "2024-03-10", "to": "2024-03-10"},
            date(2024, 3, 10),
            date(2024, 3, 10),
            "2024-03-10~2024-03-10",
        ),
    ],
)
def test_parse(params: dict[str, str], first: date, last: date, key: str) -> None:
    period = parse(**params)
    assert (period.first_day, period.last_day, period.key) == (first, last, key)


def test_bounds_are_local_midnights() -> None:
    period = parse(period="month", month="2024-03")
    assert period.start.astimezone(UTC) == datetime(2024, 2, 29, 16, tzinfo=UTC)
    assert period.end.astimezone(UTC) == datetime(2024, 3, 31, 16, tzinfo=UTC)
    assert period.days == 31


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "week"}, "period"),
        ({"period": "month", "month": "2024-13"}, "month"),
        ({"period": "month", "month": "March"}, "month"),
        ({"period": "quarter", "quarter": "2024-Q5"}, "quarter"),
        ({"period": "year", "year": "24"}, "year"),
        ({"period": "year", "year": "1999"}, "year"),
        ({"period": "custom", "to": "2024-03-01"}, "from"),
        ({"period": "custom", "from": "2024-03-01"}, "to"),
        ({"period": "custom", "from": "2024-02-30", "to": "2024-03-01"}, "from"),
        ({"period": "custom", "from": "2024-03-02", "to": "2024-03-01"}, "to"),
        ({"period": "custom", "from": "2020-01-01", "to": "2024-01-01"}, "to"),
    ],
)
def test_bad_input_names_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(**params)
    assert list(caught.value.fields) == [field]
    assert caught.value.status_code == 422


def test_prefix_reads_the_second_period() -> None:
    period = parse_period(
        {"period": "month", "b_period": "year", "b_year": "2022"}, today=TODAY, tz=TZ, prefix="b_"
    )
    assert period.key == "2022"


@pytest.mark.parametrize(
    ("period", "previous"),
    [
        (Period("month", date(2024, 3, 1), date(2024, 3, 31)), ("2024-02-01", "2024-02-29")),
        (Period("month", date(2024, 1, 1), date(2024, 1, 31)), ("2023-12-01", "2023-12-31")),
        (Period("quarter", date(2024, 1, 1), date(2024, 3, 31)), ("2023-10-01", "2023-12-31")),
        (Period("year", date(2024, 1, 1), date(2024, 12, 31)), ("2023-01-01", "2023-12-31")),
        (Period("custom", date(2024, 3, 11), date(2024, 3, 17)), ("2024-03-04", "2024-03-10")),
    ],
)
def test_previous_period(period: Period, previous: tuple[str, str]) -> None:
    before = period.previous()
    assert (before.first_day.isoformat(), before.last_day.isoformat()) == previous
    assert before.kind == period.kind
    assert before.end == period.start  # contiguous


@pytest.mark.parametrize(
    "period",
    [
        Period("month", date(2024, 3, 1), date(2024, 3, 31), TZ),
        Period("quarter", date(2024, 4, 1), date(2024, 6, 30), TZ),
        Period("year", date(2023, 1, 1), date(2023, 12, 31), TZ),
        Period("custom", date(2024, 3, 11), date(2024, 3, 17), TZ),
    ],
)
def test_params_round_trip(period: Period) -> None:
    assert parse_period(period.params("b_"), today=TODAY, tz=TZ, prefix="b_") == period


def test_week_bounds_start_on_mondays() -> None:
    march = Period("month", date(2024, 3, 1), date(2024, 3, 31), TZ)
    edges = week_bounds(march)
    assert [e.date() for e in edges[1:-1]] == [date(2024, 3, d) for d in (4, 11, 18, 25)]
    assert all(e.weekday() == 0 for e in edges[1:-1])
    assert edges[0] == march.start and edges[-1] == march.end


def test_week_bounds_stop_at_now_for_a_running_period() -> None:
    march = Period("month", date(2024, 3, 1), date(2024, 3, 31), TZ)
    now = march.start + timedelta(days=12, hours=5)  # Wednesday 13 March
    edges = week_bounds(march, now)
    assert [e.date() for e in edges[1:-1]] == [date(2024, 3, 4), date(2024, 3, 11)]
    assert edges[-1] == now
    future = week_bounds(march, march.start - timedelta(days=1))
    assert future == [march.start, march.end]


def test_a_week_starting_on_monday_is_one_bucket() -> None:
    week = Period("custom", date(2024, 3, 4), date(2024, 3, 10), TZ)
    assert week_bounds(week) == [week.start, week.end]
