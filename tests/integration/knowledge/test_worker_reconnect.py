"""``kefu worker`` rides out a Redis outage: it reconnects with backoff, never exits."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from arq.worker import func

from tests.integration.knowledge.test_drills_worker import RedisProcess, _pool, private_redis
from workers.main import supervise

__all__ = ["private_redis"]  # the fixture, used by name

WAIT_SECONDS = 120


async def until(condition: Any, task: asyncio.Task[None], what: str) -> None:
    """Until ``condition()`` holds; fails if the worker task ended or nothing happens."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert not task.done(), f"the worker exited while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def restart_redis(
    private_redis: RedisProcess, worker: asyncio.Task[None], caplog: pytest.LogCaptureFixture
) -> None:
    """Kill Redis, wait until the worker notices, start it again (empty)."""
    private_redis.kill()
    await until(lambda: "reconnecting in" in caplog.text, worker, "the reconnect")
    private_redis.start()


async def test_the_worker_reconnects_after_redis_restarts(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[int] = []

    async def note(ctx: dict[str, Any], n: int) -> None:
        done.append(n)

    monkeypatch.setenv("KEFU_REDIS_URL", private_redis.url)
    from models.settings import reset_settings

    reset_settings()
    worker = asyncio.create_task(
        supervise(
            functions=[func(note, name="note")],
            cron_jobs=[],
            ctx={"triage": None},  # no models: this worker only notes numbers
            poll_delay=0.05,
        )
    )
    try:
        pool = await _pool(private_redis.url)
        await pool.enqueue_job("note", 1)
        await until(lambda: done == [1], worker, "the first job")
        await pool.aclose()

        with caplog.at_level(logging.WARNING, logger="workers.main"):
            await restart_redis(private_redis, worker, caplog)
            pool = await _pool(private_redis.url)
            await pool.enqueue_job("note", 2)
            await until(lambda: done == [1, 2], worker, "a job after the restart")
            await pool.aclose()
        assert not worker.done()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        monkeypatch.undo()
        reset_settings()


async def test_a_job_running_when_redis_dies_is_allowed_to_finish(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker does not cancel the jobs in flight when it loses Redis: they need only the
    database, and a job cancelled inside a SQLite statement can keep the write lock."""
    started, redis_gone = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def long_job(ctx: dict[str, Any]) -> None:
        started.set()
        await redis_gone.wait()
        await asyncio.sleep(0.5)  # still working after the worker noticed the outage
        finished.append("done")

    monkeypatch.setenv("KEFU_REDIS_URL", private_redis.url)
    from models.settings import reset_settings

    reset_settings()
    worker = asyncio.create_task(
        supervise(
            functions=[func(long_job, name="long_job")],
            cron_jobs=[],
            ctx={"triage": None},
            poll_delay=0.05,
        )
    )
    try:
        pool = await _pool(private_redis.url)
        await pool.enqueue_job("long_job")
        await until(started.is_set, worker, "the job to start")
        await pool.aclose()
        with caplog.at_level(logging.WARNING, logger="workers.main"):
            private_redis.kill()
            await until(lambda: "reconnecting in" in caplog.text, worker, "the outage noticed")
            redis_gone.set()
            await until(lambda: finished == ["done"], worker, "the job to finish")
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        monkeypatch.undo()
        reset_settings()


class _Answers:
    """The worker's runtime for this test: answers every suggestion query with article 7."""

    async def search(self, db: Any, query: str, k: int, locale: str | None = None) -> list[Any]:
        from models.services.knowledge.kb import Hit

        return [Hit(7, 0.9)]


async def test_the_worker_answers_suggestion_queries_again_after_redis_restarts(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Portal and chat suggestions are questions the worker answers outside arq's queue
    (``asks``); the reconnected worker must listen again on its new connection."""
    from models.services.common import asks
    from models.services.common.jobs import SUGGEST
    from models.settings import reset_settings

    monkeypatch.setenv("KEFU_REDIS_URL", private_redis.url)
    reset_settings()
    question = {"query": "退款多久到账", "locale": "zh_CN", "k": 3}

    async def nothing(ctx: dict[str, Any]) -> None:
        pass

    worker = asyncio.create_task(
        supervise(
            functions=[func(nothing, name="nothing")],  # arq wants one
            cron_jobs=[],
            ctx={"triage": _Answers()},
            poll_delay=0.05,
        )
    )
    try:
        pool = await _pool(private_redis.url)
        assert await asks.ask(pool, SUGGEST, question, wait=30) == [[7, 0.9]]
        await pool.aclose()
        with caplog.at_level(logging.WARNING, logger="workers.main"):
            await restart_redis(private_redis, worker, caplog)
            pool = await _pool(private_redis.url)
            assert await asks.ask(pool, SUGGEST, question, wait=60) == [[7, 0.9]]
            await pool.aclose()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        monkeypatch.undo()
        reset_settings()


async def test_a_worker_does_not_ask_redis_about_the_jobs_it_is_running(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each poll reads the queue's first ids, the running jobs among them; arq alone checks
    each in Redis (one WATCH apiece) before skipping it, so a burst of slow jobs through four
    slots took several checks for every job started. Now: one WATCH per job it starts."""
    done: list[int] = []

    async def slow(ctx: dict[str, Any], n: int) -> None:
        await asyncio.sleep(0.03 + 0.06 * (n % 5))  # they end at different times
        done.append(n)

    monkeypatch.setenv("KEFU_REDIS_URL", private_redis.url)
    from models.settings import reset_settings

    reset_settings()
    pool = await _pool(private_redis.url)
    try:
        for n in range(20):
            await pool.enqueue_job("slow", n)
        before = (await pool.info("commandstats")).get("cmdstat_watch", {}).get("calls", 0)
        await supervise(
            burst=True,
            functions=[func(slow, name="slow")],
            cron_jobs=[],
            ctx={"triage": None},  # no models: this worker only sleeps
            poll_delay=0.02,
            max_jobs=4,
        )
        after = (await pool.info("commandstats")).get("cmdstat_watch", {}).get("calls", 0)
    finally:
        await pool.aclose()
        monkeypatch.undo()
        reset_settings()
    assert sorted(done) == list(range(20))
    assert after - before == 20, "one WATCH for each job started, none for running ones"
