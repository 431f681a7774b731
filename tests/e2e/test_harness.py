"""The harness itself: the live app and the real worker process share the run's settings."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import httpx
import pytest

from models.services.admin import backup
from models.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_live_server_sees_the_test_database(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        page = await client.get("/login")
    assert page.status_code == 200 and "登录客服系统" in page.text


async def test_live_worker_runs_jobs_from_this_run(live_worker: Any, redis: Any) -> None:
    """A job enqueued here is run by the worker subprocess, against the same database."""
    folder = get_settings().backups_dir
    shutil.rmtree(folder, ignore_errors=True)
    try:
        await redis.enqueue_job("cron:weekly_backup", _job_id="harness-backup")
        deadline = time.monotonic() + 60
        while not backup.list_backups(folder):
            assert live_worker.returncode is None, "the worker died"
            assert time.monotonic() < deadline, "the worker never ran the job"
            await asyncio.sleep(0.1)
        manifest = backup.Manifest.read(backup.list_backups(folder)[0])
        assert manifest.tables["users"] > 0  # the reference accounts this test created
    finally:
        shutil.rmtree(folder, ignore_errors=True)
