"""The worker's loaded models, held in the arq ``ctx`` (never in module globals).

One :class:`TriageRuntime` per process holds what is expensive to load — the sentence
embedder (a :class:`triage.encoder.Encoder`), the current classifier, the knowledge-base
index — and loads each once: the embedder on first use, the classifier again only when
another version becomes current, the index again only when the published articles change.
Loading, training and indexing are the services' work (:mod:`models.services.knowledge.
lifecycle`, :mod:`models.services.knowledge.kb`); the runtime passes them what it holds and
keeps what they return. Fitting and prediction run on the default thread pool, so the
worker's event loop stays free for other jobs meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.db import Database
from models.services.knowledge import kb, lifecycle
from models.settings import Settings
from triage.encoder import Encoder

if TYPE_CHECKING:
    import numpy as np

    from triage.embedder import Embedder
    from triage.encoder import Progress
    from triage.predict import Prediction


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
        self.encoder = Encoder(settings.embedding_model, embedder=embedder, loader=loader)
        self.model: lifecycle.LoadedModel | None = None
        self.model_lock = asyncio.Lock()
        self.kb: kb.KbIndex | None = None
        self.kb_lock = asyncio.Lock()

    # --- the classifier -------------------------------------------------------------------

    async def classifier(self, db: Database) -> lifecycle.LoadedModel:
        """The current classifier, loaded once (and again only when another is current)."""
        async with db.sessionmaker() as session:
            version = await lifecycle.current_version(session)
        if self.model is not None and self.model.version == version:
            return self.model
        async with self.model_lock:
            self.model = await lifecycle.current_model(db, self.encoder, self.model)
            return self.model

    async def retrain(self, db: Database, **options: Any) -> lifecycle.RetrainOutcome:
        """Retrain through the life cycle (``options`` as :func:`lifecycle.retrain`); keeps
        the model that is current afterwards."""
        outcome = await lifecycle.retrain(db, self.encoder, cached=self.model, **options)
        if outcome.current is not None:
            self.model = outcome.current
        return outcome

    async def analyze(self, db: Database, text: str) -> Analysis:
        """Embed and classify one inquiry with the current model."""
        from triage.predict import predict

        loaded = await self.classifier(db)
        vector = await self.encoder.encode_one(text)
        matrix = vector[None, :] if vector is not None else None
        prediction = (await asyncio.to_thread(predict, loaded.model, [text], matrix))[0]
        return Analysis(vector, await self.encoder.name(), prediction, loaded.version)

    # --- the knowledge base ---------------------------------------------------------------

    async def kb_index(self, db: Database, redis: Any = None) -> kb.KbIndex:
        """The index of published articles, rebuilt only when they changed."""
        async with db.sessionmaker() as session:
            stamp = await kb.index_stamp(session)
        if self.kb is not None and self.kb.stamp == stamp:
            return self.kb
        async with self.kb_lock:
            if self.kb is None or self.kb.stamp != stamp:
                self.kb = await kb.load_index(db, self.encoder, redis, stamp)
            return self.kb

    async def embed_articles(
        self,
        db: Database,
        redis: Any = None,
        article_ids: Sequence[int] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Embed published articles lacking a current embedding; returns how many."""
        return await kb.embed_articles(db, self.encoder, redis, article_ids, progress)

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
            embedding = await self.encoder.encode_one(query)
        return kb.search(index, query, embedding, k, locale=locale, for_people=for_people)

    async def close(self) -> None:
        """Stop background tasks (the worker's shutdown)."""
        await self.encoder.close()
