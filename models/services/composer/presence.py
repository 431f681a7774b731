"""Who is writing a reply on a ticket right now, kept in Redis so every web process sees it.

One hash per ticket (``kefu:composing:<ticket>``): a field per person, their name and when they
last typed. Entries older than :data:`FRESH_SECONDS` are ignored and the hash expires by
itself. Redis away → nobody is shown and nothing fails: the notice is a courtesy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FRESH_SECONDS = 30
REDIS_TIMEOUT_SECONDS = 0.5
KEY_PREFIX = "kefu:composing"


@dataclass(frozen=True)
class Writer:
    user_id: int
    name: str


def _key(ticket_id: int) -> str:
    return f"{KEY_PREFIX}:{ticket_id}"


async def mark(redis: Any, ticket_id: int, user_id: int, name: str) -> None:
    """``user_id`` is writing on ``ticket_id`` now (a heartbeat while they type)."""
    if redis is None:
        return
    entry = json.dumps({"name": name, "at": time.time()}, ensure_ascii=False)
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            pipe = redis.pipeline(transaction=True)
            pipe.hset(_key(ticket_id), str(user_id), entry)
            pipe.expire(_key(ticket_id), FRESH_SECONDS)
            await pipe.execute()
    except Exception:
        log.warning("presence unavailable (Redis); not marking ticket %s", ticket_id)


async def clear(redis: Any, ticket_id: int, user_id: int) -> None:
    """``user_id`` sent (or dropped) their reply."""
    if redis is None:
        return
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            await redis.hdel(_key(ticket_id), str(user_id))
    except Exception:
        log.warning("presence unavailable (Redis); not clearing ticket %s", ticket_id)


async def others(
    redis: Any, ticket_id: int, user_id: int | None, *, now: float | None = None
) -> list[Writer]:
    """The other people who typed on this ticket in the last :data:`FRESH_SECONDS`."""
    if redis is None:
        return []
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            raw = await redis.hgetall(_key(ticket_id))
    except Exception:
        log.warning("presence unavailable (Redis); no notice for ticket %s", ticket_id)
        return []
    moment = now if now is not None else time.time()
    found = []
    for field, value in (raw or {}).items():
        who = int(field.decode() if isinstance(field, bytes) else field)
        try:
            entry = json.loads(value)
        except (TypeError, ValueError):
            continue
        if who != user_id and moment - float(entry.get("at", 0)) <= FRESH_SECONDS:
            found.append(Writer(who, str(entry.get("name") or "")))
    return sorted(found, key=lambda w: w.user_id)
