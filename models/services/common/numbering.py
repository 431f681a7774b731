"""Human-readable numbers from a daily counter that is safe under concurrent writers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.sequence import Sequence


async def next_value(session: AsyncSession, name: str) -> int:
    """Atomically increment and return the counter ``name`` (one upsert, row-locked)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Sequence)
        .values(name=name, value=1)
        .on_conflict_do_update(
            index_elements=[Sequence.name],
            set_={"value": Sequence.value + literal_column("1")},
        )
        .returning(Sequence.value)
    )
    return int((await session.execute(stmt)).scalar_one())


async def next_number(
    session: AsyncSession, prefix: str, width: int, now: datetime, tz: str
) -> str:
    """``prefix`` + local yyyymmdd + a daily sequence padded to ``width`` digits."""
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    value = await next_value(session, f"{prefix}{day}")
    return f"{prefix}{day}{value:0{width}d}"
