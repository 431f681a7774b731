"""The pieces of the reports' per-day figures that need no database: runs of days to scan,
sums added up, and the local midnights a zone's days start at."""

from __future__ import annotations

from datetime import date, timedelta

from models.services.reports import days


def test_missing_days_are_scanned_in_consecutive_runs_of_bounded_length() -> None:
    first = date(2024, 1, 1)
    year = [first + timedelta(days=i) for i in range(366)]
    runs = list(days._runs(year))
    assert [length for _, length in runs] == [92, 92, 92, 90]
    assert runs[1][0] == first + timedelta(days=92)
    gaps = [date(2024, 3, 9), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 1)]
    assert list(days._runs(gaps)) == [
        (date(2024, 3, 1), 1),
        (date(2024, 3, 5), 2),
        (date(2024, 3, 9), 1),
    ]
    assert list(days._runs([])) == []


def test_sums_add_up_key_by_key_and_element_by_element() -> None:
    a = {("d", "x"): (1, 2.5), ("d", "y"): (3, 0.0)}
    b = {("d", "x"): (4, 0.5)}
    assert days.merged([a, b, {}]) == {("d", "x"): (5, 3.0), ("d", "y"): (3, 0.0)}
    assert days.merged([{1: 2}, {1: 3, 2: 1}]) == {1: 5, 2: 1}
    assert days.plus(None, (1, 2)) == (1, 2)


def test_midnights_follow_the_zone_across_a_daylight_saving_change() -> None:
    edges = days.midnights("Europe/Berlin", date(2024, 3, 30), 2)
    assert [e.isoformat() for e in edges] == [
        "2024-03-30T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
    ]
    # The local day 31 March lasts 23 hours and overlaps two UTC days.
    assert len(days._utc_days("Europe/Berlin", date(2024, 3, 31))) == 2
    assert len(days._utc_days("UTC", date(2024, 3, 31))) == 1
