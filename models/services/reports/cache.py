"""The problem summary, the KPI dashboard and the department matrix, cached in Redis and
invalidated exactly.

Computing them reads every ticket of two periods (hundreds of milliseconds at 100,000 tickets);
leads open them again and again while nothing changed. Every committed transaction that wrote
a table they read bumps a generation counter in Redis (:func:`models.db.flush_side_effects`),
and figures are stored under the generation that was current *before* they were computed: a
write committed meanwhile has already moved the counter on, so no one reads stale figures
under the new number. What depends on the clock (this week's bar, the business hours of a
period still running) is computed at the start of the current minute and cached for that
minute only; a period that has ended does not depend on the clock at all.

Underneath, the summary and the dashboard add up per-day figures that are cached the same way
per day (:mod:`models.services.reports.days`): after a write, only the days it changed are read
from the database again.

Without Redis the figures are computed every time. Entries expire after :data:`TTL`, which also
bounds how long a write that could not bump the counter (Redis away at that moment, or a
command-line change made without Redis) can leave figures behind.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import reports_generation_key
from models.enums import RequestType
from models.services.common.actor import Actor
from models.services.reports import days, kpi
from models.services.reports import summary as reports
from models.services.tickets import board
from models.services.tickets.board import BoardFilters, MatrixRow
from triage.topics import Topic

log = logging.getLogger(__name__)

TTL = 600  # seconds
T = TypeVar("T")


def _minute(now: datetime | None) -> datetime:
    return (now or utcnow()).replace(second=0, microsecond=0)


def _clock_part(periods: tuple[reports.Period, ...], minute: datetime) -> str:
    """The minute, when one of the periods has not ended by then (else nothing)."""
    return minute.isoformat() if any(p.end > minute for p in periods) else "-"


async def cached(
    redis: Any, channel: str, kind: str, parts: tuple[Any, ...], compute: Callable[[], Awaitable[T]]
) -> T:
    """``compute()``'s value, from the cache when the reports' generation has not moved."""
    if redis is None:
        return await compute()
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    try:
        generation = int(await redis.get(reports_generation_key(channel)) or 0)
        key = f"{channel}:reports:{kind}:{generation}:{digest}"
        hit = await redis.get(key)
    except Exception:  # Redis away: the figures are computed, the page still answers
        log.warning("reports cache unavailable", exc_info=True)
        return await compute()
    if hit is not None:
        try:
            return pickle.loads(hit)  # type: ignore[no-any-return]
        except Exception:  # written by another version of Kefu: compute afresh
            log.info("unreadable cached %s figures", kind)
    value = await compute()
    try:
        await redis.set(key, pickle.dumps(value), ex=TTL)
    except Exception:
        log.warning("could not cache %s figures", kind, exc_info=True)
    return value


async def problem_summary(
    session: AsyncSession,
    redis: Any,
    channel: str,
    period: reports.Period,
    *,
    department_id: int | None = None,
    now: datetime | None = None,
    with_topics: bool = True,
) -> reports.ProblemSummary:
    """:func:`reports.problem_summary` at the start of the current minute, cached."""
    minute = _minute(now)
    parts = (period, department_id, with_topics, _clock_part((period,), minute))
    return await cached(
        redis,
        channel,
        "summary",
        parts,
        lambda: reports.problem_summary(
            session,
            period,
            department_id=department_id,
            now=minute,
            with_topics=with_topics,
            store=days.Store(redis, channel),
        ),
    )


async def topics(
    session: AsyncSession,
    redis: Any,
    channel: str,
    period: reports.Period,
    *,
    department_id: int | None = None,
    known_only: bool = False,
) -> dict[RequestType, list[Topic]] | None:
    """The period's most frequent problems (:func:`reports.type_topics`), cached under the
    counters of its texts; with ``known_only``, None unless they are cached."""
    store = days.Store(redis, channel)
    if known_only:
        return await reports.known_topics(period, department_id, store=store)
    return await reports.type_topics(session, period, department_id, store=store)


async def dashboard(
    session: AsyncSession,
    redis: Any,
    channel: str,
    a: reports.Period,
    b: reports.Period,
    *,
    department_id: int | None = None,
    now: datetime | None = None,
) -> kpi.Dashboard:
    """:func:`kpi.dashboard` at the start of the current minute, cached."""
    minute = _minute(now)
    parts = (a, b, department_id, _clock_part((a, b), minute))
    return await cached(
        redis,
        channel,
        "kpi",
        parts,
        lambda: kpi.dashboard(
            session, a, b, department_id=department_id, now=minute, store=days.Store(redis, channel)
        ),
    )


async def matrix(
    session: AsyncSession,
    redis: Any,
    channel: str,
    actor: Actor,
    filters: BoardFilters,
    *,
    now: datetime | None = None,
) -> list[MatrixRow]:
    """:func:`board.matrix` at the start of the current minute (its overdue counts depend on
    the clock), cached per viewer's scope and filters."""
    minute = _minute(now)
    parts = (actor.user_id, actor.role, actor.department_id, filters, minute.isoformat())
    return await cached(
        redis,
        channel,
        "matrix",
        parts,
        lambda: board.matrix(session, actor, filters, now=minute),
    )
