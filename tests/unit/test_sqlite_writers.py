"""SQLite writers in one process take turns in arrival order (models.db's writer queue), the
turn passes on at commit, rollback or a connection's return, and a writer kept waiting past
the busy timeout gets SQLite's own "database is locked" (a 503 on the web)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models import db


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)"))
    yield engine
    await engine.dispose()


async def _write(
    sessions: async_sessionmaker[AsyncSession],
    who: str,
    order: list[str],
    *,
    hold: float = 0.0,
    fail: bool = False,
) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT count(*) FROM log"))  # reads wait for nobody
        await session.execute(text("INSERT INTO log (who) VALUES (:who)"), {"who": who})
        await asyncio.sleep(hold)  # e.g. rendering the answer while the transaction is open
        if fail:
            raise RuntimeError(who)
        order.append(who)
        await session.commit()


async def _written(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(text("SELECT who FROM log ORDER BY id"))).all())


async def test_writers_commit_in_the_order_they_arrived(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer arrives when its first write statement asks for the turn: record that order
    # (connecting and the read before it take the thread pool a varying time under load).
    arrived: list[str] = []
    take_turn = db._take_turn

    async def recorded(lock: asyncio.Lock) -> None:
        task = asyncio.current_task()
        assert task is not None
        arrived.append(task.get_name())
        await take_turn(lock)

    monkeypatch.setattr(db, "_take_turn", recorded)
    sessions = async_sessionmaker(engine)
    order: list[str] = []
    first = asyncio.create_task(_write(sessions, "w0", order, hold=0.3), name="w0")
    await asyncio.sleep(0.05)
    waiting = []
    for i in range(1, 9):  # arriving while w0 writes: SQLite's busy handler would pick at random
        who = f"w{i}"
        waiting.append(asyncio.create_task(_write(sessions, who, order, hold=0.01), name=who))
        await asyncio.sleep(0.02)
    await asyncio.gather(first, *waiting)
    assert sorted(arrived) == [f"w{i}" for i in range(9)] and arrived[0] == "w0"
    assert order == arrived
    assert await _written(engine) == arrived


async def test_a_failed_writer_passes_the_turn_on(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine)
    order: list[str] = []
    failing = asyncio.create_task(_write(sessions, "failed", order, hold=0.1, fail=True))
    await asyncio.sleep(0.03)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _write(sessions, "next", order)
    assert loop.time() - started < 1.0  # not the busy timeout
    with pytest.raises(RuntimeError):
        await failing
    assert await _written(engine) == ["next"]


async def test_a_connection_returned_without_commit_holds_no_turn(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO log (who) VALUES ('abandoned')"))
    # closed without commit: rolled back, and the next writer goes straight through
    await asyncio.wait_for(_write(async_sessionmaker(engine), "next", []), 2.0)
    assert await _written(engine) == ["next"]


async def test_a_writer_waiting_past_the_busy_timeout_is_told_the_database_is_locked(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "WRITER_WAIT", 0.2)
    sessions = async_sessionmaker(engine)
    holder = asyncio.create_task(_write(sessions, "slow", [], hold=1.0))
    await asyncio.sleep(0.05)
    with pytest.raises(OperationalError, match="database is locked"):
        await _write(sessions, "impatient", [])
    await holder
    assert await _written(engine) == ["slow"]
