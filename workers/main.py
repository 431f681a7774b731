"""The arq worker: one process for triage, the SLA tick, retraining and notifications.

Jobs are thin: open a unit of work, call a service, commit. The database stays the truth;
a job is only a notification that work exists.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import RedisSettings

from models.db import Database
from models.settings import get_settings
from workers.context import TriageRuntime
from workers.jobs import CRON_JOBS, FUNCTIONS

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    ctx["db"] = Database(settings.database_url)
    # The ML state (embedder, current classifier, KB index) lives in ctx. It loads lazily:
    # the first job that needs a part pays for loading it (jobs that need none — the SLA
    # tick, notifications — never do). A runtime passed in through Worker(ctx=…) (tests,
    # benchmarks) is kept as it is.
    if "triage" not in ctx:
        ctx["triage"] = TriageRuntime(settings)
        ctx["own_triage"] = True
    log.info("worker started on %s", settings.database_url.split("@")[-1])


async def shutdown(ctx: dict[str, Any]) -> None:
    if ctx.get("own_triage"):
        await ctx["triage"].close()
    await ctx["db"].dispose()


def worker_options() -> dict[str, Any]:
    """The arq Worker arguments for the current settings (the CLI and the tests use these)."""
    settings = get_settings()
    return {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "max_jobs": 10,
        "job_timeout": 600,
        "keep_result": 60,
        "allow_abort_jobs": True,
    }
