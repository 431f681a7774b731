"""Business-time arithmetic and SLA deadlines, checked against hand-computed instants.

Expected values are written as local wall times of the calendar (Shanghai is UTC+8 all year;
Berlin is UTC+1, UTC+2 from 2026-03-29 02:00 to 2026-10-25 03:00) and compared as instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.services.sla.deadlines import (
    DEFAULT_CALENDAR,
    DEFAULT_POLICY,
    PRIORITIES,
    URGENCIES,
    BusinessCalendar,
    Deadlines,
    PausedTime,
    SlaPolicy,
    SlaState,
    SlaStatus,
    Target,
    compute_deadlines,
    pause_total,
    sla_state,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    """A Shanghai wall time as a UTC instant."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=SHANGHAI).astimezone(UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def days(first: date, last: date) -> set[date]:
    return {first + timedelta(n) for n in range((last - first).days + 1)}


# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
CN_2026_HOLIDAYS = frozenset(
    days(date(2026, 1, 1), date(2026, 1, 3))
    | days(date(2026, 2, 15), date(2026, 2, 23))
    | days(date(2026, 4, 4), date(2026, 4, 6))
    | days(date(2026, 5, 1), date(2026, 5, 5))
    | days(date(2026, 6, 19), date(2026, 6, 21))
    | days(date(2026, 9, 25), date(2026, 9, 27))
    | days(date(2026, 10, 1), date(2026, 10, 7))
)
CN_2026_WORKDAYS = frozenset(
    {
        date(2026, 1, 4),  # Sunday
        date(2026, 2, 14),  # Saturday
        date(2026, 2, 28),  # Saturday
        date(2026, 5, 9),  # Saturday
        date(2026, 9, 20),  # Sunday
        date(2026, 10, 10),  # Saturday
    }
)
CN = BusinessCalendar(holidays=CN_2026_HOLIDAYS, workdays=CN_2026_WORKDAYS)
LUNCH = BusinessCalendar.from_intervals([(time(9), time(12)), (time(13, 30), time(18))])
BERLIN_CAL = BusinessCalendar(tz="Europe/Berlin")
# A night desk open every day 00:00–06:00 Berlin time: DST changes the length of its day.
BERLIN_NIGHT = BusinessCalendar(
    tz="Europe/Berlin", work_start=time(0), work_end=time(6), weekdays=frozenset(range(7))
)


def policy(
    first: Target,
    resolution: Target,
    *,
    ack: Target = Target(60, business=True),
    reminder: Target | None = None,
) -> SlaPolicy:
    """A policy with one target for every urgency and one for every priority."""
    return SlaPolicy(
        first_response=dict.fromkeys(URGENCIES, first),
        acknowledgement=ack,
        urgent_reminder=reminder,
        resolution=dict.fromkeys(PRIORITIES, resolution),
    )


def deadlines(**overrides: object) -> Deadlines:
    """compute_deadlines for a plain normal/medium problem ticket, with overrides."""
    args: dict[str, object] = {
        "policy": DEFAULT_POLICY,
        "calendar": CN,
        "registered_at": sh(2026, 3, 2, 10),  # Monday
        "urgency": "normal",
        "priority": "medium",
        "request_type": "problem",
        "customer_level": "normal",
    }
    args.update(overrides)
    return compute_deadlines(**args)  # type: ignore[arg-type]


# --- the calendar: working days -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 2), True),  # Monday
        (date(2026, 3, 6), True),  # Friday
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 10, 1), False),  # National Day, Thursday
        (date(2026, 10, 7), False),  # National Day, Wednesday
        (date(2026, 10, 8), True),  # back to work, Thursday
        (date(2026, 10, 10), True),  # 调休 make-up Saturday
        (date(2026, 9, 20), True),  # 调休 make-up Sunday
        (date(2026, 2, 14), True),  # Spring Festival make-up Saturday
        (date(2026, 2, 23), False),  # Spring Festival, Monday
        (date(2026, 6, 19), False),  # Dragon Boat, Friday
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CN.is_working_day(day) is working


def test_is_open_is_half_open_and_local() -> None:
    assert CN.is_open(sh(2026, 3, 2, 9))
    assert CN.is_open(sh(2026, 3, 2, 17, 59, 59, 999999))
    assert not CN.is_open(sh(2026, 3, 2, 18))
    assert not CN.is_open(sh(2026, 3, 2, 8, 59, 59))
    # 09:30 Shanghai is 01:30 UTC: the calendar reads hours in its own zone.
    assert CN.is_open(utc(2026, 3, 2, 1, 30))
    assert not CN.is_open(utc(2026, 3, 2, 17, 30))  # 01:30 Shanghai, next day
    assert CN.is_open(utc(2026, 3, 2, 9, 30))  # 17:30 Shanghai
    assert not LUNCH.is_open(sh(2026, 3, 2, 12, 45))
    assert LUNCH.is_open(sh(2026, 3, 2, 13, 30))
    assert not CN.is_open(sh(2026, 10, 2, 10))  # holiday
    assert CN.is_open(sh(2026, 10, 10, 10))  # make-up Saturday
    assert BusinessCalendar(wall_clock=True).is_open(sh(2026, 3, 8, 3))


# --- the calendar: add ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 10), 2 * H, sh(2026, 3, 2, 12), id="same-day"),
        pytest.param(sh(2026, 3, 2, 16), 2 * H, sh(2026, 3, 2, 18), id="ends-at-closing"),
        pytest.param(sh(2026, 3, 2, 17, 30), 2 * H, sh(2026, 3, 3, 10, 30), id="17:30+2h"),
        pytest.param(sh(2026, 3, 2, 20), 30 * M, sh(2026, 3, 3, 9, 30), id="from-evening"),
        pytest.param(sh(2026, 3, 3, 7), 1 * H, sh(2026, 3, 3, 10), id="before-opening"),
        pytest.param(sh(2026, 3, 6, 17, 30), 2 * H, sh(2026, 3, 9, 10, 30), id="over-weekend"),
        pytest.param(sh(2026, 3, 8, 15), 2 * H, sh(2026, 3, 9, 11), id="from-sunday"),
        pytest.param(sh(2026, 3, 7, 3), 9 * H, sh(2026, 3, 9, 18), id="whole-day-from-sat"),
        pytest.param(sh(2026, 3, 2, 10), 27 * H, sh(2026, 3, 5, 10), id="3-business-days"),
        pytest.param(sh(2026, 3, 2, 10), 45 * H, sh(2026, 3, 9, 10), id="5-business-days"),
        # National Day: Wed 9/30 has 1 h left, Oct 1–7 are off, Thu 10/8 opens.
        pytest.param(sh(2026, 9, 30, 17), 2 * H, sh(2026, 10, 8, 10), id="national-day"),
        # Fri 10/9 then the 调休 Saturday 10/10 is a working day.
        pytest.param(sh(2026, 10, 9, 17), 2 * H, sh(2026, 10, 10, 10), id="make-up-saturday"),
        # Saturday 9/19 is off; Sunday 9/20 is a make-up working day.
        pytest.param(sh(2026, 9, 19, 12), 1 * H, sh(2026, 9, 20, 10), id="make-up-sunday"),
        # Fri 2/13 17:00: 1 h, then the make-up Saturday 2/14 gives the rest.
        pytest.param(sh(2026, 2, 13, 17), 3 * H, sh(2026, 2, 14, 11), id="spring-makeup"),
        # From the make-up Saturday 2/14 17:00 over the Spring Festival (2/15–2/23).
        pytest.param(sh(2026, 2, 14, 17), 2 * H, sh(2026, 2, 24, 10), id="spring-festival"),
        # Mid-Autumn Fri 9/25 – Sun 9/27: Thu 9/24 17:00 + 2 h lands on Mon 9/28.
        pytest.param(sh(2026, 9, 24, 17), 2 * H, sh(2026, 9, 28, 10), id="mid-autumn"),
        # New Year 1/1–1/3 off, Sunday 1/4 is a make-up working day.
        pytest.param(sh(2025, 12, 31, 17), 2 * H, sh(2026, 1, 4, 10), id="new-year-sunday"),
    ],
)
def test_add_business_time(start: datetime, duration: timedelta, expected: datetime) -> None:
    result = CN.add(start, duration)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 10), 1 * H, sh(2026, 3, 2, 11), id="morning"),
        pytest.param(sh(2026, 3, 2, 11), 1 * H, sh(2026, 3, 2, 12), id="ends-at-lunch"),
        pytest.param(sh(2026, 3, 2, 11), 2 * H, sh(2026, 3, 2, 14, 30), id="across-lunch"),
        pytest.param(sh(2026, 3, 2, 12, 15), 30 * M, sh(2026, 3, 2, 14), id="from-lunch"),
        # A lunch calendar's day is 7.5 h: 17:00 + 8 h = 1 h + 3 h + 4 h (to 17:30 next day).
        pytest.param(sh(2026, 3, 2, 17), 8 * H, sh(2026, 3, 3, 17, 30), id="day-is-7.5h"),
    ],
)
def test_add_with_lunch_break(start: datetime, duration: timedelta, expected: datetime) -> None:
    assert LUNCH.add(start, duration) == expected


def test_add_zero_is_identity_even_outside_hours() -> None:
    sunday = sh(2026, 3, 8, 15)
    assert CN.add(sunday, timedelta(0)) == sunday


def test_add_wall_clock_counts_every_instant() -> None:
    saturday = sh(2026, 3, 7, 12)
    assert CN.add(saturday, 2 * H, business=False) == sh(2026, 3, 7, 14)
    assert CN.add(sh(2026, 9, 30, 17), 2 * H, business=False) == sh(2026, 9, 30, 19)
    always = BusinessCalendar(wall_clock=True)
    assert always.add(saturday, 2 * H) == sh(2026, 3, 7, 14)
    assert always.between(saturday, sh(2026, 3, 9, 12)) == 48 * H


def test_add_accepts_any_aware_datetime_and_returns_utc() -> None:
    local = datetime(2026, 3, 2, 17, 30, tzinfo=SHANGHAI)
    result = CN.add(local, 2 * H)
    assert result == sh(2026, 3, 3, 10, 30)
    assert result.tzinfo is UTC
    assert result.hour == 2 and result.minute == 30  # 10:30 Shanghai in UTC


def test_add_refuses_naive_and_negative() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.add(datetime(2026, 3, 2, 10), H)
    with pytest.raises(ValueError, match="negative"):
        CN.add(sh(2026, 3, 2, 10), -H)


def test_add_refuses_a_calendar_that_never_opens() -> None:
    stale = BusinessCalendar(weekdays=frozenset(), workdays=frozenset({date(2001, 1, 1)}))
    with pytest.raises(ValueError, match="no working time"):
        stale.add(sh(2026, 3, 2, 10), H)


# --- the calendar: between ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 10), sh(2026, 3, 2, 12), 2 * H, id="same-day"),
        pytest.param(sh(2026, 3, 6, 17), sh(2026, 3, 9, 10), 2 * H, id="weekend"),
        pytest.param(sh(2026, 3, 2, 19), sh(2026, 3, 3, 8), timedelta(0), id="night"),
        pytest.param(sh(2026, 3, 7, 0), sh(2026, 3, 9, 0), timedelta(0), id="weekend-only"),
        pytest.param(sh(2026, 9, 30, 17), sh(2026, 10, 8, 10), 2 * H, id="national-day"),
        pytest.param(sh(2026, 10, 9, 9), sh(2026, 10, 12, 9), 18 * H, id="make-up-saturday"),
        pytest.param(sh(2026, 3, 2, 0), sh(2026, 3, 9, 0), 45 * H, id="full-week"),
        pytest.param(sh(2026, 3, 2, 12), sh(2026, 3, 2, 10), -2 * H, id="reversed"),
    ],
)
def test_between_business_time(a: datetime, b: datetime, expected: timedelta) -> None:
    assert CN.between(a, b) == expected


def test_between_with_lunch_and_wall_clock() -> None:
    assert LUNCH.between(sh(2026, 3, 2, 11), sh(2026, 3, 2, 14, 30)) == 2 * H
    assert LUNCH.between(sh(2026, 3, 2, 0), sh(2026, 3, 3, 0)) == 7.5 * H
    assert CN.between(sh(2026, 3, 6, 17), sh(2026, 3, 9, 10), business=False) == 65 * H


# --- DST: Europe/Berlin ---------------------------------------------------------------------


def test_berlin_spring_forward_over_a_weekend() -> None:
    # Fri 2026-03-27 17:00 CET (16:00Z) + 2 h → Mon 03-30 10:00 CEST, which is 08:00Z.
    start = utc(2026, 3, 27, 16)
    due = BERLIN_CAL.add(start, 2 * H)
    assert due == utc(2026, 3, 30, 8)
    assert due.astimezone(BERLIN).hour == 10
    assert BERLIN_CAL.between(start, due) == 2 * H
    assert due - start == 64 * H  # the weekend lost an hour: local clocks say 65 h


def test_berlin_fall_back_over_a_weekend() -> None:
    # Fri 2026-10-23 17:00 CEST (15:00Z) + 2 h → Mon 10-26 10:00 CET, which is 09:00Z.
    start = utc(2026, 10, 23, 15)
    due = BERLIN_CAL.add(start, 2 * H)
    assert due == utc(2026, 10, 26, 9)
    assert due - start == 66 * H  # the weekend gained an hour


def test_berlin_opening_hours_follow_local_time_across_dst() -> None:
    assert BERLIN_CAL.is_open(utc(2026, 3, 27, 8))  # 09:00 CET
    assert not BERLIN_CAL.is_open(utc(2026, 3, 30, 6, 30))  # 08:30 CEST
    assert BERLIN_CAL.is_open(utc(2026, 3, 30, 7))  # 09:00 CEST


def test_berlin_night_desk_day_length_changes_with_dst() -> None:
    # 00:00–06:00 local: 5 real hours on the spring-forward night, 7 on the fall-back night.
    assert BERLIN_NIGHT.between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == 5 * H
    assert BERLIN_NIGHT.between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == 7 * H
    assert BERLIN_NIGHT.between(utc(2026, 3, 27, 12), utc(2026, 3, 28, 12)) == 6 * H
    # 2026-03-29 00:00 CET is 03-28 23:00Z; 5 h later is 06:00 CEST = 04:00Z.
    assert BERLIN_NIGHT.add(utc(2026, 3, 28, 23), 5 * H) == utc(2026, 3, 29, 4)
    # 2026-10-25 00:00 CEST is 10-24 22:00Z; 7 h later is 06:00 CET = 05:00Z.
    assert BERLIN_NIGHT.add(utc(2026, 10, 24, 22), 7 * H) == utc(2026, 10, 25, 5)


def test_berlin_working_time_inside_the_spring_gap_starts_after_the_jump() -> None:
    # 02:30 does not exist on 2026-03-29; the desk opens when clocks show 03:00 CEST (01:00Z).
    cal = BusinessCalendar(
        tz="Europe/Berlin", work_start=time(2, 30), work_end=time(5), weekdays=frozenset(range(7))
    )
    assert cal.add(utc(2026, 3, 29, 0), 30 * M) == utc(2026, 3, 29, 1, 30)
    assert cal.between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == 2 * H  # 03:00–05:00
    assert cal.between(utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)) == 2.5 * H  # normal day
    # An interval ending inside the gap ends at the jump; the next one starts there.
    split = BusinessCalendar.from_intervals(
        [(time(0), time(2, 30)), (time(2, 45), time(6))],
        tz="Europe/Berlin",
        weekdays=frozenset(range(7)),
    )
    # 00:00 CET → 03:00 CEST is 2 h, 03:00 → 06:00 CEST is 3 h: 5 h, the real night.
    assert split.between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == 5 * H


def test_berlin_wall_clock_day_across_dst_is_24_real_hours() -> None:
    # Sat 03-28 12:00 CET + 24 h of wall-clock time = Sun 13:00 CEST.
    due = BERLIN_CAL.add(utc(2026, 3, 28, 11), 24 * H, business=False)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 13)


# --- calendar construction ------------------------------------------------------------------


def test_lunch_calendar_intervals_and_config_round_trip() -> None:
    assert LUNCH.breaks == ((time(12), time(13, 30)),)
    assert LUNCH.intervals == ((time(9), time(12)), (time(13, 30), time(18)))
    config = CN.to_config()
    assert config["work_intervals"] == [["09:00", "18:00"]]
    assert config["workdays"][0] == "2026-01-04"
    assert BusinessCalendar.from_config(**config) == CN
    lunch = BusinessCalendar.from_config(
        timezone="Asia/Shanghai",
        work_intervals=[["09:00", "12:00"], ["13:30", "18:00"]],
        weekdays=[0, 1, 2, 3, 4],
    )
    assert lunch == LUNCH


def test_defaults_are_shanghai_weekdays_nine_to_six() -> None:
    assert DEFAULT_CALENDAR.tz == "Asia/Shanghai"
    assert DEFAULT_CALENDAR.intervals == ((time(9), time(18)),)
    assert DEFAULT_CALENDAR.weekdays == frozenset({0, 1, 2, 3, 4})
    assert not DEFAULT_CALENDAR.wall_clock


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"work_start": time(18), "work_end": time(9)}, "before work_end"),
        ({"breaks": ((time(8), time(10)),)}, "within working hours"),
        ({"breaks": ((time(12), time(14)), (time(13), time(15)))}, "overlapping"),
        ({"weekdays": frozenset({7})}, "weekdays"),
        ({"weekdays": frozenset()}, "at least one"),
        (
            {
                "holidays": frozenset({date(2026, 10, 10)}),
                "workdays": frozenset({date(2026, 10, 10)}),
            },
            "both holiday and workday",
        ),
        ({"work_start": time(9, tzinfo=UTC)}, "naive"),
        ({"breaks": ((time(9), time(18)),)}, "no working time"),
    ],
)
def test_calendar_rejects_nonsense(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**fields)  # type: ignore[arg-type]


def test_calendar_rejects_unknown_zone_and_bad_intervals() -> None:
    with pytest.raises(KeyError):  # ZoneInfoNotFoundError is a KeyError
        BusinessCalendar(tz="Asia/Nowhere")
    with pytest.raises(ValueError):
        BusinessCalendar.from_intervals([(time(9), time(13)), (time(12), time(18))])
    with pytest.raises(ValueError, match="at least one"):
        BusinessCalendar.from_intervals([])
    with pytest.raises(ValueError, match=r"\[start, end\]"):
        BusinessCalendar.from_config(timezone="UTC", work_intervals=[["09:00"]], weekdays=[0])


# --- the policy -----------------------------------------------------------------------------


def test_default_policy_figures() -> None:
    p = DEFAULT_POLICY
    assert p.first_response["urgent"] == Target(120, business=False)
    # "Within 24 h" / "72 h" as the customer reads them: wall clock, not business hours.
    assert p.first_response["normal"] == Target(24 * 60, business=False)
    assert p.first_response["low"] == Target(72 * 60, business=False)
    assert p.acknowledgement == Target(60, business=True)
    assert p.urgent_reminder == Target(30, business=False)
    assert p.resolution["urgent"] == Target(24 * 60, business=False)
    assert p.resolution["high"] == Target(48 * 60, business=False)
    assert p.resolution["medium"] == Target(27 * 60, business=True)
    assert p.resolution["low"] == Target(45 * 60, business=True)
    assert p.resolution_by_type == {"complaint": Target(7 * 24 * 60, business=False)}
    assert p.level_percent == {"vip": 50, "strategic": 50}


def test_policy_vocabularies_match_the_models() -> None:
    from models.enums import CustomerLevel, Priority, RequestType, Urgency

    assert set(URGENCIES) == {u.value for u in Urgency}
    assert set(PRIORITIES) == {p.value for p in Priority}
    assert set(DEFAULT_POLICY.level_percent) <= {c.value for c in CustomerLevel}
    assert set(DEFAULT_POLICY.resolution_by_type) <= {r.value for r in RequestType}
    # The enums are StrEnums, so members work as keys.
    target = DEFAULT_POLICY.resolution_target(Priority.HIGH, RequestType.PROBLEM, CustomerLevel.VIP)
    assert target == Target(24 * 60, business=False)


def test_default_policy_is_immutable() -> None:
    with pytest.raises(TypeError):
        DEFAULT_POLICY.resolution["urgent"] = Target(1, business=False)  # type: ignore[index]


def test_policy_config_round_trip_and_partial_config() -> None:
    assert SlaPolicy.from_config(DEFAULT_POLICY.to_config()) == DEFAULT_POLICY
    assert SlaPolicy.from_config({}) == DEFAULT_POLICY
    edited = SlaPolicy.from_config({"level_percent": {"vip": 75}, "urgent_reminder": None})
    assert edited.level_percent == {"vip": 75}
    assert edited.urgent_reminder is None
    assert edited.resolution == DEFAULT_POLICY.resolution
    with pytest.raises(ValueError, match="unknown SLA policy keys"):
        SlaPolicy.from_config({"first_reponse": {}})


def test_policy_rejects_incomplete_tables_and_bad_percent() -> None:
    with pytest.raises(ValueError, match="urgencies"):
        SlaPolicy(
            first_response={"urgent": Target(1, business=False)},
            acknowledgement=Target(60, business=True),
            urgent_reminder=None,
            resolution=DEFAULT_POLICY.resolution,
        )
    with pytest.raises(ValueError, match="priorities"):
        SlaPolicy(
            first_response=DEFAULT_POLICY.first_response,
            acknowledgement=Target(60, business=True),
            urgent_reminder=None,
            resolution={**DEFAULT_POLICY.resolution, "critical": Target(1, business=False)},
        )
    with pytest.raises(ValueError, match="positive int"):
        SlaPolicy.from_config({"level_percent": {"vip": 0}})
    with pytest.raises(ValueError, match="negative"):
        Target(-1, business=True)
    with pytest.raises(TypeError):
        Target(1.5, business=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minutes", "percent", "expected"),
    [(120, 50, 60), (45, 50, 23), (1, 50, 1), (810, 100, 810), (60, 150, 90), (1, 1, 1)],
)
def test_target_scaling_rounds_up(minutes: int, percent: int, expected: int) -> None:
    assert Target(minutes, business=True).scaled(percent) == Target(expected, business=True)


def test_resolution_target_rules() -> None:
    p = DEFAULT_POLICY
    complaint = Target(7 * 24 * 60, business=False)
    # A type override replaces the priority target, whatever the priority.
    assert p.resolution_target("urgent", "complaint", "normal") == complaint
    assert p.resolution_target("low", "complaint", None) == complaint
    assert p.resolution_target("medium", "consultation", None) == p.resolution["medium"]
    assert p.resolution_target("medium", None, None) == p.resolution["medium"]
    # Then the level scales it.
    assert p.resolution_target("medium", "complaint", "vip") == Target(84 * 60, business=False)
    assert p.resolution_target("medium", None, "strategic") == Target(810, business=True)
    assert p.resolution_target("medium", None, "gold") == p.resolution["medium"]
    with pytest.raises(ValueError, match="unknown priority"):
        p.resolution_target("critical", None, None)
    with pytest.raises(ValueError, match="unknown urgency"):
        p.first_response_target("asap", None)
    assert p.reminder_target("urgent") == Target(30, business=False)
    assert p.reminder_target("normal") is None


# --- compute_deadlines ----------------------------------------------------------------------


def test_normal_medium_ticket_on_a_monday() -> None:
    d = deadlines()
    # 24 wall-clock hours from Mon 10:00 → Tue 10:00 (before the resolution, so kept).
    assert d.first_response_due == sh(2026, 3, 3, 10)
    # 27 business hours: Mon 8, Tue 9, Wed 9, Thu 1 → Thu 10:00.
    assert d.resolution_due == sh(2026, 3, 5, 10)
    assert d.acknowledge_due is None
    assert d.reminder_due is None


def test_urgent_ticket_on_saturday_night_counts_wall_clock() -> None:
    d = deadlines(registered_at=sh(2026, 3, 7, 23), urgency="urgent", priority="urgent")
    assert d.first_response_due == sh(2026, 3, 8, 1)
    assert d.reminder_due == sh(2026, 3, 7, 23, 30)
    assert d.resolution_due == sh(2026, 3, 8, 23)


def test_tickets_over_national_day() -> None:
    # Normal/medium from Wed 9/30 09:00. The first response counts wall-clock hours, so the
    # holiday does not stop it: 24 h → Thu 10/1 09:00. The resolution counts business hours:
    # 9/30 gives 9 h, Oct 1–7 are off, Thu 10/8 9 h, Fri 10/9 9 h → 27 h at 10/9 18:00.
    d = deadlines(registered_at=sh(2026, 9, 30, 9))
    assert d.first_response_due == sh(2026, 10, 1, 9)
    assert d.resolution_due == sh(2026, 10, 9, 18)
    # Low/low: 45 business hours → 9/30, 10/8, 10/9, Sat 10/10 (make-up), Mon 10/12 → 18:00.
    # The first response is 72 wall-clock hours → Sat 10/3 09:00, in the middle of the
    # holiday (72 business hours would have run to Thu 10/15 18:00).
    d = deadlines(registered_at=sh(2026, 9, 30, 9), urgency="low", priority="low")
    assert d.resolution_due == sh(2026, 10, 12, 18)
    assert CN.add(sh(2026, 9, 30, 9), 72 * H) == sh(2026, 10, 15, 18)
    assert d.first_response_due == sh(2026, 10, 3, 9)


def test_first_response_is_never_due_after_resolution() -> None:
    d = deadlines(urgency="low", priority="urgent")
    # 72 wall-clock hours would run to Thu 10:00; the urgent resolution is Tue 10:00.
    assert d.resolution_due == sh(2026, 3, 3, 10)
    assert d.first_response_due == sh(2026, 3, 3, 10)


def test_acknowledgement_counts_business_time_from_assignment() -> None:
    d = deadlines(assigned_at=sh(2026, 3, 6, 17, 30))  # Friday
    assert d.acknowledge_due == sh(2026, 3, 9, 9, 30)
    d = deadlines(assigned_at=sh(2026, 3, 2, 11))
    assert d.acknowledge_due == sh(2026, 3, 2, 12)


def test_complaint_override() -> None:
    d = deadlines(request_type="complaint")
    assert d.resolution_due == sh(2026, 3, 9, 10)  # 7 calendar days
    d = deadlines(request_type="complaint", priority="urgent")
    assert d.resolution_due == sh(2026, 3, 9, 10)


@pytest.mark.parametrize("level", ["vip", "strategic"])
def test_level_override_halves_customer_facing_targets(level: str) -> None:
    d = deadlines(customer_level=level, assigned_at=sh(2026, 3, 2, 11))
    # Half of 24 wall-clock hours from Mon 10:00 → Mon 22:00.
    assert d.first_response_due == sh(2026, 3, 2, 22)
    # 13.5 business hours: Mon 8 h, Tue 5.5 h → Tue 14:30.
    assert d.resolution_due == sh(2026, 3, 3, 14, 30)
    # Acknowledgement is an internal step: not scaled.
    assert d.acknowledge_due == sh(2026, 3, 2, 12)
    d = deadlines(customer_level=level, urgency="urgent", priority="urgent")
    assert d.first_response_due == sh(2026, 3, 2, 11)
    assert d.reminder_due == sh(2026, 3, 2, 10, 30)  # the reminder is not scaled either
    assert d.resolution_due == sh(2026, 3, 2, 22)
    d = deadlines(customer_level=level, request_type="complaint")
    assert d.resolution_due == sh(2026, 3, 5, 22)  # 3.5 days


@pytest.mark.parametrize("level", ["normal", None, "unknown-level"])
def test_levels_without_override_keep_full_targets(level: str | None) -> None:
    assert deadlines(customer_level=level) == deadlines()


def test_unknown_urgency_or_priority_is_an_error() -> None:
    with pytest.raises(ValueError, match="urgency"):
        deadlines(urgency="whenever")
    with pytest.raises(ValueError, match="priority"):
        deadlines(priority="p0")
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines(registered_at=datetime(2026, 3, 2, 10))


# --- pauses ---------------------------------------------------------------------------------

BUSINESS_2H = Target(120, business=True)
WALL_2H = Target(120, business=False)
FAR = Target(100_000, business=False)


def test_pause_during_hours_shifts_a_business_target() -> None:
    p = policy(BUSINESS_2H, FAR)
    d = deadlines(policy=p, pauses=[(sh(2026, 3, 2, 11), sh(2026, 3, 2, 15))])
    # 1 h before the pause, 1 h after resuming at 15:00.
    assert d.first_response_due == sh(2026, 3, 2, 16)


def test_overnight_pause_shifts_wall_but_not_business_targets() -> None:
    # Registered Mon 17:00, paused Mon 18:00 → Tue 09:00 (15 h wall, 0 business).
    pauses = [(sh(2026, 3, 2, 18), sh(2026, 3, 3, 9))]
    business = deadlines(
        policy=policy(BUSINESS_2H, FAR), registered_at=sh(2026, 3, 2, 17), pauses=pauses
    )
    assert business.first_response_due == sh(2026, 3, 3, 10)  # as without the pause
    wall = deadlines(policy=policy(WALL_2H, FAR), registered_at=sh(2026, 3, 2, 17), pauses=pauses)
    # 1 h before the pause, resumes Tue 09:00, 1 h left.
    assert wall.first_response_due == sh(2026, 3, 3, 10)
    unpaused = deadlines(policy=policy(WALL_2H, FAR), registered_at=sh(2026, 3, 2, 17))
    assert unpaused.first_response_due == sh(2026, 3, 2, 19)


def test_weekend_pause_shifts_wall_targets_only() -> None:
    weekend = [(sh(2026, 3, 7, 10), sh(2026, 3, 8, 10))]
    fri = sh(2026, 3, 6, 10)
    wall = deadlines(policy=policy(FAR, Target(48 * 60, False)), registered_at=fri, pauses=weekend)
    assert wall.resolution_due == sh(2026, 3, 9, 10)  # Sun 10:00 + 24 h paused
    business = deadlines(
        policy=policy(FAR, Target(9 * 60, True)), registered_at=fri, pauses=weekend
    )
    assert business.resolution_due == sh(2026, 3, 9, 10)  # Fri 8 h + Mon 1 h, pause irrelevant


def test_pause_before_start_or_after_due_moves_nothing() -> None:
    p = policy(BUSINESS_2H, FAR)
    before = [(sh(2026, 3, 2, 8), sh(2026, 3, 2, 9, 30))]
    assert deadlines(policy=p, pauses=before).first_response_due == sh(2026, 3, 2, 12)
    after = [(sh(2026, 3, 2, 13), sh(2026, 3, 2, 15))]  # due at 12:00, breached, then paused
    assert deadlines(policy=p, pauses=after).first_response_due == sh(2026, 3, 2, 12)
    at_due = [(sh(2026, 3, 2, 12), sh(2026, 3, 2, 15))]
    assert deadlines(policy=p, pauses=at_due).first_response_due == sh(2026, 3, 2, 12)
    # The acknowledgement counts from assignment: an earlier pause does not move it.
    d = deadlines(
        policy=p,
        assigned_at=sh(2026, 3, 3, 10),
        pauses=[(sh(2026, 3, 2, 14), sh(2026, 3, 2, 16))],
    )
    assert d.acknowledge_due == sh(2026, 3, 3, 11)


def test_open_pause_runs_to_now() -> None:
    p = policy(BUSINESS_2H, FAR)
    d = deadlines(policy=p, pauses=[(sh(2026, 3, 2, 11), None)], now=sh(2026, 3, 2, 15))
    assert d.first_response_due == sh(2026, 3, 2, 16)
    with pytest.raises(ValueError, match="open pause"):
        deadlines(policy=p, pauses=[(sh(2026, 3, 2, 11), None)])


def test_overlapping_pauses_count_once() -> None:
    p = policy(BUSINESS_2H, FAR)
    pauses = [(sh(2026, 3, 2, 12), sh(2026, 3, 2, 14)), (sh(2026, 3, 2, 11), sh(2026, 3, 2, 13))]
    # Paused 11:00–14:00 (3 h, not 4 h): 1 h before, 1 h after → 15:00.
    assert deadlines(policy=p, pauses=pauses).first_response_due == sh(2026, 3, 2, 15)


def test_two_separate_pauses() -> None:
    p = policy(Target(180, business=True), FAR)
    pauses = [(sh(2026, 3, 2, 11), sh(2026, 3, 2, 12)), (sh(2026, 3, 2, 13), sh(2026, 3, 2, 17))]
    # 10–11 (1 h), 12–13 (1 h), 17–18 (1 h) → due 18:00 Monday.
    assert deadlines(policy=p, pauses=pauses).first_response_due == sh(2026, 3, 2, 18)


def test_paused_totals_shift_each_target_by_its_own_kind() -> None:
    paused = PausedTime(wall=3 * H, business=1 * H)
    business = deadlines(policy=policy(BUSINESS_2H, FAR), pauses=paused)
    assert business.first_response_due == sh(2026, 3, 2, 13)
    wall = deadlines(policy=policy(WALL_2H, FAR), pauses=paused)
    assert wall.first_response_due == sh(2026, 3, 2, 15)
    assert deadlines(pauses=PausedTime()) == deadlines()


def test_pause_validation() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        deadlines(pauses=[(sh(2026, 3, 2, 12), sh(2026, 3, 2, 11))])


def test_pause_total() -> None:
    night = [(sh(2026, 3, 2, 17), sh(2026, 3, 3, 10))]
    assert pause_total(night, sh(2026, 3, 4), calendar=CN) == PausedTime(
        wall=17 * H, business=2 * H
    )
    # Open interval runs to `until`; time after `until` is not counted.
    assert pause_total([(sh(2026, 3, 2, 10), None)], sh(2026, 3, 2, 12), calendar=CN) == PausedTime(
        2 * H, 2 * H
    )
    assert pause_total(night, sh(2026, 3, 2, 19), calendar=CN) == PausedTime(2 * H, 1 * H)
    overlapping = [
        (sh(2026, 3, 2, 10), sh(2026, 3, 2, 12)),
        (sh(2026, 3, 2, 11), sh(2026, 3, 2, 13)),
    ]
    assert pause_total(overlapping, sh(2026, 3, 3), calendar=CN) == PausedTime(3 * H, 3 * H)
    assert pause_total([], sh(2026, 3, 3), calendar=CN) == PausedTime()
    assert pause_total([(sh(2026, 3, 3), None)], sh(2026, 3, 2), calendar=CN) == PausedTime()
    assert PausedTime(H, 2 * H) + PausedTime(3 * H, 4 * H) == PausedTime(4 * H, 6 * H)


# --- sla_state ------------------------------------------------------------------------------

START = utc(2026, 3, 2, 0)
DUE = utc(2026, 3, 2, 10)  # a 10 h allowance: at risk from 08:00 (2 h left)


@pytest.mark.parametrize(
    ("now", "state", "remaining"),
    [
        (utc(2026, 3, 2, 1), SlaState.OK, 9 * H),
        (utc(2026, 3, 2, 8) - US, SlaState.OK, 2 * H + US),
        (utc(2026, 3, 2, 8), SlaState.AT_RISK, 2 * H),
        (DUE, SlaState.AT_RISK, timedelta(0)),
        (DUE + US, SlaState.BREACHED, -US),
        (utc(2026, 3, 3, 10), SlaState.BREACHED, -24 * H),
    ],
)
def test_sla_state_open_boundaries(now: datetime, state: SlaState, remaining: timedelta) -> None:
    assert sla_state(DUE, now, done=False, started_at=START) == SlaStatus(state, remaining)


@pytest.mark.parametrize(
    ("done_at", "state", "remaining"),
    [
        (utc(2026, 3, 2, 9), SlaState.MET, H),
        (DUE, SlaState.MET, timedelta(0)),
        (DUE + US, SlaState.BREACHED, -US),
    ],
)
def test_sla_state_done(done_at: datetime, state: SlaState, remaining: timedelta) -> None:
    later = utc(2026, 3, 5)
    assert sla_state(DUE, later, done=True, done_at=done_at) == SlaStatus(state, remaining)
    # Without done_at, `now` is the completion time.
    assert sla_state(DUE, done_at, done=True) == SlaStatus(state, remaining)


def test_sla_state_without_deadline_or_start() -> None:
    assert sla_state(None, DUE, done=False) == SlaStatus(SlaState.NONE, None)
    assert sla_state(None, DUE, done=True) == SlaStatus(SlaState.NONE, None)
    # Without started_at the allowance is unknown: never at risk, still breached when late.
    assert sla_state(DUE, DUE - M, done=False).state is SlaState.OK
    assert sla_state(DUE, DUE + M, done=False).state is SlaState.BREACHED


def test_sla_state_fraction_is_configurable_and_checked() -> None:
    now = utc(2026, 3, 2, 6)  # 4 h of 10 h left
    assert sla_state(DUE, now, done=False, started_at=START).state is SlaState.OK
    status = sla_state(DUE, now, done=False, started_at=START, at_risk_fraction=0.4)
    assert status.state is SlaState.AT_RISK
    with pytest.raises(ValueError, match="at_risk_fraction"):
        sla_state(DUE, now, done=False, at_risk_fraction=1.5)


def test_sla_state_in_business_time() -> None:
    started, due = sh(2026, 3, 6, 17), sh(2026, 3, 9, 10)  # 2 business hours, 65 wall hours
    sunday_night = sh(2026, 3, 8, 22)
    # Wall clock: 12 h of 65 h left is under 20 %.
    assert sla_state(due, sunday_night, done=False, started_at=started) == SlaStatus(
        SlaState.AT_RISK, 12 * H
    )
    # Business time: 1 h of 2 h left.
    assert sla_state(due, sunday_night, done=False, started_at=started, calendar=CN) == SlaStatus(
        SlaState.OK, H
    )
    monday = sh(2026, 3, 9, 9, 36)  # 24 min of 120 left: exactly 20 %
    assert sla_state(due, monday, done=False, started_at=started, calendar=CN) == SlaStatus(
        SlaState.AT_RISK, 24 * M
    )


# --- properties -----------------------------------------------------------------------------

CALENDARS = st.sampled_from([CN, LUNCH, BERLIN_CAL, BERLIN_NIGHT])
INSTANTS = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=200))


@settings(max_examples=200, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS, DURATIONS)
def test_add_is_monotonic_in_duration(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    short, long = sorted((d1, d2))
    assert cal.add(start, short) <= cal.add(start, long)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS)
def test_between_inverts_add(cal: BusinessCalendar, start: datetime, d: timedelta) -> None:
    assert cal.between(start, cal.add(start, d)) == d


@settings(max_examples=200, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS.filter(lambda d: d > timedelta(0)))
def test_add_lands_inside_a_working_interval_or_at_its_end(
    cal: BusinessCalendar, start: datetime, d: timedelta
) -> None:
    due = cal.add(start, d)
    assert due > start
    assert cal.is_open(due - US)


@settings(max_examples=100, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS, DURATIONS)
def test_add_composes(cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    assert cal.add(cal.add(start, d1), d2) == cal.add(start, d1 + d2)


@settings(max_examples=100, deadline=None)
@given(CALENDARS, INSTANTS, INSTANTS, INSTANTS)
def test_between_is_additive_and_bounded(
    cal: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    assert cal.between(a, b) + cal.between(b, c) == cal.between(a, c)
    assert abs(cal.between(a, b)) <= abs(b - a)


@settings(max_examples=100, deadline=None)
@given(
    INSTANTS,
    st.lists(st.tuples(INSTANTS, st.timedeltas(timedelta(0), timedelta(days=3))), max_size=4),
    st.sampled_from(URGENCIES),
    st.sampled_from(PRIORITIES),
)
def test_pauses_never_make_a_deadline_earlier(
    registered: datetime,
    spells: list[tuple[datetime, timedelta]],
    urgency: str,
    priority: str,
) -> None:
    common = {
        "policy": DEFAULT_POLICY,
        "calendar": CN,
        "registered_at": registered,
        "urgency": urgency,
        "priority": priority,
        "request_type": None,
        "customer_level": None,
        "assigned_at": registered,
    }
    plain = compute_deadlines(**common)  # type: ignore[arg-type]
    paused = compute_deadlines(
        **common,  # type: ignore[arg-type]
        pauses=[(start, start + length) for start, length in spells],
    )
    assert paused.first_response_due >= plain.first_response_due
    assert paused.resolution_due >= plain.resolution_due
    assert paused.acknowledge_due is not None and plain.acknowledge_due is not None
    assert paused.acknowledge_due >= plain.acknowledge_due
    # Pauses that ended before registration change nothing.
    earlier = [(registered - 2 * length - H, registered - length - H) for _, length in spells]
    assert compute_deadlines(**common, pauses=earlier) == plain  # type: ignore[arg-type]
