"""Shared helpers for the triage, knowledge-base and CLI integration tests.

The embedders are loaded once per test process (it takes seconds); each test gets a fresh
:class:`workers.context.TriageRuntime` around them, handed to the real arq worker through
``Worker(ctx=…)`` exactly as the worker's startup would hold its own. The retrieval
embedder (multilingual-e5-small) remembers the vector of each text it has embedded for the
rest of the process: the seed knowledge base takes it about a minute, and most tests here
embed it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, Role, Urgency
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.settings import get_settings

LEAD = Actor(user_id=None, label="test", role=Role.LEAD)


@lru_cache(maxsize=1)
def shared_embedder() -> Any:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole test process."""
    from triage.embedder import load_embedder

    return load_embedder()


class RememberingEmbedder:
    """The real embedder ``inner``, computing each (text, role) once per process: the vectors
    are the model's own, from the first call that embedded that text. Calls are serialized
    (runtimes on several threads share it; the e5 engine is not thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.multilingual = inner.multilingual
        self._vectors: dict[tuple[str, bool, bool], np.ndarray] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RememberingEmbedder({self.inner!r})"

    def dense_floor(self, query: str) -> float:
        return self.inner.dense_floor(query)

    def encode(
        self,
        texts: Any,
        batch_size: int = 64,
        *,
        normalize_text: bool = True,
        passage: bool = False,
    ) -> np.ndarray:
        keys = [(text, normalize_text, passage) for text in texts]
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
            if missing:
                vectors = self.inner.encode(
                    [k[0] for k in missing],
                    batch_size,
                    normalize_text=normalize_text,
                    passage=passage,
                )
                self._vectors.update(zip(missing, vectors, strict=True))
            return np.stack([self._vectors[k] for k in keys])


@lru_cache(maxsize=4)
def shared_retrieval_embedder(name: str | None) -> Any:
    """Knowledge-base retrieval's embedder ``name`` (settings' ``retrieval_model``), loaded
    once for the whole test process and remembering what it embedded; None when retrieval
    shares the classifier's embedder."""
    from triage.embedder import load_embedder

    return RememberingEmbedder(load_embedder(name)) if name is not None else None


def new_runtime() -> Any:
    """A fresh worker runtime around the shared embedders."""
    from workers.context import TriageRuntime

    settings = get_settings()
    return TriageRuntime(
        settings,
        embedder=shared_embedder(),
        retrieval_embedder=shared_retrieval_embedder(settings.retrieval_model),
    )


@contextlib.asynccontextmanager
async def triage_runtime() -> AsyncIterator[Any]:
    """A worker runtime around the shared embedder (its model and index load on first use).

    Test modules wrap it in their own ``runtime`` fixture."""
    rt = new_runtime()
    try:
        yield rt
    finally:
        await rt.close()


async def burst(runtime: Any, **overrides: Any) -> Any:
    """Run the real worker (with this runtime in its ctx) until the queue is empty."""
    from tests.conftest import run_worker_burst

    return await run_worker_burst(ctx={"triage": runtime}, **overrides)


@contextlib.asynccontextmanager
async def running_worker(runtime: Any) -> AsyncIterator[Any]:
    """A real worker polling in the background of this event loop (for service calls that
    await a job's result)."""
    from workers.main import KefuWorker, worker_options

    worker = KefuWorker(**{**worker_options(), "poll_delay": 0.02, "ctx": {"triage": runtime}})
    task = asyncio.create_task(worker.main())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await worker.close()


@contextlib.contextmanager
def worker_thread() -> Iterator[Any]:
    """A real worker on its own thread and event loop, with its own runtime around the shared
    embedder — as a separate worker process is to the web. (The test client runs the app
    in a way that blocks the test's event loop during a request, so a worker that must
    answer *during* a request cannot share that loop.) It runs no cron jobs, so a test can
    count the jobs it completes."""
    from workers.main import KefuWorker, worker_options

    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runtime = new_runtime()
        worker = KefuWorker(
            **{
                **worker_options(),
                "poll_delay": 0.02,
                "handle_signals": False,
                "ctx": {"triage": runtime},
                "cron_jobs": [],
            }
        )
        task = loop.create_task(worker.main())
        state.update(loop=loop, worker=worker, task=task)
        ready.set()
        try:
            loop.run_until_complete(task)
        except (asyncio.CancelledError, Exception):
            pass
        finally:
            loop.run_until_complete(worker.close())
            loop.run_until_complete(runtime.close())
            loop.close()

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield state["worker"]
    finally:
        state["loop"].call_soon_threadsafe(state["task"].cancel)
        thread.join(60)


async def make_customer(
    db: Any, name: str, level: CustomerLevel = CustomerLevel.NORMAL, phone: str | None = None
) -> int:
    """A customer registered through the customer service (as a lead, so any level)."""
    async with unit_of_work(db) as session:
        customer = await registry.create(
            session, LEAD, registry.CustomerInput(name=name, phone=phone, level=level)
        )
        return customer.id


async def make_ticket(
    db: Any, redis: Any, customer_id: int, text: str, urgency: Urgency = Urgency.NORMAL
) -> int:
    """A ticket registered through the ticket service (its triage job is enqueued)."""
    settings = get_settings()
    async with unit_of_work(db, redis, settings.event_channel) as session:
        ticket, _ = await commands.create(
            session,
            LEAD,
            commands.TicketInput(
                customer_id=customer_id,
                description=text,
                channel=Channel.PHONE,
                urgency=urgency,
            ),
        )
        return ticket.id


def worker_ctx(db: Any, redis: Any, runtime: Any) -> dict[str, Any]:
    """The ctx a job function receives from the worker (for calling a job directly)."""
    return {"db": db, "redis": redis, "settings": get_settings(), "triage": runtime}


async def htmx_headers(client: Any, page: str) -> dict[str, str]:
    """Headers of an htmx request from ``page``: HX-Request and the CSRF token."""
    from tests.conftest import csrf_token

    return {"HX-Request": "true", "x-csrftoken": await csrf_token(client, page)}
