"""Questions the web asks the worker and waits for, over the shared Redis (``asks``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from models.services.common import asks
from models.settings import get_settings
from tests.integration.knowledge.test_drills_worker import RedisProcess, _pool, private_redis

__all__ = ["private_redis"]  # the fixture, used by name

TOPIC = "test-topic"


@contextlib.asynccontextmanager
async def serving(
    redis: Any, answer: Callable[[dict[str, Any]], Awaitable[Any]], **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(asks.serve(redis, TOPIC, answer, **options))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def topic_key() -> str:
    return f"{get_settings().queue_name}:ask:{TOPIC}"


async def test_a_question_gets_its_own_answer(redis: Any) -> None:
    async def answer(question: dict[str, Any]) -> Any:
        await asyncio.sleep(0.05 if question["n"] % 2 else 0)  # out of order
        return {"twice": question["n"] * 2, "text": "好的"}

    async with serving(redis, answer):
        answers = await asyncio.gather(
            *(asks.ask(redis, TOPIC, {"n": n}, wait=30) for n in range(12))
        )
    assert answers == [{"twice": n * 2, "text": "好的"} for n in range(12)]
    assert [k async for k in redis.scan_iter(match=f"{topic_key()}*")] == []


async def test_several_workers_share_the_questions_each_answered_once(redis: Any) -> None:
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def by(name: str) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        async def answer(question: dict[str, Any]) -> Any:
            seen[name].append(question["n"])
            await asyncio.sleep(0.02)
            return name

        return answer

    async with serving(redis, by("a"), concurrency=2), serving(redis, by("b"), concurrency=2):
        answers = await asyncio.gather(
            *(asks.ask(redis, TOPIC, {"n": n}, wait=30) for n in range(20))
        )
    assert sorted(seen["a"] + seen["b"]) == list(range(20)), "each question answered once"
    assert seen["a"] and seen["b"], "both workers took questions"
    assert all(answers[n] == ("a" if n in seen["a"] else "b") for n in range(20))


async def test_without_a_worker_the_question_is_taken_back(redis: Any) -> None:
    started = time.monotonic()
    assert await asks.ask(redis, TOPIC, {"n": 1}, wait=0.3) is None
    assert time.monotonic() - started >= 0.3
    assert await redis.llen(topic_key()) == 0, "no worker will spend time on it later"


async def test_a_failing_answer_replies_at_once(redis: Any) -> None:
    async def answer(question: dict[str, Any]) -> Any:
        raise RuntimeError("no index")

    async with serving(redis, answer) as worker:
        started = time.monotonic()
        assert await asks.ask(redis, TOPIC, {"n": 1}, wait=20) is None
        assert time.monotonic() - started < 10, "the caller did not wait out its timeout"
        assert not worker.done(), "the worker goes on"


async def test_a_worker_skips_questions_nobody_waits_for_any_more(redis: Any) -> None:
    answered: list[Any] = []

    async def answer(question: dict[str, Any]) -> Any:
        answered.append(question["n"])
        return question["n"]

    # Left on the list by a caller that died: long past its deadline; and a malformed one.
    stale = {"id": "x", "until": time.time() - 60, "question": {"n": 0}}
    await redis.lpush(topic_key(), json.dumps(stale), "{not json")
    async with serving(redis, answer):
        assert await asks.ask(redis, TOPIC, {"n": 1}, wait=20) == 1
    assert answered == [1]


async def test_waiting_questions_are_capped_and_expire(redis: Any) -> None:
    async def push(n: int) -> None:
        assert await asks.ask(redis, TOPIC, {"n": n}, wait=0.01) is None

    # Callers that give up leave nothing; a list left by callers that died expires.
    await asyncio.gather(*(push(n) for n in range(5)))
    for n in range(asks.MAX_WAITING + 5):
        await redis.lpush(topic_key(), json.dumps({"n": n}))
    await asks.ask(redis, TOPIC, {"n": -1}, wait=0.01)
    assert await redis.llen(topic_key()) <= asks.MAX_WAITING
    assert 0 < await redis.ttl(topic_key()) <= asks.IDLE_EXPIRE


async def test_a_worker_rides_out_a_redis_restart(private_redis: RedisProcess) -> None:
    async def answer(question: dict[str, Any]) -> Any:
        return question["n"] + 1

    pool = await _pool(private_redis.url)
    try:
        async with serving(pool, answer):
            assert await asks.ask(pool, TOPIC, {"n": 1}, wait=20) == 2
            private_redis.kill()
            await asyncio.sleep(asks.POP_SECONDS * 2)  # the worker's pops fail meanwhile
            private_redis.start()
            answer_after = None
            for _ in range(60):  # the caller's own connection comes back too
                with contextlib.suppress(Exception):
                    answer_after = await asks.ask(pool, TOPIC, {"n": 2}, wait=5)
                    break
                await asyncio.sleep(0.5)
            assert answer_after == 3
    finally:
        await pool.aclose()
