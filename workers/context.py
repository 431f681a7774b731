"""The worker's machine-learning state, held in the arq ``ctx`` (never in module globals).

One :class:`TriageRuntime` per process keeps what is expensive to load — the sentence
embedder, the current classifier, the knowledge-base index — and loads each once: the
embedder on first use, the classifier again only when another version becomes current, the
index again only when the published articles change. The CLI builds its own runtime for the
duration of a command.

Embedding calls run on one dedicated thread (torch already uses several cores per call) and
single texts are micro-batched: concurrent triage jobs share one encoder call, which is most
of the difference between per-ticket and batch encoding speed. Fitting and prediction run on
the default thread pool, so the worker's event loop stays free for other jobs meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models.db import Database, unit_of_work
from models.services.knowledge import kb, lifecycle
from models.settings import Settings

if TYPE_CHECKING:
    from triage.embedder import Embedder
    from triage.predict import Prediction

log = logging.getLogger(__name__)

BULK_BATCH = 64
STORE_BATCH = 256
MICRO_BATCH = 32


@dataclass(frozen=True)
class Analysis:
    """One text through the models: its embedding (if any) and the classifier's verdict."""

    embedding: np.ndarray | None
    embedder_name: str | None
    prediction: Prediction
    model_version: str


class TriageRuntime:
    """Embedder, current classifier and KB index of one process (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        loader: Callable[[str | None], Embedder] | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._embedder_ready = embedder is not None
        self._loader = loader
        self._embedder_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._batcher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.model: lifecycle.LoadedModel | None = None
        self.model_lock = asyncio.Lock()
        self.kb: kb.KbIndex | None = None
        self.kb_lock = asyncio.Lock()

    # --- the embedder ---------------------------------------------------------------------

    async def embedder(self) -> Embedder | None:
        """The embedder, loaded on first use; None if it cannot be loaded (lexical mode)."""
        if self._embedder_ready:
            return self._embedder
        async with self._embedder_lock:
            if not self._embedder_ready:
                try:
                    self._embedder = await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._load
                    )
                    log.info("embedder loaded: %s", self._embedder)
                except Exception:
                    log.exception(
                        "embedding model unavailable; triage and suggestions run "
                        "on lexical features only"
                    )
                    self._embedder = None
                self._embedder_ready = True
        return self._embedder

    def _load(self) -> Embedder:
        if self._loader is not None:
            return self._loader(self.settings.embedding_model)
        from triage.embedder import load_embedder

        return load_embedder(self.settings.embedding_model)

    async def embedder_name(self) -> str | None:
        embedder = await self.embedder()
        return embedder.name if embedder else None

    async def encode(
        self, texts: Sequence[str], progress: Callable[[int], Awaitable[None]] | None = None
    ) -> np.ndarray | None:
        """Embed many texts in batches (None without an embedder); ``progress(done)``."""
        embedder = await self.embedder()
        if embedder is None:
            return None
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        parts = []
        for start in range(0, len(texts), BULK_BATCH):
            chunk = list(texts[start : start + BULK_BATCH])
            parts.append(await loop.run_in_executor(self._executor, embedder.encode, chunk))
            if progress is not None:
                await progress(min(len(texts), start + BULK_BATCH))
        return np.vstack(parts)

    async def encode_one(self, text: str) -> np.ndarray | None:
        """Embed one text, batched with whatever other jobs are embedding right now."""
        embedder = await self.embedder()
        if embedder is None:
            return None
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        self._wake.set()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._batch_loop(embedder))
        return await future

    async def _batch_loop(self, embedder: Embedder) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=5)
                except TimeoutError:
                    return  # idle: the next call starts a new loop
                continue
            await asyncio.sleep(0)  # let jobs started in this tick join the batch
            batch, self._pending = self._pending[:MICRO_BATCH], self._pending[MICRO_BATCH:]
            try:
                vectors = await loop.run_in_executor(
                    self._executor, embedder.encode, [text for text, _ in batch]
                )
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)

    # --- classification and retrieval -----------------------------------------------------

    async def analyze(self, db: Database, text: str) -> Analysis:
        """Embed and classify one inquiry with the current model."""
        from triage.predict import predict

        loaded = await lifecycle.current_model(db, self)
        vector = await self.encode_one(text)
        matrix = vector[None, :] if vector is not None else None
        prediction = (await asyncio.to_thread(predict, loaded.model, [text], matrix))[0]
        return Analysis(vector, await self.embedder_name(), prediction, loaded.version)

    async def kb_index(self, db: Database, redis: Any = None) -> kb.KbIndex:
        """The index of published articles, rebuilt only when they changed. Articles still
        missing an embedding are embedded (and stored) on the way."""
        async with db.sessionmaker() as session:
            stamp = await kb.index_stamp(session)
        if self.kb is not None and self.kb.stamp == stamp:
            return self.kb
        async with self.kb_lock:
            if self.kb is not None and self.kb.stamp == stamp:
                return self.kb
            await self.embed_articles(db, redis)
            async with db.sessionmaker() as session:
                rows = await kb.index_rows(session)
            name = await self.embedder_name()
            vectors = kb.stored_embeddings(rows, name)
            self.kb = await asyncio.to_thread(kb.build_index, rows, vectors, stamp)
            log.info(
                "knowledge-base index built: %d articles (%s)",
                len(rows),
                "hybrid" if vectors is not None else "lexical",
            )
            return self.kb

    async def embed_articles(
        self,
        db: Database,
        redis: Any = None,
        article_ids: Sequence[int] | None = None,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> int:
        """Embed published articles lacking a current embedding; returns how many."""
        name = await self.embedder_name()
        if name is None:
            return 0
        async with db.sessionmaker() as session:
            todo = await kb.missing_embeddings(session, name, article_ids)
        for start in range(0, len(todo), STORE_BATCH):  # stored as it goes: resumable
            chunk = todo[start : start + STORE_BATCH]
            vectors = await self.encode([text for _, text in chunk])
            assert vectors is not None
            async with unit_of_work(db, redis, self.settings.event_channel) as session:
                await kb.store_embeddings(
                    session, dict(zip([i for i, _ in chunk], vectors, strict=True)), name
                )
            if progress is not None:
                await progress(start + len(chunk))
        return len(todo)

    async def search(
        self,
        db: Database,
        query: str,
        k: int,
        *,
        locale: str | None = None,
        for_people: bool = True,
        embedding: np.ndarray | None = None,
    ) -> list[kb.Hit]:
        """Hybrid knowledge-base search (the query is embedded here unless given)."""
        from triage.text import latin_share

        index = await self.kb_index(db)
        dense_used = not index.index.dense_latin_only or latin_share(query) > 0
        if embedding is None and index.index.embeddings is not None and dense_used:
            embedding = await self.encode_one(query)
        return kb.search(index, query, embedding, k, locale=locale, for_people=for_people)

    # --- life cycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop background tasks (the worker's shutdown)."""
        for task in (self._batcher,):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._batcher = None
