"""The weekly backup job: its schedule, run by the real worker, idempotent, keeping the last N."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.base import utcnow
from models.db import Database
from models.services.admin import backup
from models.settings import get_settings, reset_settings
from tests.conftest import run_worker_burst
from workers.jobs import CRON_JOBS

JOB = "cron:weekly_backup"


@pytest.fixture
def backups_dir() -> Iterator[Path]:
    """The configured backups folder, empty before and after the test."""
    folder = get_settings().backups_dir
    shutil.rmtree(folder, ignore_errors=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_scheduled_for_sunday_three_in_the_configured_timezone() -> None:
    # A copy: the worker keeps its schedule on the shared CronJob object.
    job = copy.copy(next(j for j in CRON_JOBS if j.name == JOB))
    zone = ZoneInfo(get_settings().timezone)
    # From a Saturday noon in UTC (whatever the worker's own zone is) …
    job.calculate_next(datetime(2026, 5, 16, 12, 0, tzinfo=UTC))
    assert job.next_run is not None
    local = job.next_run.astimezone(zone)
    assert (local.weekday(), local.hour, local.minute, local.second) == (6, 3, 0, 0)
    assert local.date().isoformat() == "2026-05-17"
    # … and one week later after it ran.
    job.calculate_next(job.next_run)
    assert job.next_run.astimezone(zone) - local == timedelta(days=7)


async def test_the_worker_takes_the_backup_once(
    db: Database, redis: Any, backups_dir: Path, reference: dict[str, int]
) -> None:
    # Two runs at once (a manual trigger meeting the cron): one backup.
    await redis.enqueue_job(JOB, _job_id="weekly-1")
    await redis.enqueue_job(JOB, _job_id="weekly-1b")
    await run_worker_burst()
    made = backup.list_backups(backups_dir)
    assert len(made) == 1, [(p.name, backup.Manifest.read(p).created_at) for p in made]
    manifest = backup.Manifest.read(made[0])
    assert manifest.tables["departments"] > 0  # the reference data is in it

    # A retry, or a second worker, finds the fresh backup and does not take another.
    await redis.enqueue_job(JOB, _job_id="weekly-2")
    await run_worker_burst()
    assert backup.list_backups(backups_dir) == made


async def test_only_the_newest_backups_are_kept(
    db: Database, redis: Any, backups_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    now = utcnow()
    for weeks in range(5, 0, -1):  # five earlier weekly backups
        await backup.create_backup(
            settings.database_url,
            output_dir=backups_dir,
            data_dir=settings.data_dir,
            now=now - timedelta(weeks=weeks),
        )
    crashed = backups_dir / "kefu-backup-20200101T000000Z.partial"
    crashed.mkdir()
    old = time.time() - 3 * 86400  # file times are the system's
    os.utime(crashed, (old, old))
    older = backup.list_backups(backups_dir)

    monkeypatch.setenv("KEFU_BACKUP_KEEP", "3")
    reset_settings()
    try:
        await redis.enqueue_job(JOB, _job_id="weekly-prune")
        await run_worker_burst()
    finally:
        monkeypatch.undo()
        reset_settings()

    kept = backup.list_backups(backups_dir)
    assert len(kept) == 3
    assert kept[:2] == older[-2:]  # the two newest earlier ones, then today's
    assert kept[-1] not in older
    assert not crashed.exists()


def test_keep_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    def keep() -> int:
        reset_settings()
        return get_settings().backup_keep

    try:
        monkeypatch.delenv("KEFU_BACKUP_KEEP", raising=False)
        assert keep() == 8
        monkeypatch.setenv("KEFU_BACKUP_KEEP", "12")
        assert keep() == 12
        monkeypatch.setenv("KEFU_BACKUP_KEEP", "0")
        assert keep() == 1
    finally:
        monkeypatch.undo()
        reset_settings()
