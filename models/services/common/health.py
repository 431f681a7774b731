"""Is the installation able to work? The database is required; Redis is not.

Without Redis, inquiries are still stored (their triage waits for the sweeper), staff stay
signed in and can work the board; only live updates and background jobs pause. So a
missing Redis makes the installation *degraded*, a missing database makes it *down*.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from models.db import Database

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Health:
    database: bool
    redis: bool

    @property
    def down(self) -> bool:
        return not self.database

    @property
    def body(self) -> dict[str, str]:
        if self.database and self.redis:
            return {"status": "ok"}
        return {
            "status": "down" if self.down else "degraded",
            "database": "ok" if self.database else "down",
            "redis": "ok" if self.redis else "down",
        }


async def _database_up(db: Database) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), db.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        return True
    except Exception as exc:
        log.warning("health: the database is unreachable (%s)", type(exc).__name__)
        return False


async def _redis_up(redis: Any) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await redis.ping()
        return True
    except Exception as exc:
        log.warning("health: Redis is unreachable (%s)", type(exc).__name__)
        return False


async def check_health(db: Database, redis: Any) -> Health:
    return Health(database=await _database_up(db), redis=await _redis_up(redis))
