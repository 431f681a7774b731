"""Helpers shared by the benchmarks: a scratch database, percentile figures, the demo at scale
and a real ``kefu web`` subprocess."""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from models.settings import REPO_ROOT

BENCH_DIR = REPO_ROOT / "var" / "bench"


def scratch_database_url(name: str) -> str:
    """A fresh SQLite file for this run, or KEFU_BENCH_DATABASE_URL when set (PostgreSQL).

    The file name carries a random part, so two benchmarks running at once (say a long 1M run
    and a short one) never share or delete each other's database; it is removed when the
    process exits.
    """
    url = os.environ.get("KEFU_BENCH_DATABASE_URL")
    if url:
        return url
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path: Path = BENCH_DIR / f"{name}-{secrets.token_hex(4)}.db"
    for suffix in ("", "-wal", "-shm"):
        atexit.register(Path(str(path) + suffix).unlink, missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"n": 0}
    q = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else [ordered[0]] * 99
    )
    return {
        "n": len(ordered),
        "p50_ms": round(q[49], 2),
        "p95_ms": round(q[94], 2),
        "max_ms": round(ordered[-1], 2),
    }


# --- a real `kefu web` over a scratch database (the signin and http benchmarks) ---------------

CLAIM_KEY = "kefu-test:claim"  # the tests' claim: a test run never takes a claimed index
STARTUP_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def claim_redis_db(base: str, owner: str) -> int:
    """The first Redis index (1–15) nobody claimed, flushed; index 0 is never used."""
    import redis as redis_lib

    for index in range(1, 16):
        client = redis_lib.Redis.from_url(f"{base}/{index}")
        try:
            if client.set(CLAIM_KEY, owner, nx=True, ex=3600):
                client.flushdb()
                client.set(CLAIM_KEY, owner, ex=3600)
                return index
        finally:
            client.close()
    raise RuntimeError("every Redis database index is claimed")


def release_redis_db(url: str, owner: str) -> None:
    """Flush the index claimed by ``owner`` (and nothing else)."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(url)
    try:
        if client.get(CLAIM_KEY) == owner.encode():
            client.flushdb()
    finally:
        client.close()


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def start_server(port: int, log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    """``kefu web`` on ``port``, with this process's KEFU_* environment."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                *("-m", "web.cli", "web", "--port", str(port), "--workers", str(workers)),
            ],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kefu web exited ({process.returncode}):\n{log_tail(log)}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kefu web did not become healthy")
            await asyncio.sleep(0.2)


# --- the demo at scale (the board and http benchmarks) ----------------------------------------


async def fill_demo(url: str, tickets: int) -> dict[str, Any]:
    """``demo.fill`` of ``tickets`` tickets into ``url`` (tables created), then ANALYZE (and
    on SQLite a checkpoint, so the first writes measured do not copy the load's WAL back)."""
    import models
    from models.db import Database, unit_of_work
    from models.services.demo import seed

    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(models.Base.metadata.create_all)
        started = time.perf_counter()
        async with unit_of_work(db) as session:
            result = await seed.fill(session, tickets=tickets)
        filled = round(time.perf_counter() - started, 1)
        # After a bulk load the planner needs statistics (autovacuum would catch up later).
        async with db.engine.connect() as conn:
            if db.dialect == "postgresql":
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                await conn.exec_driver_sql("ANALYZE")
                await conn.commit()
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"tickets": result.tickets, "fill_seconds": filled}
    finally:
        await db.dispose()


async def count_tickets(url: str) -> int:
    """How many tickets ``url`` holds (a database filled by an earlier run)."""
    from sqlalchemy import func, select

    from models.db import Database
    from models.ticket import Ticket

    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)
    finally:
        await db.dispose()


async def pending_cards(url: str, count: int, username: str = "lead") -> list[tuple[int, int]]:
    """(id, version) of pending tickets ``username`` can take, read through the board service."""
    from sqlalchemy import select

    from models.db import Database
    from models.enums import TicketStatus
    from models.services.admin import users
    from models.services.tickets import board
    from models.user import User

    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            lead = await session.scalar(select(User).where(User.username == username))
            assert lead is not None
            actor = users.actor_for(lead)
            cards: list[tuple[int, int]] = []
            offset: int | None = 0
            while offset is not None and len(cards) < count:
                page, offset = await board.column_cards(
                    session, actor, TicketStatus.PENDING, board.BoardFilters(), offset=offset
                )
                cards += [(c.id, c.version) for c in page]
            return cards[:count]
    finally:
        await db.dispose()
