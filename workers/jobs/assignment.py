"""``drain_assignments``: hand waiting tickets to agents with room, every minute.

The database is the truth: the cron job looks at every enabled department; an agent going on
duty or a department turning auto-assignment on asks for a run at once (same function, one
department). Running twice is harmless: each decision re-checks the ticket and the caps under
the department's mutex.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.cron import cron

from models.db import unit_of_work
from models.services.tickets import assignment
from models.settings import get_settings

log = logging.getLogger(__name__)


async def drain_assignments(ctx: dict[str, Any], department_id: int | None = None) -> int:
    """Assign waiting tickets while capacity exists; returns how many were assigned."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        assigned = await assignment.drain(session, department_id=department_id)
    if assigned:
        log.info("auto-assignment drained %d tickets", assigned)
    return assigned


FUNCTIONS: list[Any] = [drain_assignments]
CRON_JOBS: list[Any] = [
    cron(drain_assignments, second=30, timeout=55, max_tries=1, unique=True),
]
