"""Per-client rate limits on public endpoints, counted in Redis.

A fixed window per (bucket, client): one INCR and one EXPIRE. The limiter fails open — if
Redis is down or slow the request is allowed and a warning logged — because the portal must
keep accepting inquiries when only the queue is unavailable (the database is the truth).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from models.services.common.errors import N_, RateLimited

log = logging.getLogger(__name__)

WINDOW_SECONDS = 600
REDIS_TIMEOUT_SECONDS = 0.5
KEY_PREFIX = "kefu:ratelimit"


async def hit(
    redis: Any,
    bucket: str,
    client: str,
    limit: int,
    *,
    window: int = WINDOW_SECONDS,
    now: float | None = None,
) -> bool:
    """Count one request; True while the client is within ``limit`` for this window."""
    if redis is None or limit <= 0:
        return True
    slot = int((now if now is not None else time.time()) // window)
    key = f"{KEY_PREFIX}:{bucket}:{client}:{slot}"
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            pipe = redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, window + 5)
            count, _ = await pipe.execute()
    except Exception:
        log.warning(
            "rate limiter unavailable (Redis); allowing %s on %s", client, bucket, exc_info=True
        )
        return True
    return int(count) <= limit


async def check(
    redis: Any, bucket: str, client: str, limit: int, *, window: int = WINDOW_SECONDS
) -> None:
    """Count one request and refuse it (429) once the client is over the limit."""
    if not await hit(redis, bucket, client, limit, window=window):
        raise RateLimited(N_("Too many requests. Please wait a few minutes and try again."))
