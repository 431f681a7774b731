"""``sla_tick``: the SLA engine's cron job, every minute.

Thin by design: one unit of work around :func:`models.services.escalation.engine.tick`. Running it
twice for the same minute (two workers, a retry) is harmless — the tick claims each action in
``sla_actions`` before taking it.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.cron import cron

from models.db import unit_of_work
from models.services.escalation import engine
from models.settings import get_settings

log = logging.getLogger(__name__)


async def sla_tick(ctx: dict[str, Any]) -> dict[str, Any]:
    """Act on every SLA rule that fell due; returns the tick's report."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        report = await engine.tick(session)
    summary = report.as_dict()
    if any(v for k, v in summary.items() if k not in ("now", "woken")):
        log.info("sla tick: %s", summary)
    return summary


FUNCTIONS: list[Any] = [sla_tick]
CRON_JOBS: list[Any] = [cron(sla_tick, second=0, timeout=55, max_tries=1, unique=True)]
