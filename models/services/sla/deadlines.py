"""SLA deadlines: when a ticket's first response, acknowledgement and resolution fall due.

Pure arithmetic over a business calendar (standard library and :mod:`zoneinfo` only), so the
ticket service, the ``sla_tick`` worker and the board all compute the same instants from the
same inputs. Every instant going in or out is a timezone-aware datetime; what comes out is in
UTC. Working hours, holidays and 调休 make-up days are read in the calendar's own timezone.

Service rules expressed here (figures in :data:`DEFAULT_POLICY`, editable per policy):

* first response within 2 h (urgent), 24 h (normal) or 72 h (low), all on the wall clock as
  the customer reads them; an urgent request raises a reminder 30 min after registration;
* acknowledgement within 1 business hour of assignment;
* resolution by priority, replaced by a per-request-type target (complaints: 7 days), then
  scaled by the customer level (VIP and strategic customers: 50 %);
* the clock stops while a ticket awaits the customer's confirmation: deadlines move later by
  the paused time, measured in the same kind (wall or business) as the target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
# A calendar that has not opened for this long is misconfigured, not merely on holiday.
_MAX_IDLE_DAYS = 366 * 10

# The vocabularies a policy must cover (the values of models.enums.Urgency and .Priority;
# repeated here because this module may not import the models package).
URGENCIES: tuple[str, ...] = ("urgent", "normal", "low")
PRIORITIES: tuple[str, ...] = ("urgent", "high", "medium", "low")
URGENT = "urgent"

Interval = tuple[datetime, datetime]
PauseInterval = tuple[datetime, datetime | None]


def _as_utc(moment: datetime, name: str = "datetime") -> datetime:
    """The same instant in UTC; naive datetimes are refused because their instant is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def _local_to_utc(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The instant a local wall time occurs on ``day``.

    An ambiguous wall time (clocks going back) means its first occurrence; a wall time that
    does not exist (clocks jumping forward) means the first instant after the jump, so that
    the mapping never runs backwards and working intervals never overlap.
    """
    naive = datetime.combine(day, moment)
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    # In a gap fold=0 reads the wall time with the old offset (later instant) and fold=1 with
    # the new one (earlier instant); the transition lies between them. Find its second.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after_offset = instant.astimezone(zone).utcoffset()
    lo, hi = math.floor(before.timestamp()), math.ceil(instant.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _parse_time(text: str) -> time:
    return time.fromisoformat(text)


def _format_time(moment: time) -> str:
    """``09:00`` for whole minutes (what the admin form shows), seconds only when present."""
    whole_minute = not moment.second and not moment.microsecond
    return moment.isoformat("minutes" if whole_minute else "auto")


@dataclass(frozen=True)
class BusinessCalendar:
    """When the service desk works, in its own timezone.

    A day is a working day if it is a make-up working day (``workdays``, 调休 days that fall
    on a weekend), or if its weekday is in ``weekdays`` (0 = Monday) and it is not in
    ``holidays``. On a working day the desk is open from ``work_start`` to ``work_end`` except
    during ``breaks`` (e.g. lunch, ``((time(12), time(13, 30)),)``); :attr:`intervals` gives
    the resulting working intervals. ``wall_clock=True`` describes a 24/7 desk: every instant
    counts, so business time equals wall-clock time.
    """

    tz: str = "Asia/Shanghai"
    work_start: time = time(9)
    work_end: time = time(18)
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    breaks: tuple[tuple[time, time], ...] = ()
    wall_clock: bool = False

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # raises for an unknown zone name
        times = [self.work_start, self.work_end, *(t for pair in self.breaks for t in pair)]
        if any(t.tzinfo is not None for t in times):
            raise ValueError("working times are local wall times and must be naive")
        if not self.work_start < self.work_end:
            raise ValueError("work_start must be before work_end")
        edge = self.work_start
        for start, end in self.breaks:
            if not (edge <= start < end <= self.work_end):
                raise ValueError(
                    "breaks must lie within working hours, in order, without overlapping"
                )
            edge = end
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError("weekdays are 0 (Monday) … 6 (Sunday)")
        if not self.weekdays and not self.workdays:
            raise ValueError("a calendar needs at least one working weekday or workday")
        if both := self.holidays & self.workdays:
            raise ValueError(f"dates both holiday and workday: {sorted(both)}")
        if not self.intervals:
            raise ValueError("breaks leave no working time in the day")

    @classmethod
    def from_intervals(
        cls,
        intervals: Sequence[tuple[time, time]],
        **fields: Any,
    ) -> BusinessCalendar:
        """A calendar whose day is the given working intervals, e.g. 09:00–12:00, 13:30–18:00."""
        if not intervals:
            raise ValueError("at least one working interval is needed")
        breaks = tuple(
            (end, nxt_start)
            for (_, end), (nxt_start, _) in pairwise(intervals)
            if end != nxt_start  # touching intervals are one interval
        )
        return cls(work_start=intervals[0][0], work_end=intervals[-1][1], breaks=breaks, **fields)

    @classmethod
    def from_config(
        cls,
        *,
        timezone: str,
        work_intervals: Sequence[Sequence[str]],
        weekdays: Iterable[int],
        holidays: Iterable[str] = (),
        workdays: Iterable[str] = (),
        wall_clock: bool = False,
    ) -> BusinessCalendar:
        """Build from the stored shape: ``[["09:00", "12:00"], ["13:30", "18:00"]]``, ISO dates."""
        pairs: list[tuple[time, time]] = []
        for pair in work_intervals:
            if len(pair) != 2:
                raise ValueError(f"a working interval is [start, end], got {pair!r}")
            pairs.append((_parse_time(pair[0]), _parse_time(pair[1])))
        return cls.from_intervals(
            pairs,
            tz=timezone,
            weekdays=frozenset(weekdays),
            holidays=frozenset(date.fromisoformat(d) for d in holidays),
            workdays=frozenset(date.fromisoformat(d) for d in workdays),
            wall_clock=wall_clock,
        )

    def to_config(self) -> dict[str, Any]:
        """The stored shape read back by :meth:`from_config` (JSON-serialisable)."""
        return {
            "timezone": self.tz,
            "work_intervals": [[_format_time(s), _format_time(e)] for s, e in self.intervals],
            "weekdays": sorted(self.weekdays),
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
            "workdays": [d.isoformat() for d in sorted(self.workdays)],
            "wall_clock": self.wall_clock,
        }

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def intervals(self) -> tuple[tuple[time, time], ...]:
        """The local working intervals of a working day, in order (breaks cut out)."""
        edges = [self.work_start]
        for start, end in self.breaks:
            edges += [start, end]
        edges.append(self.work_end)
        pairs = zip(edges[::2], edges[1::2], strict=True)
        return tuple((s, e) for s, e in pairs if s < e)

    def is_working_day(self, day: date) -> bool:
        """Whether the desk opens on this local date (调休 workdays beat weekends)."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def is_open(self, moment: datetime) -> bool:
        """Whether business time is running at this instant (intervals are [start, end))."""
        moment = _as_utc(moment)
        if self.wall_clock:
            return True
        day = moment.astimezone(self.zone).date()
        return any(s <= moment < e for s, e in self._utc_intervals(day))

    def closing_time(self, day: date) -> datetime | None:
        """The instant the desk closes on this local date: the end of its last working
        interval (UTC). None on a day off, and for a wall-clock desk, which never closes."""
        if self.wall_clock:
            return None
        intervals = self._utc_intervals(day)
        return intervals[-1][1] if intervals else None

    def add(self, start: datetime, duration: timedelta, *, business: bool = True) -> datetime:
        """The earliest instant by which ``duration`` has elapsed since ``start``.

        In business time only working intervals count, so a start outside working hours
        begins at the next opening and a result never falls outside a working interval
        (it may be an interval's end). ``business=False`` (or a wall-clock calendar) counts
        every instant. A zero duration returns ``start`` itself.
        """
        start = _as_utc(start, "start")
        if duration < ZERO:
            raise ValueError("duration must not be negative")
        if not business or self.wall_clock:
            return start + duration
        if duration == ZERO:
            return start
        remaining = duration
        for opens, closes in self._intervals_from(start.astimezone(self.zone).date()):
            if closes <= start:
                continue
            opens = max(opens, start)
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def between(self, a: datetime, b: datetime, *, business: bool = True) -> timedelta:
        """Time elapsed from ``a`` to ``b`` (negative if ``b`` is earlier).

        In business time only the parts of working intervals between the two count, so
        ``between(s, add(s, d)) == d``.
        """
        a, b = _as_utc(a, "a"), _as_utc(b, "b")
        if b < a:
            return -self.between(b, a, business=business)
        if not business or self.wall_clock:
            return b - a
        total = ZERO
        day, last = a.astimezone(self.zone).date(), b.astimezone(self.zone).date()
        while day <= last:
            for opens, closes in self._utc_intervals(day):
                lo, hi = max(opens, a), min(closes, b)
                if hi > lo:
                    total += hi - lo
            day += _ONE_DAY
        return total

    def _utc_intervals(self, day: date) -> list[Interval]:
        """The working intervals of one local date as UTC instants (none on a day off)."""
        if not self.is_working_day(day):
            return []
        zone = self.zone
        pairs = (
            (_local_to_utc(day, s, zone), _local_to_utc(day, e, zone)) for s, e in self.intervals
        )
        return [(s, e) for s, e in pairs if s < e]

    def _intervals_from(self, day: date) -> Iterator[Interval]:
        """Working intervals from ``day`` on, forever; refuses a calendar that never opens."""
        idle = 0
        while True:
            found = self._utc_intervals(day)
            idle = 0 if found else idle + 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"calendar has no working time within {_MAX_IDLE_DAYS} days")
            yield from found
            day += _ONE_DAY


DEFAULT_CALENDAR = BusinessCalendar()
"""Asia/Shanghai, Monday–Friday 09:00–18:00, no holidays: a starting point for admins."""


@dataclass(frozen=True)
class Target:
    """A time allowance: ``minutes`` of wall-clock time, or of business time if ``business``."""

    minutes: int
    business: bool

    def __post_init__(self) -> None:
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int):
            raise TypeError("minutes must be an int")
        if self.minutes < 0:
            raise ValueError("minutes must not be negative")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def scaled(self, percent: int) -> Target:
        """This target at ``percent`` % of its length, rounded up to the whole minute."""
        return Target(-(-self.minutes * percent // 100), self.business)

    def to_config(self) -> dict[str, Any]:
        return {"minutes": self.minutes, "business": self.business}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Target:
        return cls(minutes=config["minutes"], business=bool(config["business"]))


DEFAULT_SILENCE = Target(72 * 60, business=True)
"""A ticket awaiting confirmation is completed after 72 business hours of silence."""

DEFAULT_CHAT_FIRST_RESPONSE_SECONDS = 30
"""Live chat (在线客服) answers within 30 seconds: the seed documents' standard."""


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class SlaPolicy:
    """The targets an admin edits in one form.

    * ``first_response``: by urgency (``urgent``, ``normal``, ``low``), from registration;
    * ``acknowledgement``: from assignment, whatever the ticket;
    * ``urgent_reminder``: from registration, for urgent requests only (``None``: no reminder);
    * ``resolution``: by priority (``urgent``, ``high``, ``medium``, ``low``), from registration;
    * ``resolution_by_type``: request type → target that *replaces* the priority target
      (a complaint needs its investigation whatever its priority);
    * ``level_percent``: customer level → percentage applied to first-response and resolution
      targets (50 = half as long, rounded up to the minute; a level not listed keeps 100 %).
      Acknowledgement and reminder are internal steps and are not scaled.
    * ``confirmation_silence``: how long a ticket awaits the customer's confirmation before
      the SLA tick completes it for them (from the moment it started waiting; not scaled).
    * ``chat_first_response_seconds``: live chat's first-response target, in seconds on the
      clock (the seed's standard for 在线客服 is 30 s): a chat unanswered this long is escalated,
      and the KPI dashboard measures chats against it.
    """

    first_response: Mapping[str, Target]
    acknowledgement: Target
    urgent_reminder: Target | None
    resolution: Mapping[str, Target]
    resolution_by_type: Mapping[str, Target] = field(default_factory=dict)
    level_percent: Mapping[str, int] = field(default_factory=dict)
    confirmation_silence: Target = field(default_factory=lambda: DEFAULT_SILENCE)
    chat_first_response_seconds: int = DEFAULT_CHAT_FIRST_RESPONSE_SECONDS

    def __post_init__(self) -> None:
        for name in ("first_response", "resolution", "resolution_by_type", "level_percent"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        chat = self.chat_first_response_seconds
        if isinstance(chat, bool) or not isinstance(chat, int) or chat <= 0:
            raise ValueError("chat_first_response_seconds must be a positive int")
        if set(self.first_response) != set(URGENCIES):
            raise ValueError(f"first_response needs exactly the urgencies {URGENCIES}")
        if set(self.resolution) != set(PRIORITIES):
            raise ValueError(f"resolution needs exactly the priorities {PRIORITIES}")
        for level, percent in self.level_percent.items():
            if isinstance(percent, bool) or not isinstance(percent, int) or percent <= 0:
                raise ValueError(f"level_percent[{level!r}] must be a positive int")

    def _percent(self, customer_level: str | None) -> int:
        return self.level_percent.get(customer_level, 100) if customer_level else 100

    def first_response_target(self, urgency: str, customer_level: str | None) -> Target:
        """The first-response allowance for this urgency and customer level."""
        if urgency not in self.first_response:
            raise ValueError(f"unknown urgency {urgency!r}")
        return self.first_response[urgency].scaled(self._percent(customer_level))

    def resolution_target(
        self, priority: str, request_type: str | None, customer_level: str | None
    ) -> Target:
        """The resolution allowance: type override, else priority; then the level's percent."""
        if priority not in self.resolution:
            raise ValueError(f"unknown priority {priority!r}")
        base = self.resolution_by_type.get(request_type or "", self.resolution[priority])
        return base.scaled(self._percent(customer_level))

    def reminder_target(self, urgency: str) -> Target | None:
        """The reminder allowance, for urgent requests only."""
        return self.urgent_reminder if urgency == URGENT else None

    def to_config(self) -> dict[str, Any]:
        """The JSON shape stored in ``SlaPolicy.config`` and edited in the admin form."""
        return {
            "first_response": {k: t.to_config() for k, t in self.first_response.items()},
            "acknowledgement": self.acknowledgement.to_config(),
            "urgent_reminder": self.urgent_reminder and self.urgent_reminder.to_config(),
            "resolution": {k: t.to_config() for k, t in self.resolution.items()},
            "resolution_by_type": {k: t.to_config() for k, t in self.resolution_by_type.items()},
            "level_percent": dict(self.level_percent),
            "confirmation_silence": self.confirmation_silence.to_config(),
            "chat_first_response_seconds": self.chat_first_response_seconds,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base: SlaPolicy | None = None) -> SlaPolicy:
        """Read :meth:`to_config`'s shape; a key missing from ``config`` keeps ``base``'s value
        (default :data:`DEFAULT_POLICY`), so an empty stored config means the defaults."""
        base = base or DEFAULT_POLICY
        unknown = set(config) - set(base.to_config())
        if unknown:
            raise ValueError(f"unknown SLA policy keys: {sorted(unknown)}")

        def table(key: str) -> Mapping[str, Target]:
            if key not in config:
                return getattr(base, key)
            return {k: Target.from_config(v) for k, v in config[key].items()}

        reminder = base.urgent_reminder
        if "urgent_reminder" in config:
            raw = config["urgent_reminder"]
            reminder = Target.from_config(raw) if raw else None
        return cls(
            first_response=table("first_response"),
            acknowledgement=(
                Target.from_config(config["acknowledgement"])
                if "acknowledgement" in config
                else base.acknowledgement
            ),
            urgent_reminder=reminder,
            resolution=table("resolution"),
            resolution_by_type=table("resolution_by_type"),
            level_percent=dict(config.get("level_percent", base.level_percent)),
            confirmation_silence=(
                Target.from_config(config["confirmation_silence"])
                if config.get("confirmation_silence")
                else base.confirmation_silence
            ),
            chat_first_response_seconds=config.get(
                "chat_first_response_seconds", base.chat_first_response_seconds
            ),
        )


_HOUR = 60
_DAY = 24 * _HOUR
# One business day of DEFAULT_CALENDAR is 9 hours (09:00–18:00).
_BUSINESS_DAY = 9 * _HOUR

DEFAULT_POLICY = SlaPolicy(
    first_response={
        "urgent": Target(2 * _HOUR, business=False),
        # The service process promises these in hours on the clock, as customers read them.
        "normal": Target(24 * _HOUR, business=False),
        "low": Target(72 * _HOUR, business=False),
    },
    acknowledgement=Target(1 * _HOUR, business=True),
    urgent_reminder=Target(30, business=False),
    resolution={
        "urgent": Target(1 * _DAY, business=False),
        "high": Target(2 * _DAY, business=False),
        "medium": Target(3 * _BUSINESS_DAY, business=True),
        "low": Target(5 * _BUSINESS_DAY, business=True),
    },
    resolution_by_type={"complaint": Target(7 * _DAY, business=False)},
    level_percent={"vip": 50, "strategic": 50},
)
"""The service-process rules as shipped. Business targets count business time of the
ticket's calendar; "3 business days" is written as 27 business hours (3 × 09:00–18:00)."""


@dataclass(frozen=True)
class PausedTime:
    """How long the clock has been stopped, in both kinds of time.

    The ticket service keeps these running totals when it does not keep pause intervals;
    each target shifts by the total of its own kind.
    """

    wall: timedelta = ZERO
    business: timedelta = ZERO

    def of(self, target: Target) -> timedelta:
        return self.business if target.business else self.wall

    def __add__(self, other: PausedTime) -> PausedTime:
        return PausedTime(self.wall + other.wall, self.business + other.business)


def _merge_pauses(pauses: Iterable[PauseInterval], until: datetime | None) -> list[Interval]:
    """Pause intervals in UTC, sorted and merged; an open pause (end ``None``) ends at ``until``."""
    closed: list[Interval] = []
    for start, end in pauses:
        start = _as_utc(start, "pause start")
        if end is None:
            if until is None:
                raise ValueError("an open pause needs `now` to know where it ends")
            end = max(until, start)  # a pause starting after `until` has not yet counted
        end = _as_utc(end, "pause end")
        if end < start:
            raise ValueError(f"pause ends before it starts: {start} > {end}")
        if end > start:
            closed.append((start, end))
    closed.sort()
    merged: list[Interval] = []
    for start, end in closed:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def pause_total(
    intervals: Iterable[PauseInterval], until: datetime, *, calendar: BusinessCalendar
) -> PausedTime:
    """Total stopped time up to ``until``, wall-clock and business (per ``calendar``).

    Overlapping intervals count once, an open interval (end ``None``) runs to ``until``, and
    time after ``until`` is not counted.
    """
    until = _as_utc(until, "until")
    wall = business = ZERO
    for start, end in _merge_pauses(intervals, until):
        end = min(end, until)
        if end <= start:
            continue
        wall += end - start
        business += calendar.between(start, end)
    return PausedTime(wall=wall, business=business)


def _due(
    calendar: BusinessCalendar,
    start: datetime,
    target: Target,
    pauses: Sequence[Interval] | PausedTime,
) -> datetime:
    """When ``target`` runs out, counting from ``start`` with the clock stopped during pauses.

    With intervals this is exact: a pause before ``start`` or after the target ran out moves
    nothing. With totals the deadline simply moves by the total of the target's kind.
    """
    business = target.business
    remaining = target.duration
    if isinstance(pauses, PausedTime):
        return calendar.add(start, remaining + pauses.of(target), business=business)
    cursor = start
    for paused_from, paused_to in pauses:
        if paused_to <= cursor:
            continue
        if paused_from > cursor:
            due = calendar.add(cursor, remaining, business=business)
            if due <= paused_from:
                return due
            remaining -= calendar.between(cursor, paused_from, business=business)
        cursor = paused_to
    return calendar.add(cursor, remaining, business=business)


@dataclass(frozen=True)
class Deadlines:
    """The instants a ticket's SLA steps fall due (UTC); ``None`` when a step does not apply."""

    first_response_due: datetime
    acknowledge_due: datetime | None
    resolution_due: datetime
    reminder_due: datetime | None


def compute_deadlines(
    *,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    registered_at: datetime,
    urgency: str,
    priority: str,
    request_type: str | None,
    customer_level: str | None,
    assigned_at: datetime | None = None,
    pauses: Sequence[PauseInterval] | PausedTime = (),
    now: datetime | None = None,
) -> Deadlines:
    """All of a ticket's deadlines from its current facts.

    Called on creation, assignment, type or priority change and every status change; being
    a pure function of its arguments, recomputing is always safe. ``pauses`` are the
    ``awaiting_confirmation`` spells, as ``(start, end)`` intervals (an open one, end
    ``None``, runs to ``now``) or as :class:`PausedTime` totals. The acknowledgement is due
    only once assigned, the reminder only for urgent requests. The first response is never
    due after the resolution, since resolving a request answers it.
    """
    registered = _as_utc(registered_at, "registered_at")
    if isinstance(pauses, PausedTime):
        stopped: Sequence[Interval] | PausedTime = pauses
    else:
        stopped = _merge_pauses(pauses, _as_utc(now, "now") if now is not None else None)

    resolution_due = _due(
        calendar,
        registered,
        policy.resolution_target(priority, request_type, customer_level),
        stopped,
    )
    first_response_due = _due(
        calendar, registered, policy.first_response_target(urgency, customer_level), stopped
    )
    acknowledge_due = None
    if assigned_at is not None:
        assigned = _as_utc(assigned_at, "assigned_at")
        acknowledge_due = _due(calendar, assigned, policy.acknowledgement, stopped)
    reminder = policy.reminder_target(urgency)
    reminder_due = None if reminder is None else _due(calendar, registered, reminder, stopped)
    return Deadlines(
        first_response_due=min(first_response_due, resolution_due),
        acknowledge_due=acknowledge_due,
        resolution_due=resolution_due,
        reminder_due=reminder_due,
    )


class SlaState(StrEnum):
    """What the board card shows about one deadline."""

    NONE = "none"  # no deadline applies
    OK = "ok"
    AT_RISK = "at_risk"  # little of the allowance is left
    BREACHED = "breached"  # past due (still open, or done late)
    MET = "met"  # done on time


@dataclass(frozen=True)
class SlaStatus:
    """A deadline's state and the time left (negative once late; for done steps, the margin)."""

    state: SlaState
    remaining: timedelta | None


def sla_state(
    due: datetime | None,
    now: datetime,
    *,
    done: bool,
    done_at: datetime | None = None,
    started_at: datetime | None = None,
    at_risk_fraction: float = 0.2,
    calendar: BusinessCalendar | None = None,
) -> SlaStatus:
    """Classify one deadline for display.

    A step that is ``done`` (at ``done_at``, else ``now``) is MET if that was no later than
    ``due``, else BREACHED. An open step is BREACHED once ``now`` is past ``due``; AT_RISK
    when at most ``at_risk_fraction`` of the allowance since ``started_at`` is left (never
    without ``started_at``); OK otherwise. ``remaining`` is wall-clock time, or business time
    of ``calendar`` when one is given (pass it for business-time targets).
    """
    if not 0 <= at_risk_fraction <= 1:
        raise ValueError("at_risk_fraction must be between 0 and 1")
    if due is None:
        return SlaStatus(SlaState.NONE, None)
    due, now = _as_utc(due, "due"), _as_utc(now, "now")

    def span(a: datetime, b: datetime) -> timedelta:
        return calendar.between(a, b) if calendar is not None else b - a

    if done:
        finished = _as_utc(done_at, "done_at") if done_at is not None else now
        state = SlaState.MET if finished <= due else SlaState.BREACHED
        return SlaStatus(state, span(finished, due))
    remaining = span(now, due)
    if now > due:
        return SlaStatus(SlaState.BREACHED, remaining)
    if started_at is not None:
        allowance = span(_as_utc(started_at, "started_at"), due)
        if allowance > ZERO and remaining <= allowance * at_risk_fraction:
            return SlaStatus(SlaState.AT_RISK, remaining)
    return SlaStatus(SlaState.OK, remaining)
