"""Engines, sessions and the unit of work shared by web, worker and CLI.

A unit of work commits the session, then hands what the services recorded on it (board
events, jobs to enqueue) to Redis. The database stays the source of truth: if Redis is
unreachable after a commit, the work is not lost — the sweeper finds it again.

Every session also notes which tables it wrote (flushed objects and bulk statements); a
committed write to a table the reports read bumps the reports' generation in Redis, which is
what keeps their cache exact (:mod:`models.services.reports.cache`). Finer: the UTC days whose
tickets' report figures a transaction changed are bumped one by one, so the reports' per-day
figures recompute only those days (:mod:`models.services.reports.days`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_, in_greenlet

log = logging.getLogger(__name__)

EVENTS_KEY = "kefu_events"
JOBS_KEY = "kefu_jobs"
WRITTEN_KEY = "kefu_written_tables"
# What the problem summary, the KPI dashboard, the department matrix and their exports read
# (the matrix's filters also read customers' levels and collaborators).
REPORT_TABLES = frozenset(
    {
        "tickets",
        "customers",
        "ticket_collaborators",
        "surveys",
        "follow_ups",
        "users",
        "departments",
        "kpi_targets",
        "sla_policies",
        "business_calendars",
    }
)


def reports_generation_key(channel: str) -> str:
    """The Redis counter of committed writes the reports read (namespaced like the events)."""
    return f"{channel}:reports-generation"


# The UTC days (days since 1970-01-01) whose tickets' report figures the transaction changed:
# the day each changed ticket was registered on, and the days it was resolved on before and
# after. Noted as the fields of a Redis hash: "<day>" for the figures, "t<day>" for the texts
# the topics come from, "all" when it cannot tell (every day's figures are recomputed).
REPORT_DAYS_KEY = "kefu_report_days"
ALL_DAYS = -1
# A bulk statement on these tables changes report figures unless its caller says it does not
# (``execution_options(report_days=False)``: it writes only bookkeeping the reports never read,
# or its caller marked the days itself with :func:`mark_report_days`).
REPORT_DAY_TABLES = frozenset({"tickets", "surveys"})
# Deleting rows of these can change what other rows report (foreign keys set to NULL).
REPORT_DAY_DELETES = frozenset({"tickets", "surveys", "users", "departments"})


def report_days_key(channel: str) -> str:
    """The Redis hash of per-UTC-day counters (field ``all``: every day at once)."""
    return f"{channel}:reports-days"


def mark_report_days(session: Session | AsyncSession, days: Any, *, texts: bool = False) -> None:
    """Note days whose report figures (and, with ``texts``, tickets' texts or types) this
    transaction changes; their counters move on once it commits."""
    fields: set[str] = session.info.setdefault(REPORT_DAYS_KEY, set())
    for day in days:
        if day == ALL_DAYS:
            fields.add("all")
            continue
        fields.add(str(day))
        if texts:
            fields.add(f"t{day}")


@event.listens_for(Session, "after_flush")
def _note_flushed_tables(session: Session, _flush: UOWTransaction) -> None:
    written = {
        table.name
        for obj in (*session.new, *session.dirty, *session.deleted)
        if (table := getattr(type(obj), "__table__", None)) is not None
    }
    if written:
        session.info.setdefault(WRITTEN_KEY, set()).update(written)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_tables(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None:
            session = state.session
            session.info.setdefault(WRITTEN_KEY, set()).add(table.name)
            marked = state.execution_options.get("report_days", True)
            if (table.name in REPORT_DAY_TABLES and marked) or (
                state.is_delete and table.name in REPORT_DAY_DELETES
            ):
                mark_report_days(session, (ALL_DAYS,))


# --- SQLite: a process's writers queue in the process, not in SQLite's busy handler -----------
#
# SQLite lets one connection write at a time. A writer that finds the lock taken sleeps in
# SQLite's busy handler, whose naps grow to 25–100 ms: under concurrent writes the lock sits
# idle between one commit and the next sleeper's wake-up, and an unlucky writer waits seconds
# (eight agents moving cards through two web processes: 68 moves/s, p95 0.5 s, max 2 s).
# Within a process, writers wait instead on an asyncio lock taken just before a transaction's
# first write statement and released at its commit or rollback — when SQLite takes and drops
# its own — so they go in turn with no idle gap. Writers in other processes still meet in the
# busy handler, two or three at a time instead of eight.

WRITER_WAIT = 15.0  # seconds a writer waits for its turn, as SQLite's busy timeout
_WRITER_KEY = "kefu_writer_turn"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_writer_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def _writer_lock() -> asyncio.Lock:
    """The running event loop's writer lock (an asyncio lock belongs to one loop)."""
    loop = asyncio.get_running_loop()
    lock = _writer_locks.get(loop)
    if lock is None:
        lock = _writer_locks[loop] = asyncio.Lock()
    return lock


async def _take_turn(lock: asyncio.Lock) -> None:
    try:
        async with asyncio.timeout(WRITER_WAIT):  # (a lock granted as time runs out is not kept)
            await lock.acquire()
    except TimeoutError:  # as SQLite would say after its busy timeout: a 503 to the web
        raise OperationalError(
            "(waiting for another writer)", None, sqlite3.OperationalError("database is locked")
        ) from None


def _before_write(
    conn: Connection, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    if _WRITER_KEY in conn.info or not in_greenlet():  # holding it, or a plain sync caller
        return
    if not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
        return
    lock = _writer_lock()
    await_(_take_turn(lock))
    conn.info[_WRITER_KEY] = lock


def _end_write(conn: Connection) -> None:
    _release_turn(conn.info)


def _release_turn(info: dict[Any, Any]) -> None:
    lock = info.pop(_WRITER_KEY, None)
    if lock is not None:
        lock.release()


def _left_pool_use(_dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
    """A connection back in the pool, or invalidated, holds no turn, however its transaction
    ended."""
    _release_turn(record.info)


def _queue_sqlite_writers(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _before_write)
    event.listen(sync_engine, "commit", _end_write)
    event.listen(sync_engine, "rollback", _end_write)
    event.listen(sync_engine.pool, "checkin", _left_pool_use)
    event.listen(sync_engine.pool, "invalidate", _left_pool_use)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def private_sqlite_file(url: str) -> None:
    """Make a SQLite database file readable by its owner only (0600), creating it empty if it
    does not exist yet, before SQLite would create it with the umask's mode (its -wal and
    -shm files take the database's mode)."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    if not file.parent.is_dir():
        return  # SQLite will refuse to open it anyway; nothing to protect
    # Never open and close an existing database file here: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, and SQLite's locks with it (a second
    # engine in the same process would then corrupt the database). Create it only when absent.
    try:
        os.close(os.open(file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if file.stat().st_mode & 0o077:
            file.chmod(0o600)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine with the settings each backend needs under concurrent use."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _queue_sqlite_writers(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


@dataclass
class Database:
    """One engine and its session factory for the life of a process."""

    url: str
    engine: AsyncEngine = field(init=False)
    sessionmaker: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = create_engine(self.url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


@dataclass(frozen=True)
class Job:
    """An arq job to enqueue once the transaction that asked for it has committed."""

    function: str
    kwargs: dict[str, Any]
    job_id: str | None = None
    defer_seconds: float | None = None


def record_event(session: AsyncSession, kind: str, **payload: Any) -> None:
    """Remember a board event; it is published only if the transaction commits."""
    session.info.setdefault(EVENTS_KEY, []).append({"type": kind, **payload})


def record_job(session: AsyncSession, job: Job) -> None:
    """Remember a job; it is enqueued only if the transaction commits."""
    session.info.setdefault(JOBS_KEY, []).append(job)


async def flush_side_effects(session: AsyncSession, redis: Any, channel: str) -> None:
    """Publish recorded events and enqueue recorded jobs; failures are logged, not raised."""
    events = session.info.pop(EVENTS_KEY, [])
    jobs: list[Job] = session.info.pop(JOBS_KEY, [])
    written: set[str] = session.info.pop(WRITTEN_KEY, set())
    days: set[str] = session.info.pop(REPORT_DAYS_KEY, set())
    if redis is None:
        return
    if written & REPORT_TABLES:
        try:
            await redis.incr(reports_generation_key(channel))
        except Exception:  # cached report figures then live out their expiry
            log.warning("could not bump the reports generation", exc_info=True)
    await _bump_report_days(redis, channel, days)
    for payload in events:
        try:
            await redis.publish(channel, json.dumps(payload, default=str))
        except Exception:  # Redis down: boards catch up on reload
            log.warning("could not publish %s", payload.get("type"), exc_info=True)
    for job in jobs:
        try:
            await redis.enqueue_job(
                job.function,
                _job_id=job.job_id,
                _defer_by=job.defer_seconds,
                **job.kwargs,
            )
        except Exception:  # the sweeper re-enqueues from the database
            log.warning("could not enqueue %s", job.function, exc_info=True)


# A bump that could not be made (Redis away at that moment) is made as "every day" by the next
# commit of this process that reaches Redis; a process that ends first leaves the per-day
# figures to their expiry (:data:`models.services.reports.days.TTL`).
_missed_day_bumps: set[str] = set()


async def _bump_report_days(redis: Any, channel: str, days: set[str]) -> None:
    if channel in _missed_day_bumps:
        days = {"all"}
    if not days:
        return
    fields = ["all"] if "all" in days else sorted(days)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for name in fields:
                pipe.hincrby(report_days_key(channel), name, 1)
            await pipe.execute()
    except Exception:
        _missed_day_bumps.add(channel)
        log.warning("could not bump the reports' days", exc_info=True)
    else:
        _missed_day_bumps.discard(channel)


def discard_side_effects(session: AsyncSession) -> None:
    session.info.pop(EVENTS_KEY, None)
    session.info.pop(JOBS_KEY, None)
    session.info.pop(WRITTEN_KEY, None)
    session.info.pop(REPORT_DAYS_KEY, None)


@asynccontextmanager
async def unit_of_work(
    db: Database, redis: Any = None, channel: str = "kefu:events"
) -> AsyncIterator[AsyncSession]:
    """A session committed on success (then side effects flushed), rolled back on error."""
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            discard_side_effects(session)
            raise
        await flush_side_effects(session, redis, channel)
