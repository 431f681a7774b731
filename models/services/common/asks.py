"""Questions a web request asks the worker and waits for: request and reply over Redis lists.

An arq job costs its caller the worker's polling (``poll_delay``, ~25 ms on average) and its
own polling of the result (another ~10 ms), on top of the work; a portal visitor's suggestion
is ~20 ms of work. Here the caller pushes its question onto the topic's list and waits on a
blocking pop of its own reply list; every worker process waits on a blocking pop of the topic's
list (:func:`serve`). Redis hands each question to one waiting worker and each reply to the
caller the moment it is pushed, so a question costs two round trips. Several web and worker
processes on several machines share the lists; nothing is held in a process.

A question nobody answers in time is taken back off the list by its caller (and, if a worker
took it meanwhile, its reply expires unread); the topic's list expires when no caller pushes
for :data:`IDLE_EXPIRE` seconds, so questions never pile up while no worker runs. Workers skip
a question older than its deadline (:data:`LATE_GRACE` seconds of allowed clock skew).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from models.settings import get_settings

__all__ = ["ask", "serve"]

log = logging.getLogger(__name__)

#: A topic's list of waiting questions expires this long after the last one was pushed.
IDLE_EXPIRE: Final = 30
#: At most this many questions wait on a topic's list (the oldest are dropped beyond).
MAX_WAITING: Final = 200
#: A reply nobody reads expires after this long.
REPLY_EXPIRE: Final = 10
#: A worker still answers a question this long past its deadline (clocks of different
#: machines differ a little); later ones are dropped unanswered.
LATE_GRACE: Final = 2.0
#: How long a worker's blocking pop waits before it pops again.
POP_SECONDS: Final = 1.0

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def _topic_key(topic: str) -> str:
    return f"{get_settings().queue_name}:ask:{topic}"


def _reply_key(topic: str, ask_id: str) -> str:
    return f"{_topic_key(topic)}:reply:{ask_id}"


async def ask(redis: Any, topic: str, question: dict[str, Any], wait: float) -> Any:
    """Ask a worker ``question`` on ``topic`` and return its answer (JSON-decoded).

    Returns None if no answer comes within ``wait`` seconds or the worker could not answer;
    Redis errors propagate (the caller has its own fallback).
    """
    ask_id = uuid.uuid4().hex
    key = _topic_key(topic)
    message = json.dumps(
        {"id": ask_id, "until": time.time() + wait, "question": question}, ensure_ascii=False
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, message)
        pipe.ltrim(key, 0, MAX_WAITING - 1)
        pipe.expire(key, IDLE_EXPIRE)
        await pipe.execute()
    popped = await redis.blpop([_reply_key(topic, ask_id)], timeout=wait)
    if popped is None:
        # Nobody took it: take it back, so that no worker spends time on it later.
        await redis.lrem(key, 1, message)
        return None
    return json.loads(popped[1])


async def _next_question(redis: Any, key: str, topic: str) -> dict[str, Any] | None:
    """The next question on ``key`` still worth answering; None after a pop that found none,
    a late or malformed one, or a Redis error (after a pause)."""
    try:
        popped = await redis.brpop([key], timeout=POP_SECONDS)
    except Exception:
        log.warning("waiting for %s questions failed; retrying", topic, exc_info=True)
        await asyncio.sleep(POP_SECONDS)
        return None
    if popped is None:
        return None
    try:
        message: dict[str, Any] = json.loads(popped[1])
        if time.time() <= float(message["until"]) + LATE_GRACE:
            return message
    except (ValueError, KeyError, TypeError):
        log.warning("dropped a malformed %s question", topic)
    return None


async def serve(redis: Any, topic: str, answer: Handler, *, concurrency: int = 8) -> None:
    """Answer questions on ``topic`` with ``answer(question)`` until cancelled.

    Up to ``concurrency`` questions are answered at once (answers that embed text share one
    encoder call that way); beyond that, questions wait on the list, for another worker to
    take. A failing answer replies None, so its caller falls back at once. Redis errors are
    logged and the pop is retried after a pause: the worker's own supervision replaces the
    connection when Redis is gone for good.
    """
    key = _topic_key(topic)
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def reply(message: dict[str, Any]) -> None:
        try:
            try:
                result = await answer(message["question"])
            except Exception:
                log.exception("could not answer a %s question", topic)
                result = None
            reply_key = _reply_key(topic, str(message["id"]))
            async with redis.pipeline(transaction=True) as pipe:
                pipe.lpush(reply_key, json.dumps(result, ensure_ascii=False))
                pipe.expire(reply_key, REPLY_EXPIRE)
                await pipe.execute()
        except Exception:
            log.warning("could not reply to a %s question", topic, exc_info=True)
        finally:
            slots.release()

    try:
        while True:
            await slots.acquire()
            message = await _next_question(redis, key, topic)
            if message is None:
                slots.release()
                continue
            task = asyncio.create_task(reply(message))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*running, return_exceptions=True)
