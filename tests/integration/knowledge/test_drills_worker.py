"""Drills: the worker is killed, Redis restarts — every inquiry is still triaged exactly once.

Both drills register a burst of inquiries (``KEFU_DRILL_INQUIRIES``, default 200) through
the services, as the portal and the API do, and run the real worker (``kefu worker``) as a
subprocess with the run's settings. The test plays the process supervisor: it restarts what
died. The database is the truth; the sweeper (the SLA tick's untriaged sweep, called here as
the cron calls it, at a moment past its two-minute grace) must bring back whatever Redis lost.

"Exactly once" is read from the audit trail: one request-type decision by the triage actor per
ticket. A drill fails if the burst stalls (no ticket triaged for a while even after a sweep);
the failure lists the stuck tickets and what Redis still holds for them.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.base import utcnow
from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.escalation import engine
from models.services.tickets import commands
from models.settings import REPO_ROOT, get_settings
from models.ticket import Ticket
from tests.conftest import _TMP

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("reference")]

INQUIRIES = int(os.environ.get("KEFU_DRILL_INQUIRIES", "200"))
BATCH = 50
# No ticket triaged for this long (after a sweep) means the burst is stuck. The first worker
# of a run may train the bootstrap model first, hence the longer first wait.
STALL_SECONDS = 60
FIRST_PROGRESS_SECONDS = 300
TEXTS = [
    "订单 {n} 还没有发货，请帮忙查一下物流",
    "退款申请提交一周了，什么时候到账？订单 {n}",
    "你们客服态度太差了，我要投诉！工单 {n}",
    "App 登录一直报错 500，无法下单（{n}）",
    "How do I change the delivery address of order {n}?",
    "The blender I received (order {n}) is broken, I want a replacement.",
    "发票开错了抬头，需要重开，订单号 {n}",
    "会员积分 {n} 没有到账",
]


# --- processes the test supervises ------------------------------------------------------------


class WorkerProcess:
    """``kefu worker`` with the run's environment (plus overrides), restartable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "worker"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.alive and self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class RedisProcess:
    """A private redis-server without persistence: a restart loses every queued job."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def worker_log() -> Path:
    return _TMP / f"drill-worker-{time.time_ns()}.log"


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    folder = _TMP / f"redis-{time.time_ns()}"
    folder.mkdir()
    server = RedisProcess(folder)
    server.start()
    yield server
    server.kill()


# --- the burst and what became of it ------------------------------------------------------


async def _pool(url: str) -> Any:
    return await create_pool(
        RedisSettings.from_dsn(url), default_queue_name=get_settings().queue_name
    )


async def register_burst(db: Database, redis: Any, count: int, start: int = 0) -> list[int]:
    """``count`` inquiries through the services; their triage jobs go to ``redis``."""
    channel = get_settings().event_channel
    rng = random.Random(start)
    ids: list[int] = []
    async with unit_of_work(db, redis, channel) as s:
        customer = await registry.register(
            s,
            Actor.system("drill"),
            registry.CustomerInput(name=f"演练客户 {start}", phone=f"139{start:08d}"),
        )
    for first in range(start, start + count, BATCH):
        async with unit_of_work(db, redis, channel) as s:
            for n in range(first, min(start + count, first + BATCH)):
                ticket, _ = await commands.create(
                    s,
                    Actor.system("portal"),
                    commands.TicketInput(
                        customer_id=customer.id,
                        description=rng.choice(TEXTS).format(n=n),
                        channel=Channel.PORTAL,
                    ),
                )
                ids.append(ticket.id)
    return ids


async def untriaged(db: Database) -> list[int]:
    async with db.sessionmaker() as s:
        return list(
            (
                await s.scalars(
                    select(Ticket.id).where(Ticket.triaged_at.is_(None)).order_by(Ticket.id)
                )
            ).all()
        )


async def triage_decisions(db: Database) -> dict[int, int]:
    """Per ticket: how many times triage decided its request type."""
    async with db.sessionmaker() as s:
        rows = await s.execute(
            select(AuditEvent.ticket_id, func.count())
            .where(AuditEvent.actor_label == "triage", AuditEvent.field == "request_type")
            .group_by(AuditEvent.ticket_id)
        )
        return {ticket_id: n for ticket_id, n in rows.all()}


async def sweep(db: Database, redis: Any) -> int:
    """The SLA tick as the cron runs it, at a moment when every untriaged ticket is overdue
    for its triage (past the sweeper's grace)."""
    later = utcnow() + engine.UNTRIAGED_AFTER + timedelta(minutes=1)
    async with unit_of_work(db, redis, get_settings().event_channel) as s:
        report = await engine.tick(s, now=later)
    return report.requeued_triage


async def wait_for_progress(db: Database, below: int, worker: WorkerProcess) -> None:
    """Until fewer than ``below`` tickets are untriaged (the worker is mid-burst)."""
    deadline = time.monotonic() + FIRST_PROGRESS_SECONDS
    while len(await untriaged(db)) >= below:
        assert worker.alive, "the worker died on its own"
        assert time.monotonic() < deadline, "the worker made no progress"
        await asyncio.sleep(0.2)


async def _stuck_report(db: Database, redis: Any, ids: list[int]) -> str:
    lines = []
    for ticket_id in ids[:10]:
        job, progress = f"arq:job:triage:{ticket_id}", f"arq:in-progress:triage:{ticket_id}"
        lines.append(
            f"ticket {ticket_id}: job key {'present' if await redis.exists(job) else 'absent'}, "
            f"in-progress ttl {await redis.ttl(progress)}s"
        )
    return "; ".join(lines)


async def drain(db: Database, redis: Any, worker: WorkerProcess) -> None:
    """Supervise until every ticket is triaged: restart a dead worker, sweep when idle,
    fail when nothing moves any more even after a sweep."""
    last = len(await untriaged(db))
    moved_at = time.monotonic()
    swept = False
    while last:
        await asyncio.sleep(0.5)
        if not worker.alive:
            worker.start()  # what systemd / docker's restart policy does
        now_left = len(await untriaged(db))
        if now_left < last:
            last, moved_at, swept = now_left, time.monotonic(), False
            continue
        if time.monotonic() - moved_at > STALL_SECONDS:
            if swept:
                stuck = await untriaged(db)
                pytest.fail(
                    f"{len(stuck)} inquiries never triaged after a sweep: "
                    f"{await _stuck_report(db, redis, stuck)}"
                )
            await sweep(db, redis)
            swept, moved_at = True, time.monotonic()


async def assert_exactly_once(db: Database, ids: list[int]) -> None:
    assert await untriaged(db) == []
    decisions = await triage_decisions(db)
    twice = {i: n for i, n in decisions.items() if n != 1}
    assert twice == {}, f"triaged more than once: {twice}"
    assert set(decisions) == set(ids), f"{len(set(ids) - set(decisions))} without a decision"


# --- the drills -------------------------------------------------------------------------------


async def in_flight(db: Database, redis: Any) -> list[int]:
    """Untriaged tickets whose triage job a worker has started (arq's in-progress lock)."""
    keys = [key async for key in redis.scan_iter(match="arq:in-progress:triage:*")]
    started = {int(key.decode().rsplit(":", 1)[1]) for key in keys}
    return sorted(started & set(await untriaged(db)))


async def kill_9_mid_job(db: Database, redis: Any, worker: WorkerProcess) -> list[int]:
    """kill -9 the worker while it is running triage jobs; returns the stranded tickets.

    A job may finish between the look and the kill; then the worker is started again and
    the drill tries once more, so the kill always lands on jobs in flight.
    """
    for _ in range(5):
        while not await in_flight(db, redis):
            assert worker.alive, "the worker died on its own"
            await asyncio.sleep(0.01)
        worker.kill9()
        stranded = await in_flight(db, redis)
        if stranded:
            return stranded
        worker.start()
    pytest.fail("could not catch the worker with a triage job in flight")


async def test_kill_9_the_worker_mid_burst(db: Database, redis: Any, worker_log: Path) -> None:
    ids = await register_burst(db, redis, INQUIRIES)
    worker = WorkerProcess({}, worker_log)
    worker.start()
    try:
        await wait_for_progress(db, below=INQUIRIES - INQUIRIES // 5, worker=worker)
        stranded = await kill_9_mid_job(db, redis, worker)  # jobs in flight, most still queued
        assert 0 < len(stranded) <= len(await untriaged(db)) < INQUIRIES + 1
        worker.start()
        await drain(db, redis, worker)
    finally:
        worker.stop()
    await assert_exactly_once(db, ids)


async def test_restart_redis_mid_burst(
    db: Database, private_redis: RedisProcess, worker_log: Path
) -> None:
    pool = await _pool(private_redis.url)
    worker = WorkerProcess({"KEFU_REDIS_URL": private_redis.url}, worker_log)
    try:
        ids = await register_burst(db, pool, INQUIRIES)
        worker.start()
        await wait_for_progress(db, below=INQUIRIES - INQUIRIES // 5, worker=worker)

        private_redis.kill()  # every queued job is gone with it
        # Inquiries keep arriving while Redis is down: they are saved, their jobs are not.
        ids += await register_burst(db, pool, BATCH, start=INQUIRIES)
        private_redis.start()
        await pool.aclose()
        pool = await _pool(private_redis.url)

        await drain(db, pool, worker)
    finally:
        worker.stop()
        await pool.aclose()
    await assert_exactly_once(db, ids)
