"""The arq worker: one process for triage, the SLA tick, retraining and notifications.

Jobs are thin: open a unit of work, call a service, commit. The database stays the truth;
a job is only a notification that work exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from models.db import Database
from models.settings import get_settings
from workers.context import TriageRuntime
from workers.jobs import CRON_JOBS, FUNCTIONS
from workers.jobs.kb import serve_suggestions

log = logging.getLogger(__name__)


# Reconnect backoff when Redis is away: 1 s, 2 s, 4 s … up to this.
MAX_BACKOFF_SECONDS = 30.0


class KefuWorker(Worker):
    """arq's worker, without its Redis checks of the jobs it is running itself.

    Each poll reads the first ids of the queue, and a job stays there until it ends, so the
    ids include the jobs this worker is running; arq checks each in Redis (WATCH, EXISTS,
    ZSCORE, UNWATCH) before it skips it as running. In a burst that was about five checks for
    every job started: 40 of the 90 Redis commands an inquiry's triage took. A job this
    worker is running is skipped here without asking (another worker's is still checked)."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        running = {job_id for job_id, task in self.tasks.items() if not task.done()}
        await super().start_jobs([j for j in job_ids if j.decode() not in running])


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    if "db" not in ctx:  # kept across reconnections of the supervised worker
        ctx["db"] = Database(settings.database_url)
    # The ML state (embedder, current classifier, KB index) lives in ctx. It loads lazily:
    # the first job that needs a part pays for loading it (jobs that need none — the SLA
    # tick, notifications — never do). A runtime passed in through Worker(ctx=…) (tests,
    # benchmarks) is kept as it is.
    if "triage" not in ctx:
        ctx["triage"] = TriageRuntime(settings)
        ctx["own_triage"] = True
    # Questions the web waits for (portal and chat suggestions), on this connection's pool.
    await _stop_answering(ctx)
    ctx["answering"] = asyncio.create_task(serve_suggestions(ctx), name="serve-suggestions")
    log.info("worker started on %s", settings.database_url.split("@")[-1])


async def _stop_answering(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] | None = ctx.pop("answering", None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def shutdown(ctx: dict[str, Any]) -> None:
    await _stop_answering(ctx)
    if ctx.get("own_triage"):
        await ctx["triage"].close()
    await ctx["db"].dispose()


def worker_options() -> dict[str, Any]:
    """The arq worker's arguments for the current settings (the CLI, the tests and the
    benchmarks build a :class:`KefuWorker` with these)."""
    settings = get_settings()
    return {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "max_jobs": 10,
        # How often an idle worker looks for new jobs (arq's default is 0.5 s): a portal or
        # chat suggestion waits for the worker to pick its job up, ~25 ms on average at this
        # setting against ~250 ms at the default, for about 20 light Redis calls a second.
        "poll_delay": 0.05,
        "job_timeout": 600,
        "keep_result": 60,
        "allow_abort_jobs": True,
    }


# How long the jobs in flight may run on when the worker drops its Redis connection (or
# stops) before they are cancelled. They need only the database to finish. A job cancelled in
# the middle of a SQLite statement can leave its connection holding the database's write lock
# (the interrupted statement is never finalized, so closing the connection is deferred), and
# every other writer — the web included — would then fail with "database is locked".
JOB_GRACE_SECONDS = 60.0


async def _abandon(worker: Worker) -> None:
    """Drop a worker whose Redis went away: let its jobs finish (cancelling only those still
    running after the grace; the database keeps the work, and the untriaged sweeper and the
    jobs' own re-checks make a re-run safe), close its pool."""
    await _stop_answering(worker.ctx)
    tasks = list(worker.tasks.values())
    if tasks:
        _, running = await asyncio.wait(tasks, timeout=JOB_GRACE_SECONDS)
        for task in running:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    worker.tasks.clear()
    if worker._pool is not None:
        with contextlib.suppress(Exception):
            await worker._pool.aclose(close_connection_pool=True)
        worker._pool = None


async def _warm(ctx: dict[str, Any]) -> None:
    """Load the current classifier (training the bootstrap model on a fresh installation, about
    a minute) as soon as the worker runs, instead of in the first inquiry's triage job."""
    try:
        model = await ctx["triage"].classifier(ctx["db"])
        log.info("classifier ready: %s", model.version)
    except Exception:  # the first triage job tries again and reports its own failure
        log.exception("could not load the classifier at start")


async def supervise(*, burst: bool = False, warm: bool = False, **overrides: Any) -> None:
    """Run the worker, and run it again whenever Redis fails, with backoff; never give up.

    arq's own worker exits on a Redis error (and its pool gives up after a few connection
    attempts). Here each failure is logged and a new worker connects after 1 s, 2 s, 4 s …
    (at most ``MAX_BACKOFF_SECONDS``), keeping the loaded models and the database engine in
    one ``ctx``. SIGTERM and SIGINT stop it cleanly; a burst run returns once the queue is empty.
    ``warm`` loads the classifier in the background once connected (:func:`_warm`).
    """
    ctx: dict[str, Any] = overrides.pop("ctx", {})
    warming: asyncio.Task[None] | None = None
    delay = 1.0
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: task.cancel() if task else None)

    async def connected(ctx: dict[str, Any]) -> None:
        nonlocal delay
        if delay > 1.0:
            log.info("worker reconnected to Redis")
        delay = 1.0
        await startup(ctx)
        nonlocal warming
        if warm and warming is None:
            warming = asyncio.create_task(_warm(ctx))

    try:
        while True:
            options = {
                **worker_options(),
                "on_startup": connected,
                "on_shutdown": None,
                "handle_signals": False,
                "burst": burst,
                "ctx": ctx,
                **overrides,
            }
            worker = KefuWorker(**options)
            try:
                await worker.main()
                return  # a burst run found the queue empty
            except Exception as exc:  # Redis away (or any failure): reconnect, never exit
                log.warning(
                    "worker lost Redis or failed (%s: %s); reconnecting in %.0f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
            finally:
                ctx = worker.ctx  # arq replaces an empty ctx with its own dict
                await _abandon(worker)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    finally:
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warming
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            if "db" in ctx:
                await shutdown(ctx)


def run(*, burst: bool = False) -> None:
    """``kefu worker``: the supervised worker until SIGTERM / SIGINT."""
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(supervise(burst=burst, warm=not burst))
