"""Record 5: the periodic problem summary, computed from tickets and surveys (never typed in).

What the figures mean (the page and the exports say the same):

* **Cohort.** Every figure is about the tickets *registered* in the period (``created_at`` in
  ``[start, end)`` in the team's timezone), optionally of one department: their count, how
  many are resolved now, their handling times, and the surveys answered about them. So a
  period's figures describe one fixed set of tickets, and the exports of that period
  reproduce them. Throughput (tickets per agent-hour, :func:`throughput`) is the exception:
  it counts the tickets *resolved* in the period, because that is the work done in it.
* **Resolved** means completed or closed (``resolved_at`` is set; reopening clears it).
* **Handling time** is wall-clock time from registration to resolution, in hours; **first
  response time** from registration to the first response.
* **Satisfied** means all three scores ≥ 4; a **low** survey has any score ≤ 3.

Aggregation happens in SQL, one grouped query per figure family and run of days; each day's
sums are cached and computed again only when a write changed that day
(:mod:`models.services.reports.days`). Sums rather than averages come back, so totals over
days, types and agents are exact.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import RequestType
from models.services.common import ids
from models.services.common.errors import N_, ValidationFailed
from models.services.reports import days
from models.services.sla import policy
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User
from triage import topics

PERIOD_KINDS = ("month", "quarter", "year", "custom")
MAX_CUSTOM_DAYS = 3 * 366
MIN_YEAR, MAX_YEAR = 2000, 2100
DIMENSIONS = ("speed", "solution", "attitude")
TOP_TOPICS = 3

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


# --- periods ---------------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """A reporting period: whole local days ``first_day`` … ``last_day`` in the team's zone."""

    kind: str
    first_day: date
    last_day: date
    tz: str = "Asia/Shanghai"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), ZoneInfo(self.tz))

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), ZoneInfo(self.tz))

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def key(self) -> str:
        """2024-03, 2024-Q1, 2024, or 2024-03-01~2024-03-31."""
        if self.kind == "month":
            return f"{self.first_day:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.first_day.year}-Q{(self.first_day.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.first_day.year)
        return f"{self.first_day.isoformat()}~{self.last_day.isoformat()}"

    def previous(self) -> Period:
        """The period just before: the previous month/quarter/year, or as many days before."""
        if self.kind == "month":
            first = _add_months(self.first_day, -1)
            return Period("month", first, self.first_day - timedelta(days=1), self.tz)
        if self.kind == "quarter":
            first = _add_months(self.first_day, -3)
            return Period("quarter", first, self.first_day - timedelta(days=1), self.tz)
        if self.kind == "year":
            first = self.first_day.replace(year=self.first_day.year - 1)
            return Period("year", first, self.first_day - timedelta(days=1), self.tz)
        last = self.first_day - timedelta(days=1)
        return Period("custom", last - timedelta(days=self.days - 1), last, self.tz)

    def params(self, prefix: str = "") -> dict[str, str]:
        """The URL parameters that select this period (links, exports, "compare with")."""
        out = {f"{prefix}period": self.kind}
        if self.kind == "month":
            out[f"{prefix}month"] = self.key
        elif self.kind == "quarter":
            out[f"{prefix}quarter"] = self.key
        elif self.kind == "year":
            out[f"{prefix}year"] = self.key
        else:
            out[f"{prefix}from"] = self.first_day.isoformat()
            out[f"{prefix}to"] = self.last_day.isoformat()
        return out


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        N_("Please correct the highlighted fields."), fields={field_name: message}
    )


def _year_ok(year: int, field_name: str) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _invalid(field_name, N_("Choose a year between 2000 and 2100."))
    return year


def _parse_day(text: str, field_name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise _invalid(field_name, N_("Enter a date as YYYY-MM-DD.")) from None
    _year_ok(day.year, field_name)
    return day


def parse_period(
    params: Mapping[str, str],
    *,
    today: date,
    tz: str,
    prefix: str = "",
    default_kind: str = "month",
) -> Period:
    """A period from URL parameters; an empty value means the one containing ``today``.

    ``period`` = month (``month=2024-03``) | quarter (``quarter=2024-Q1``) | year
    (``year=2024``) | custom (``from=2024-03-01&to=2024-03-31``, both days included).
    Anything malformed is a localized 422 naming the field.
    """

    def value(name: str) -> str:
        return (params.get(prefix + name) or "").strip()

    kind = value("period") or default_kind
    if kind not in PERIOD_KINDS:
        raise _invalid(prefix + "period", N_("Choose month, quarter, year or a date range."))
    if kind == "month":
        raw = value("month")
        if not raw:
            first = today.replace(day=1)
        else:
            match = _MONTH.match(raw)
            if not match or not 1 <= int(match.group(2)) <= 12:
                raise _invalid(prefix + "month", N_("Enter a month as YYYY-MM."))
            first = date(_year_ok(int(match.group(1)), prefix + "month"), int(match.group(2)), 1)
        return Period("month", first, _add_months(first, 1) - timedelta(days=1), tz)
    if kind == "quarter":
        raw = value("quarter")
        if not raw:
            first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        else:
            match = _QUARTER.match(raw)
            if not match:
                raise _invalid(prefix + "quarter", N_("Enter a quarter as YYYY-Q1 … YYYY-Q4."))
            year = _year_ok(int(match.group(1)), prefix + "quarter")
            first = date(year, (int(match.group(2)) - 1) * 3 + 1, 1)
        return Period("quarter", first, _add_months(first, 3) - timedelta(days=1), tz)
    if kind == "year":
        raw = value("year")
        if not raw:
            year = today.year
        else:
            match = _YEAR.match(raw)
            if not match:
                raise _invalid(prefix + "year", N_("Enter a year as YYYY."))
            year = _year_ok(int(match.group(1)), prefix + "year")
        return Period("year", date(year, 1, 1), date(year, 12, 31), tz)
    raw_from, raw_to = value("from"), value("to")
    if not raw_from:
        raise _invalid(prefix + "from", N_("Required."))
    if not raw_to:
        raise _invalid(prefix + "to", N_("Required."))
    first, last = _parse_day(raw_from, prefix + "from"), _parse_day(raw_to, prefix + "to")
    if last < first:
        raise _invalid(prefix + "to", N_("The end date must not be before the start date."))
    if (last - first).days + 1 > MAX_CUSTOM_DAYS:
        raise _invalid(prefix + "to", N_("A date range may span at most three years."))
    return Period("custom", first, last, tz)


def today_local(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(get_settings().timezone)).date()


def period_from_params(
    params: Mapping[str, str], *, prefix: str = "", now: datetime | None = None
) -> Period:
    """:func:`parse_period` with the team's timezone and today's date."""
    tz = get_settings().timezone
    return parse_period(params, today=today_local(now), tz=tz, prefix=prefix)


def department_from_params(params: Mapping[str, str]) -> int | None:
    """The ``department`` filter: empty for all departments, else a department id."""
    raw = (params.get("department") or "").strip()
    if not raw:
        return None
    value = ids.digits(raw)
    if value is None:
        raise _invalid("department", N_("Invalid value."))
    return value


def week_bounds(period: Period, now: datetime | None = None) -> list[datetime]:
    """Bucket edges of the weekly trend: the period's start, each local Monday inside, its end.

    For a period still running, weeks that have not begun are left out and the last bucket
    ends now, so the chart does not drop to zero in the future.
    """
    end = period.end if now is None else max(min(period.end, now), period.start)
    edges = [period.start]
    day = period.first_day + timedelta(days=(7 - period.first_day.weekday()) % 7 or 7)
    zone = ZoneInfo(period.tz)
    while day <= period.last_day:
        edge = datetime.combine(day, time(), zone)
        if edge >= end:
            break
        edges.append(edge)
        day += timedelta(days=7)
    edges.append(end if end > period.start else period.end)
    return edges


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Satisfaction:
    """Answered surveys, kept as counts and sums so that combining groups stays exact."""

    answered: int = 0
    sums: tuple[int, int, int] = (0, 0, 0)
    # Per dimension (speed, solution, attitude): how many answered 1, 2, 3, 4, 5.
    distribution: tuple[tuple[int, ...], ...] = ((0,) * 5,) * 3
    satisfied: int = 0
    low: int = 0

    def __add__(self, other: Satisfaction) -> Satisfaction:
        return Satisfaction(
            answered=self.answered + other.answered,
            sums=tuple(a + b for a, b in zip(self.sums, other.sums, strict=True)),  # type: ignore[arg-type]
            distribution=tuple(
                tuple(a + b for a, b in zip(x, y, strict=True))
                for x, y in zip(self.distribution, other.distribution, strict=True)
            ),
            satisfied=self.satisfied + other.satisfied,
            low=self.low + other.low,
        )

    @classmethod
    def of(cls, speed: int, solution: int, attitude: int, n: int = 1) -> Satisfaction:
        """``n`` surveys that all answered these three scores."""
        scores = (speed, solution, attitude)
        distribution = tuple(tuple(n if s == value else 0 for value in range(1, 6)) for s in scores)
        return cls(
            answered=n,
            sums=(speed * n, solution * n, attitude * n),
            distribution=distribution,
            satisfied=n if min(scores) >= 4 else 0,
            low=n if min(scores) <= 3 else 0,
        )

    def _avg(self, index: int) -> float | None:
        return self.sums[index] / self.answered if self.answered else None

    @property
    def avg_speed(self) -> float | None:
        return self._avg(0)

    @property
    def avg_solution(self) -> float | None:
        return self._avg(1)

    @property
    def avg_attitude(self) -> float | None:
        return self._avg(2)

    @property
    def overall(self) -> float | None:
        """The mean of the three dimensions' averages."""
        return sum(self.sums) / (3 * self.answered) if self.answered else None

    @property
    def satisfied_share(self) -> float | None:
        return self.satisfied / self.answered if self.answered else None


@dataclass(frozen=True)
class Figures:
    """The counts and time sums of a group of tickets (a type, an agent, a whole period)."""

    count: int = 0
    resolved: int = 0
    handling_seconds: float = 0.0
    responded: int = 0
    response_seconds: float = 0.0
    repeats: int = 0
    satisfaction: Satisfaction = field(default_factory=Satisfaction)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            count=self.count + other.count,
            resolved=self.resolved + other.resolved,
            handling_seconds=self.handling_seconds + other.handling_seconds,
            responded=self.responded + other.responded,
            response_seconds=self.response_seconds + other.response_seconds,
            repeats=self.repeats + other.repeats,
            satisfaction=self.satisfaction + other.satisfaction,
        )

    @property
    def avg_handling_hours(self) -> float | None:
        return self.handling_seconds / self.resolved / 3600 if self.resolved else None

    @property
    def avg_first_response_hours(self) -> float | None:
        return self.response_seconds / self.responded / 3600 if self.responded else None

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.count if self.count else None

    @property
    def repeat_rate(self) -> float | None:
        return self.repeats / self.count if self.count else None


@dataclass(frozen=True)
class TypeSummary:
    """One row of the summary: a request type (None = not yet classified)."""

    request_type: RequestType | None
    figures: Figures
    share: float | None

    @property
    def count(self) -> int:
        return self.figures.count


@dataclass(frozen=True)
class AgentSummary:
    user_id: int
    name: str
    assigned: int
    figures: Figures  # count = resolved tickets of theirs ("handled")


@dataclass(frozen=True)
class WeeklySeries:
    """Tickets registered per week and type: ``counts[type][i]`` for the week ``starts[i]``."""

    starts: list[date]
    counts: dict[RequestType | None, list[int]]


@dataclass(frozen=True)
class ProblemSummary:
    period: Period
    previous: Period
    rows: list[TypeSummary]
    total: Figures
    previous_total: Figures
    agents: list[AgentSummary]
    topics: dict[RequestType, list[topics.Topic]]
    weekly: WeeklySeries
    department_id: int | None = None


@dataclass(frozen=True)
class Throughput:
    """Tickets resolved in a period per agent-hour of the business calendar.

    ``agents`` is the number of distinct people who resolved at least one of those tickets;
    ``business_hours`` the working hours of the default business calendar from the period's
    start until its end (or now, for a period still running). So the rate answers "how many
    tickets did each working agent finish per hour the desk was open" — it ignores leave and
    part-time work, which the system does not know about.
    """

    resolved: int
    agents: int
    business_hours: float

    @property
    def per_agent_hour(self) -> float | None:
        hours = self.agents * self.business_hours
        return self.resolved / hours if hours > 0 else None


def cohort(period: Period, department_id: int | None = None) -> ColumnElement[bool]:
    """Tickets registered in the period (and of the department, when given); a duplicate
    merged into another ticket is not counted (its primary is)."""
    clause = days.registered(period.start, period.end)
    if department_id:
        clause = and_(clause, Ticket.department_id == department_id)
    return clause


@dataclass
class _Cube:
    """One period's tickets aggregated by request type, by assignee and by week."""

    by_type: dict[RequestType | None, Figures]
    by_agent: dict[int | None, Figures]
    weekly: WeeklySeries


def _ours(department: int | None, department_id: int | None) -> bool:
    return not department_id or department == department_id


async def _cube(
    session: AsyncSession,
    period: Period,
    department_id: int | None,
    edges: list[datetime] | None = None,
    *,
    store: days.Store | None = None,
) -> _Cube:
    """Ticket figures per type, per assignee and per week (``edges``: the weeks' bounds), with
    the surveys' scores, added up from the figures of the period's days."""
    edges = edges or [period.start, period.end]
    zone = ZoneInfo(period.tz)
    week_starts = [edge.astimezone(zone).date() for edge in edges[1:-1]]
    per_day = await days.figures(
        session, store, "cohort", period.tz, period.first_day, period.last_day, week_starts
    )
    n = len(edges) - 1
    # Plain sums first, one Figures per type and per agent at the end.
    by_type: dict[RequestType | None, tuple[Any, ...]] = {}
    by_agent: dict[int | None, tuple[Any, ...]] = {}
    counts: dict[RequestType | None, list[int]] = {rt: [0] * n for rt in RequestType}
    for day in sorted(per_day):
        week = bisect_right(week_starts, day)
        for (dept, rt, aid), values in per_day[day].items():
            if _ours(dept, department_id):
                kind = RequestType(rt) if rt else None
                by_type[kind] = days.plus(by_type.get(kind), values)
                by_agent[aid] = days.plus(by_agent.get(aid), values)
                counts.setdefault(kind, [0] * n)[week] += values[0]
    weekly = WeeklySeries(
        starts=[edge.astimezone(zone).date() for edge in edges[:-1]], counts=counts
    )
    return _Cube(
        {key: _figures(sums) for key, sums in by_type.items()},
        {key: _figures(sums) for key, sums in by_agent.items()},
        weekly,
    )


def _figures(sums: tuple[Any, ...]) -> Figures:
    """A cohort cell's sums (:data:`days.Cohort`) as figures."""
    count, resolved, handling, responded, response, repeats = sums[: days.TICKET_SUMS]
    answered, speed, solution, attitude, *rest = sums[days.TICKET_SUMS :]
    distribution = tuple(tuple(rest[i : i + 5]) for i in (0, 5, 10))
    return Figures(
        count=count,
        resolved=resolved,
        handling_seconds=handling,
        responded=responded,
        response_seconds=response,
        repeats=repeats,
        satisfaction=Satisfaction(
            answered=answered,
            sums=(speed, solution, attitude),
            distribution=distribution,
            satisfied=rest[15],
            low=rest[16],
        ),
    )


async def figures_by_type(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    store: days.Store | None = None,
) -> dict[RequestType | None, Figures]:
    """Figures per request type (None = unclassified) for the period's cohort."""
    return (await _cube(session, period, department_id, store=store)).by_type


async def period_figures(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    store: days.Store | None = None,
) -> Figures:
    """All of the period's tickets together."""
    total = Figures()
    for figures in (await figures_by_type(session, period, department_id, store=store)).values():
        total += figures
    return total


def type_rows(by_type: Mapping[RequestType | None, Figures]) -> tuple[list[TypeSummary], Figures]:
    """The four request types in order (plus "unclassified" when there is any), and the total."""
    total = Figures()
    for figures in by_type.values():
        total += figures
    keys: list[RequestType | None] = list(RequestType)
    if by_type.get(None, Figures()).count:
        keys.append(None)
    rows = [
        TypeSummary(
            request_type=key,
            figures=by_type.get(key, Figures()),
            share=by_type.get(key, Figures()).count / total.count if total.count else None,
        )
        for key in keys
    ]
    return rows, total


async def _agent_rows(
    session: AsyncSession, by_agent: Mapping[int | None, Figures]
) -> list[AgentSummary]:
    ids = [key for key in by_agent if key is not None]
    if not ids:
        return []
    names = dict(
        (await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))).all()
    )
    rows = []
    for user_id in ids:
        base = by_agent[user_id]
        rows.append(
            AgentSummary(
                user_id=user_id,
                name=names.get(user_id, f"#{user_id}"),
                assigned=base.count,
                figures=replace(base, count=base.resolved),
            )
        )
    rows.sort(key=lambda r: (-r.figures.resolved, -r.assigned, r.name))
    return rows


async def agent_rows(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    store: days.Store | None = None,
) -> list[AgentSummary]:
    """Per assignee: tickets assigned, resolved ("handled"), handling time, satisfaction."""
    cube = await _cube(session, period, department_id, store=store)
    return await _agent_rows(session, cube.by_agent)


async def weekly_counts(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    now: datetime | None = None,
    store: days.Store | None = None,
) -> WeeklySeries:
    """Tickets registered per local week (Monday first) and request type, up to now."""
    edges = week_bounds(period, now or utcnow())
    return (await _cube(session, period, department_id, edges, store=store)).weekly


async def type_topics(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    limit: int = TOP_TOPICS,
    store: days.Store | None = None,
) -> dict[RequestType, list[topics.Topic]]:
    """The most frequent problems of each request type, with the previous period's counts."""
    previous = period.previous()

    async def compute() -> dict[RequestType, list[topics.Topic]]:
        per_day = await days.figures(
            session,
            store,
            "texts",
            period.tz,
            previous.first_day,
            period.last_day,
            [period.first_day],
        )
        docs: dict[str, dict[str, list[int]]] = {}  # by the type's stored value
        for day, texts in per_day.items():
            slot_index = 0 if day >= period.first_day else 1
            for (dept, request_type, text), count in texts.items():
                if _ours(dept, department_id):
                    slot = docs.setdefault(request_type, {}).setdefault(text, [0, 0])
                    slot[slot_index] += count
        return {
            RequestType(request_type): topics.remembered_top_topics(
                [topics.Doc(text, cur, prev) for text, (cur, prev) in sorted(by_text.items())],
                limit=limit,
            )
            for request_type, by_text in sorted(docs.items())
        }

    found = await days.remembered(
        store, "topics", _topics_parts(period, department_id, limit), _topics_span(period), compute
    )
    assert found is not None
    return found


def _topics_parts(period: Period, department_id: int | None, limit: int) -> tuple[Any, ...]:
    return (period, department_id, limit)


def _topics_span(period: Period) -> tuple[str, date, date]:
    return (period.tz, period.previous().first_day, period.last_day)


async def known_topics(
    period: Period,
    department_id: int | None = None,
    *,
    limit: int = TOP_TOPICS,
    store: days.Store,
) -> dict[RequestType, list[topics.Topic]] | None:
    """:func:`type_topics` when they are cached and still exact, else None (not worked out)."""
    parts = _topics_parts(period, department_id, limit)
    found: dict[RequestType, list[topics.Topic]] | None = await days.remembered(
        store, "topics", parts, _topics_span(period), None
    )
    return found


async def problem_summary(
    session: AsyncSession,
    period: Period,
    *,
    department_id: int | None = None,
    with_topics: bool = True,
    now: datetime | None = None,
    store: days.Store | None = None,
) -> ProblemSummary:
    """Everything the problem summary page (and its XLSX export) shows for one period."""
    previous = period.previous()
    edges = week_bounds(period, now or utcnow())
    cube = await _cube(session, period, department_id, edges, store=store)
    rows, total = type_rows(cube.by_type)
    return ProblemSummary(
        period=period,
        previous=previous,
        rows=rows,
        total=total,
        previous_total=await period_figures(session, previous, department_id, store=store),
        agents=await _agent_rows(session, cube.by_agent),
        topics=(
            await type_topics(session, period, department_id, store=store) if with_topics else {}
        ),
        weekly=cube.weekly,
        department_id=department_id,
    )


async def throughput(
    session: AsyncSession,
    period: Period,
    department_id: int | None = None,
    *,
    now: datetime | None = None,
    store: days.Store | None = None,
) -> Throughput:
    """Tickets resolved in the period, the people who resolved them, and the open hours."""
    now = now or utcnow()
    per_day = await days.figures(
        session, store, "resolved", period.tz, period.first_day, period.last_day
    )
    by_agent: dict[int | None, int] = {}
    for (dept, aid), count in days.merged(per_day.values()).items():
        if _ours(dept, department_id):
            by_agent[aid] = by_agent.get(aid, 0) + count
    resolved = sum(by_agent.values())
    agents = sum(1 for aid, count in by_agent.items() if aid is not None and count)
    calendar = (await policy.load_rules(session)).calendar
    until = min(period.end, now)
    hours = 0.0
    if until > period.start:
        hours = calendar.between(period.start, until, business=True).total_seconds() / 3600
    return Throughput(resolved=resolved, agents=agents, business_hours=hours)
