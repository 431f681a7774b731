"""The reports' figures per local day, cached in Redis and computed again only for changed days.

The problem summary and the KPI dashboard are sums over the days of their periods: of the
tickets registered on each day (counts, handling and response times, repeats, the surveys
about them, and the texts their topics come from) and of the tickets resolved on each day (for
throughput). Each day's figures are cached under the counters of the UTC days it overlaps; a
committed transaction moves on the counters of the days whose tickets it changed
(:mod:`models.report_days`, :func:`models.db.flush_side_effects`), so after one ticket moves,
the next view reads one day from the database and every other day from the cache.

Exactness: a day's figures are stored with the counters read *before* they were computed (a
write committed meanwhile has moved a counter on already) and read back only while the counters
are still those; a bulk statement that may change any day moves the ``all`` counter, which is
part of every stamp. A bump that failed (Redis away) becomes an ``all`` bump at the process's
next commit. Without Redis every day is computed.

Memory: one entry per kind, time zone and day (a newer stamp overwrites the older figures, so
views after every change leave nothing behind), each kept :data:`TTL` after it was last
written — long enough that the first view of a morning finds the past days, which seldom
change, still there.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    FunctionElement,
    Integer,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles

from models.db import report_days_key
from models.services.tickets.counts import epoch
from models.survey import Survey
from models.ticket import Ticket
from models.ticket_count import utc_day
from triage import topics

log = logging.getLogger(__name__)

# Seconds an entry lives after it was last written: long enough that a lead's first view of
# the day finds the past days cached; short enough to bound how long a change whose counter
# bump was lost for good (a process gone between its commit and Redis) can stay unseen.
TTL = 2 * 86400
FORMAT = 2  # part of every key: figures stored by another version of this module are not read
RUN = 92  # days per query at most (a quarter: bounds one query's groups and bucket expression)
T = TypeVar("T")
EPOCH_DATE = date(1970, 1, 1)

# One day's figures, as plain tuples (cheap to pickle, exact to add up):
#   cohort: {(department, type, assignee): (count, resolved, handling s, responded, response s,
#            repeats, *SURVEYS)}, where SURVEYS are the answered surveys about those tickets:
#            (answered, sum of speed, of solution, of attitude, how many answered speed 1…5,
#            solution 1…5, attitude 1…5, satisfied (all ≥ 4), low (any ≤ 3))
#   resolved: {(department, assignee): tickets resolved}
#   texts: {(department, type, text): tickets}
TICKET_SUMS = 6
LIKERT = (1, 2, 3, 4, 5)
Key3 = tuple[int | None, str | None, int | None]
Cohort = dict[Key3, tuple[Any, ...]]
Resolved = dict[tuple[int | None, int | None], int]
Texts = dict[tuple[int | None, str, str], int]


def midnights(tz: str, first: date, count: int) -> list[datetime]:
    """The local midnights of ``count`` days from ``first`` on, and the one after the last."""
    zone = ZoneInfo(tz)
    return [datetime.combine(first + timedelta(days=i), time(), zone) for i in range(count + 1)]


class local_day(FunctionElement[int]):
    """The day (since 1970-01-01) an instant falls on at a fixed offset from UTC, in SQL:
    ``local_day(column, literal_column("480"))`` for UTC+8."""

    type = Integer()
    name = "kefu_local_day"
    inherit_cache = True


@compiles(local_day, "sqlite")
def _local_day_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    value, minutes = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"CAST(julianday(date({value}, '{int(minutes):+d} minutes')) - 2440587.5 AS INTEGER)"


@compiles(local_day)
def _local_day_default(element: Any, compiler: Any, **kw: Any) -> str:
    value, minutes = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return (
        f"(CAST(({value} AT TIME ZONE 'UTC') + INTERVAL '{int(minutes)} minutes' AS DATE)"
        " - DATE '1970-01-01')"
    )


def day_index(column: Any, edges: list[datetime]) -> ColumnElement[Any]:
    """Which ``[edges[i], edges[i + 1])`` the column falls in (it is known to be inside).

    The edges are local midnights: for consecutive days over which the zone keeps one offset
    from UTC, the local date in SQL; else (weeks, a daylight-saving change) a binary search
    over the edges.
    """
    offsets = {edge.utcoffset() for edge in edges}
    daily = all((b.date() - a.date()).days == 1 for a, b in pairwise(edges))
    if daily and len(offsets) == 1 and (offset := offsets.pop()) is not None:
        minutes = int(offset.total_seconds()) // 60
        first = (edges[0].date() - EPOCH_DATE).days
        return local_day(column, literal_column(str(minutes))) - first

    def search(lo: int, hi: int) -> ColumnElement[Any]:
        if hi - lo == 1:
            return literal(lo)
        mid = (lo + hi) // 2
        return case((column < edges[mid], search(lo, mid)), else_=search(mid, hi))

    return search(0, len(edges) - 1)


def registered(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Tickets registered in ``[start, end)``; a duplicate merged into another ticket is not
    counted (its primary is)."""
    return and_(
        Ticket.created_at >= start,
        Ticket.created_at < end,
        Ticket.merged_into_id.is_(None),
    )


async def scan_cohort(session: AsyncSession, edges: list[datetime]) -> list[Cohort]:
    """The figures of the tickets registered on each day between the edges, with the answered
    surveys about them (one pass: a ticket has at most one survey)."""
    days: list[Cohort] = [{} for _ in edges[:-1]]
    # The id range of those tickets bounds the surveys to read: ids grow with registration
    # time, so PostgreSQL reads a day's surveys instead of hashing every survey ever answered
    # (0.23 s for a day of 23,000 tickets at 1M). Exact whatever the ids: a bound, not a filter.
    # (``id + 0``: over a bare min(id) PostgreSQL walks the primary key from one end until a
    # row falls in the range — 0.5 s at 1M — instead of reading the range's rows.)
    span = select(func.min(Ticket.id + 0), func.max(Ticket.id + 0))
    low, high = (await session.execute(span.where(registered(edges[0], edges[-1])))).one()
    if low is None:
        return days
    answered = and_(
        Survey.ticket_id == Ticket.id,
        Survey.ticket_id.between(low, high),
        Survey.submitted_at.is_not(None),
        Survey.speed_score.is_not(None),
        Survey.solution_score.is_not(None),
        Survey.attitude_score.is_not(None),
    )
    rows = (
        select(
            Ticket.department_id.label("dept"),
            Ticket.request_type.label("rt"),
            Ticket.assignee_id.label("aid"),
            day_index(Ticket.created_at, edges).label("day"),
            Ticket.resolved_at.label("resolved"),
            Ticket.first_responded_at.label("responded"),
            (epoch(Ticket.resolved_at) - epoch(Ticket.created_at)).label("handling"),
            (epoch(Ticket.first_responded_at) - epoch(Ticket.created_at)).label("response"),
            case((Ticket.is_repeat.is_(True), 1), else_=0).label("repeat"),
            Survey.speed_score.label("speed"),
            Survey.solution_score.label("solution"),
            Survey.attitude_score.label("attitude"),
        )
        .select_from(Ticket)
        .outerjoin(Survey, answered)
        .where(registered(edges[0], edges[-1]))
        .subquery()
    )
    given = (rows.c.speed, rows.c.solution, rows.c.attitude)
    groups = (rows.c.dept, rows.c.rt, rows.c.aid, rows.c.day)
    stmt = select(
        *groups,
        func.count(),
        func.count(rows.c.resolved),
        func.sum(rows.c.handling),
        func.count(rows.c.responded),
        func.sum(rows.c.response),
        func.sum(rows.c.repeat),
        func.count(rows.c.speed),
        *(func.sum(score) for score in given),
        *(func.sum(case((score == value, 1), else_=0)) for score in given for value in LIKERT),
        func.sum(case((and_(*(score >= 4 for score in given)), 1), else_=0)),
        func.sum(case((or_(*(score <= 3 for score in given)), 1), else_=0)),
    ).group_by(*groups)
    for (
        dept,
        rt,
        aid,
        day,
        count,
        resolved,
        handling,
        responded,
        response,
        repeats,
        *rest,
    ) in await session.execute(stmt):
        days[int(day)][(dept, _kind(rt), aid)] = (
            int(count),
            int(resolved),
            float(handling or 0.0),
            int(responded),
            float(response or 0.0),
            int(repeats or 0),
            *(int(n or 0) for n in rest),
        )
    return days


async def scan_resolved(session: AsyncSession, edges: list[datetime]) -> list[Resolved]:
    """Tickets resolved on each day between the edges, by department and assignee."""
    days: list[Resolved] = [{} for _ in edges[:-1]]
    day = day_index(Ticket.resolved_at, edges)
    stmt = (
        select(day, Ticket.department_id, Ticket.assignee_id, func.count(Ticket.id))
        .where(
            Ticket.resolved_at >= edges[0],
            Ticket.resolved_at < edges[-1],
            Ticket.merged_into_id.is_(None),
        )
        .group_by(day, Ticket.department_id, Ticket.assignee_id)
    )
    for index, dept, aid, count in await session.execute(stmt):
        days[int(index)][(dept, aid)] = int(count)
    return days


async def scan_texts(session: AsyncSession, edges: list[datetime]) -> list[Texts]:
    """How many classified tickets registered on each day share each text (for topics)."""
    days: list[Texts] = [{} for _ in edges[:-1]]
    text = func.substr(Ticket.description, 1, topics.TEXT_LIMIT).label("text")
    inner = (
        select(
            day_index(Ticket.created_at, edges).label("day"),
            Ticket.department_id.label("dept"),
            Ticket.request_type.label("rt"),
            text,
        )
        .where(registered(edges[0], edges[-1]), Ticket.request_type.is_not(None))
        .subquery()
    )
    groups = (inner.c.day, inner.c.dept, inner.c.rt, inner.c.text)
    stmt = select(*groups, func.count()).group_by(*groups)
    for index, dept, rt, body, count in await session.execute(stmt):
        days[int(index)][(dept, str(rt), body)] = int(count)
    return days


def _kind(value: Any) -> str | None:
    """A request type as stored text (enum members pickle as their class; text does not)."""
    return None if value is None else str(value)


SCANS: dict[str, Callable[[AsyncSession, list[datetime]], Awaitable[list[Any]]]] = {
    "cohort": scan_cohort,
    "resolved": scan_resolved,
    "texts": scan_texts,
}


def _runs(days: list[date]) -> Iterable[tuple[date, int]]:
    """Consecutive days in runs of at most :data:`RUN`: (first day, length)."""
    start: date | None = None
    length = 0
    for day in sorted(days):
        if start is not None and day == start + timedelta(days=length) and length < RUN:
            length += 1
            continue
        if start is not None:
            yield start, length
        start, length = day, 1
    if start is not None:
        yield start, length


async def _scan(session: AsyncSession, kind: str, tz: str, days: list[date]) -> dict[date, Any]:
    found: dict[date, Any] = {}
    for first, length in _runs(days):
        edges = midnights(tz, first, length)
        for i, figures in enumerate(await SCANS[kind](session, edges)):
            found[first + timedelta(days=i)] = figures
    return found


async def _between_cuts(
    session: AsyncSession, kind: str, tz: str, first: date, last: date, cuts: Iterable[date]
) -> dict[date, Any]:
    """The figures between ``cuts`` added up, under the first day of each stretch."""
    starts = [first, *sorted({cut for cut in cuts if first < cut <= last})]
    zone = ZoneInfo(tz)
    edges = [datetime.combine(day, time(), zone) for day in starts]
    edges.append(datetime.combine(last + timedelta(days=1), time(), zone))
    return dict(zip(starts, await SCANS[kind](session, edges), strict=True))


def _utc_days(tz: str, day: date) -> list[int]:
    start, end = midnights(tz, day, 1)
    return sorted({utc_day(start), utc_day(end - timedelta(microseconds=1))})


def _unstamped(hit: bytes | None, stamp: str) -> tuple[bool, Any]:
    """A cached entry's value, if it was stored under ``stamp`` (else it is stale: False);
    an unreadable entry counts as stale and is written again."""
    if hit is None:
        return False, None
    try:
        stored, value = pickle.loads(hit)
    except Exception:
        log.info("unreadable cached report figures")
        return False, None
    return stored == stamp, value


@dataclass(frozen=True)
class Store:
    """Where the days' figures are cached: Redis (None: nowhere) and the deployment's channel."""

    redis: Any
    channel: str


async def figures(
    session: AsyncSession,
    store: Store | None,
    kind: str,
    tz: str,
    first: date,
    last: date,
    cuts: Iterable[date] = (),
) -> dict[date, Any]:
    """Each day's ``kind`` figures from ``first`` to ``last``: cached days from Redis, the rest
    (changed since, or never asked for) from the database, then cached.

    Without a cache (none, or Redis away), the days between ``cuts`` come back added up,
    under the first of them (one query over fewer groups: the caller needs no finer split
    than its cuts).
    """
    if store is None or store.redis is None:
        return await _between_cuts(session, kind, tz, first, last, cuts)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    redis, channel = store.redis, store.channel
    prefix = "t" if kind == "texts" else ""
    overlaps = {day: [f"{prefix}{u}" for u in _utc_days(tz, day)] for day in days}
    fields = ["all", *sorted({u for utc in overlaps.values() for u in utc})]
    try:
        counters = await redis.hmget(report_days_key(channel), fields)
        moved = dict(zip(fields, (int(c or 0) for c in counters), strict=True))
        stamps = {day: ":".join(str(moved[u]) for u in ["all", *overlaps[day]]) for day in days}
        keys = {
            day: f"{channel}:reports-day:{FORMAT}:{kind}:{tz}:{day.isoformat()}" for day in days
        }
        hits = await redis.mget(list(keys.values()))
    except Exception:  # Redis away: the figures are computed, the page still answers
        log.warning("reports' day cache unavailable", exc_info=True)
        return await _between_cuts(session, kind, tz, first, last, cuts)
    found: dict[date, Any] = {}
    for day, hit in zip(days, hits, strict=True):
        fresh, value = _unstamped(hit, stamps[day])
        if fresh:
            found[day] = value
    missing = [day for day in days if day not in found]
    if missing:
        computed = await _scan(session, kind, tz, missing)
        found.update(computed)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for day, value in computed.items():
                    pipe.set(keys[day], pickle.dumps((stamps[day], value)), ex=TTL)
                await pipe.execute()
        except Exception:
            log.warning("could not cache %s figures", kind, exc_info=True)
    return found


async def remembered(
    store: Store | None,
    name: str,
    parts: tuple[Any, ...],
    span: tuple[str, date, date],
    compute: Callable[[], Awaitable[T]] | None,
) -> T | None:
    """``compute()``, cached as a whole under the counters of the texts of the days in
    ``span`` (timezone, first, last): what is worked out from those texts alone (topics).
    Without ``compute``, only what is cached (None when it would have to be worked out)."""
    if store is None or store.redis is None:
        return None if compute is None else await compute()
    tz, first, last = span
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    fields = ["all", *sorted({f"t{u}" for day in days for u in _utc_days(tz, day)})]
    try:
        counters = await store.redis.hmget(report_days_key(store.channel), fields)
        stamp = hashlib.sha256(repr(counters).encode()).hexdigest()[:32]
        digest = hashlib.sha256(repr((parts, span)).encode()).hexdigest()[:32]
        key = f"{store.channel}:reports-{name}:{FORMAT}:{digest}"
        hit = await store.redis.get(key)
    except Exception:
        log.warning("reports' %s cache unavailable", name, exc_info=True)
        return None if compute is None else await compute()
    fresh, value = _unstamped(hit, stamp)
    if fresh:
        return value  # type: ignore[no-any-return]
    if compute is None:
        return None
    value = await compute()
    try:
        await store.redis.set(key, pickle.dumps((stamp, value)), ex=TTL)
    except Exception:
        log.warning("could not cache %s", name, exc_info=True)
    return value


def plus(have: Any, more: Any) -> Any:
    """Two sums added: numbers, or tuples element by element (``have`` may be None)."""
    if have is None:
        return more
    if isinstance(more, tuple):
        return tuple(a + b for a, b in zip(have, more, strict=True))
    return have + more


def merged(per_day: Iterable[dict[Any, Any]]) -> dict[Any, Any]:
    """Days' dictionaries of sums added up key by key."""
    total: dict[Any, Any] = {}
    for day in per_day:
        for key, value in day.items():
            total[key] = plus(total.get(key), value)
    return total
