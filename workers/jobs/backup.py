"""The weekly backup: Sunday 03:00 in ``settings.timezone``, keeping the newest N.

A backup reads the database through its own snapshot connection and writes files; it changes
no rows, so there is no unit of work to commit. It is idempotent: a run that finds a backup
younger than 12 hours (a retry, a second worker) only prunes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from arq.cron import CronJob, cron

from models.services.admin import backup
from models.settings import get_settings

log = logging.getLogger(__name__)
LOCK_SECONDS = 3600


async def weekly_backup(ctx: dict[str, Any]) -> str | None:
    """Take the scheduled backup into ``settings.backups_dir``; returns its folder name.

    A Redis lock keeps two runs (a manual trigger meeting the cron, two workers) from
    dumping at the same time; the later one then finds the fresh backup and skips.
    """
    settings = ctx.get("settings") or get_settings()
    lock_key = f"{settings.queue_name}:backup-lock"
    token = uuid.uuid4().hex
    if not await ctx["redis"].set(lock_key, token, nx=True, ex=LOCK_SECONDS):
        log.info("another backup is running; weekly backup skipped")
        return None
    try:
        result = await backup.scheduled_backup(
            settings.database_url,
            backups_dir=settings.backups_dir,
            data_dir=settings.data_dir,
            encryption_keys=settings.encryption_keys,
            keep=settings.backup_keep,
        )
    finally:
        if await ctx["redis"].get(lock_key) == token.encode():
            await ctx["redis"].delete(lock_key)
    if result is None:
        log.info("a recent backup exists; weekly backup skipped")
        return None
    log.info("weekly backup written to %s", result.path)
    return result.path.name


class LocalTimeCronJob(CronJob):
    """A cron job whose fields mean wall-clock time in ``settings.timezone``.

    arq evaluates cron fields in the worker's timezone (the host's by default); the schedule
    the operator configures is in the service centre's zone, wherever the server runs.
    """

    def calculate_next(self, prev_run: datetime) -> None:
        super().calculate_next(prev_run.astimezone(ZoneInfo(get_settings().timezone)))


def local_cron(coroutine: Any, **fields: Any) -> LocalTimeCronJob:
    return LocalTimeCronJob(**vars(cron(coroutine, **fields)))


FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = [
    local_cron(
        weekly_backup,
        weekday="sun",
        hour=3,
        minute=0,
        second=0,
        microsecond=0,
        timeout=LOCK_SECONDS,
        max_tries=2,
    ),
]
