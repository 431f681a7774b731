"""Drill: Redis dies and comes back empty in the middle of a burst of inquiries.

A real ``kefu web`` (uvicorn, subprocess) and the real ``kefu worker`` run against a private
redis-server of this test (never the shared one). Portal and API submissions arrive
concurrently; a third of the way in, Redis is killed; two thirds in, it is started again,
empty. Nothing may answer 5xx, every inquiry must be stored once and triaged exactly once
(the worker reconnects by itself — it is never restarted here — and the untriaged sweeper
re-queues what Redis lost), and a staff member signed in before the outage is still signed
in afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.services.admin import api_keys
from models.services.common.actor import Actor
from models.settings import REPO_ROOT
from models.ticket import Ticket
from tests.conftest import _TMP
from tests.integration.knowledge.test_drills_worker import (
    RedisProcess,
    WorkerProcess,
    _pool,
    assert_exactly_once,
    drain,
    private_redis,
    sweep,
    untriaged,
    wait_for_progress,
    worker_log,
)

pytestmark = [pytest.mark.slow, pytest.mark.drill, pytest.mark.usefixtures("reference")]
__all__ = ["private_redis", "worker_log"]  # fixtures used by name below

INQUIRIES = int(os.environ.get("KEFU_REDIS_DRILL_INQUIRIES", "60"))
CONCURRENCY = 4
STARTUP_SECONDS = 60
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
FORM_KEY_RE = re.compile(r'name="form_key" value="([^"]+)"')
NO_EMBEDDER = _TMP / "no-embedding-model"


async def reached(event: asyncio.Event, burst: asyncio.Future[Any]) -> None:
    """Until ``event`` is set; raises at once if the burst failed before it was."""
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({waiter, burst}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        burst.result()


class WebProcess:
    """``uvicorn web.asgi:app`` on a free port with the run's settings plus overrides."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "web.asgi:app",
                    "--fd",
                    str(sock.fileno()),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                pass_fds=(sock.fileno(),),
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        sock.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert self.process.poll() is None, "the web server exited"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.1)

    def tail(self, lines: int = 60) -> str:
        """The end of the server's log, for a failure message."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def web(private_redis: RedisProcess) -> Iterator[WebProcess]:
    server = WebProcess(
        {"KEFU_REDIS_URL": private_redis.url, "KEFU_PORTAL_RATE_LIMIT": "100000"},
        _TMP / f"drill-web-{time.time_ns()}.log",
    )
    server.start()
    yield server
    server.stop()


async def staff_client(url: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=True)
    page = await client.get("/login")
    token = CSRF_RE.search(page.text)
    assert token
    response = await client.post(
        "/login",
        data={"username": "agent", "password": "kefu-agent", "_csrf_token": token.group(1)},
    )
    assert response.status_code == 200 and str(response.url).endswith("/board")
    return client


async def portal_submission(url: str, n: int) -> tuple[str, int]:
    description = f"演练 {n}：订单 {n} 还没有发货，请帮忙查一下物流"
    async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
        page = await browser.get("/portal")
        assert page.status_code == 200
        token, key = CSRF_RE.search(page.text), FORM_KEY_RE.search(page.text)
        assert token and key
        response = await browser.post(
            "/portal",
            data={
                "_csrf_token": token.group(1),
                "form_key": key.group(1),
                "name": "演练客户",
                "phone": f"139{n:08d}",
                "email": "",
                "description": description,
                "order_number": f"SO-{n}",
            },
        )
    return description, response.status_code


async def api_submission(url: str, key: str, n: int) -> tuple[str, int]:
    description = f"Drill {n}: the blender of order {n} is broken, I want a replacement."
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/api/v1/inquiries",
            json={"name": "Drill", "phone": f"138{n:08d}", "description": description},
            headers={"X-API-Key": key},
        )
    if response.status_code == 201:
        assert response.json()["number"]
    return description, response.status_code


async def stored_descriptions(db: Database) -> list[str]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Ticket.description))).all())


async def test_redis_dies_and_returns_empty_mid_burst(
    db: Database, private_redis: RedisProcess, web: WebProcess, worker_log: Path
) -> None:
    async with unit_of_work(db) as s:
        _, key = await api_keys.create(s, Actor.system("drill"), "drill")
    staff = await staff_client(web.url)
    worker = WorkerProcess(
        # Lexical triage and retrieval (no embedding model): this drill is about Redis, and
        # the first training run of an embedding pipeline takes minutes on a busy machine.
        {
            "KEFU_REDIS_URL": private_redis.url,
            "KEFU_EMBEDDING_MODEL": str(NO_EMBEDDER),
            "KEFU_RETRIEVAL_MODEL": "same",
        },
        worker_log,
    )
    worker.start()
    pool = await _pool(private_redis.url)
    results: list[tuple[str, int]] = []
    try:
        # A first inquiry, triaged before the drill: the worker is up and its models loaded.
        results.append(await api_submission(web.url, key, -1))
        await wait_for_progress(db, below=1, worker=worker)

        gate = asyncio.Semaphore(CONCURRENCY)
        one_third, two_thirds = asyncio.Event(), asyncio.Event()

        async def one(n: int) -> None:
            async with gate:
                if n % 2:
                    results.append(await api_submission(web.url, key, n))
                else:
                    results.append(await portal_submission(web.url, n))
            done = len(results) - 1
            if done >= INQUIRIES // 3:
                one_third.set()
            if done >= 2 * INQUIRIES // 3:
                two_thirds.set()

        burst = asyncio.gather(*(one(n) for n in range(INQUIRIES)))
        await reached(one_third, burst)
        private_redis.kill()
        health = await staff.get("/health")
        assert health.json() == {"status": "degraded", "database": "ok", "redis": "down"}
        assert (await staff.get("/board")).status_code == 200, "signed in without Redis"
        await reached(two_thirds, burst)
        private_redis.start()  # empty: every queued job and every key is gone
        await burst

        board = await staff.get("/board", follow_redirects=False)
        assert board.status_code == 200, "still signed in after Redis came back empty"
        assert (await staff.get("/health")).json() == {"status": "ok"}

        await pool.aclose()
        pool = await _pool(private_redis.url)
        await sweep(db, pool)  # what the SLA tick's untriaged sweep does after its grace
        await drain(db, pool, worker)
        assert worker.starts == 1 and worker.alive, "the worker rode out the outage itself"
    finally:
        worker.stop()
        await pool.aclose()
        await staff.aclose()

    errors = [(d, status) for d, status in results if status >= 500]
    assert errors == [], web.tail()
    assert {status for _, status in results} == {201, 303}, results
    submitted = sorted(d for d, _ in results)
    assert sorted(await stored_descriptions(db)) == submitted, "every inquiry stored once"
    async with db.sessionmaker() as s:
        ids = list((await s.scalars(select(Ticket.id))).all())
    assert await untriaged(db) == []
    await assert_exactly_once(db, ids)
