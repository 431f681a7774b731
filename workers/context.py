"""The worker's loaded models, held in the arq ``ctx`` (never in module globals).

One :class:`TriageRuntime` per process holds what is expensive to load — the sentence
embedders (:class:`triage.encoder.Encoder`: the classifier's and, unless settings make them
one, the multilingual one of knowledge-base retrieval), the current classifier, the
knowledge-base index — and loads each once: an embedder on first use, the classifier again only when
another version becomes current, the index again only when the published articles change.
Loading, training and indexing are the services' work (:mod:`models.services.knowledge.
lifecycle`, :mod:`models.services.knowledge.kb`); the runtime passes them what it holds and
keeps what they return. Fitting and prediction run on the default thread pool, so the
worker's event loop stays free for other jobs meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models.db import Database
from models.services.knowledge import kb, lifecycle
from models.settings import Settings
from triage.encoder import Encoder, ScriptEncoder, classifier_encoder

log = logging.getLogger(__name__)

#: CPU priority of the retrieval embedder's thread. Its work (ranking a triaged ticket's
#: suggestions by meaning, embedding articles, a portal or chat query) costs several times
#: the classifier's per text; at a lower priority it yields the cores to classification and
#: to the web processes when they are short, and runs at full speed when they are not.
RETRIEVAL_NICE = 10

if TYPE_CHECKING:
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
    retrieval_vector: np.ndarray | None = None
    """The retrieval embedder's vector of the text, when classifying it made one (the
    Chinese half of a script-split embedding)."""


class TriageRuntime:
    """Embedders, current classifier and KB index of one process (see the module doc).

    ``embedder`` / ``retrieval_embedder`` hand over models already loaded (tests, benchmarks).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        retrieval_embedder: Embedder | None = None,
        loader: Callable[[str | None], Embedder] | None = None,
    ) -> None:
        self.settings = settings
        latin = Encoder(settings.embedding_model, embedder=embedder, loader=loader)
        self.retrieval = (
            Encoder(
                settings.retrieval_model,
                embedder=retrieval_embedder,
                loader=loader,
                nice=RETRIEVAL_NICE,
            )
            if settings.retrieval_model is not None
            else latin
        )
        #: The classifier's: MiniLM for a text's Latin part and, with a multilingual
        #: retrieval embedder of its own, that one for its Chinese part.
        self.encoder = classifier_encoder(latin, self.retrieval)
        self._latin = latin
        self.model: lifecycle.LoadedModel | None = None
        self.model_lock = asyncio.Lock()
        self.kb: kb.KbIndex | None = None
        self.kb_lock = asyncio.Lock()
        self._backlog: asyncio.Task[int] | None = None

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
        """Embed and classify one inquiry with the current model.

        A text the classifier reads without its embedding (no Latin script: the language
        gate of a MiniLM-only model zeroes its dense features, :func:`triage.pipeline.
        dense_needed`) is not embedded when knowledge-base search has an embedder of its own:
        nothing would read the vector (repeats are compared by meaning only between
        Latin-script texts). Its analysis has no embedding; the classifier gets the zeros the
        gate would have made of one. A script-split model (the default) reads a Chinese text
        through the retrieval embedder, whose vector then also ranks its suggestions.
        """
        from triage.pipeline import dense_needed
        from triage.predict import predict

        loaded = await self.classifier(db)
        model = loaded.model
        vector: np.ndarray | None = None
        if (
            self.retrieval_apart
            and model.embedder_dim is not None
            and not dense_needed([text], model.config)[0]
        ):
            matrix: np.ndarray | None = np.zeros((1, model.embedder_dim), dtype=np.float32)
        else:
            vector = await self.encoder.encode_one(text)
            matrix = vector[None, :] if vector is not None else None
        prediction = (await asyncio.to_thread(predict, model, [text], matrix))[0]
        retrieval_vector = None
        if vector is not None:
            retrieval_vector = ScriptEncoder.cjk_part(vector, model.config.dense_split)
        return Analysis(
            vector, await self.encoder.name(), prediction, loaded.version, retrieval_vector
        )

    @property
    def retrieval_apart(self) -> bool:
        """Whether knowledge-base search embeds with a model of its own (so an inquiry's
        classification embedding cannot serve it, except a script-split one's Chinese half)."""
        return self.retrieval is not self._latin

    def prefetch(self, text: str) -> None:
        """Embed ``text`` for knowledge-base search ahead of need, when the retrieval
        embedder has nothing else to do (with a retrieval embedder of its own): a triage
        asks for it at its start, so that the vector is often ready when its suggestions are
        ranked (:meth:`triage_suggestions`), and in a burst is made on the CPU that
        classification leaves idle."""
        if self.retrieval_apart:
            self.retrieval.prefetch(text)

    async def triage_suggestions(
        self, db: Database, text: str, k: int, analysis: Analysis
    ) -> tuple[list[kb.Hit], bool]:
        """The suggestions a triage stores, and whether a ranking by meaning is still to
        follow (``suggest_ticket``).

        With one embedder for both, the classification's vector ranks them. With a retrieval
        embedder of its own, the text's vector ranks them when :meth:`prefetch` has made it
        (waiting only for the call making it now); otherwise they are ranked lexically for
        now, and the vector, made when the embedder is free, serves the ranking after."""
        if not self.retrieval_apart:  # the same embedder: the classification's vector
            return await self.search(db, text, k, embedding=analysis.embedding), False
        vector = analysis.retrieval_vector
        if vector is None:
            vector = await self.retrieval.encoded_ahead(text)
        if vector is None:
            return await self.search(db, text, k, dense=False), True
        return await self.search(db, text, k, embedding=vector), False

    # --- the knowledge base ---------------------------------------------------------------

    async def kb_index(self, db: Database, redis: Any = None) -> kb.KbIndex:
        """The index of published articles, rebuilt only when they changed (or when the
        articles it lacked vectors for have been embedded in the background)."""
        async with db.sessionmaker() as session:
            stamp = await kb.index_stamp(session)
        if self._current(stamp):
            assert self.kb is not None
            return self.kb
        async with self.kb_lock:
            if not self._current(stamp):
                self.kb = await kb.load_index(db, self.retrieval, redis, stamp)
                if not self.kb.complete and (self._backlog is None or self._backlog.done()):
                    self._backlog = asyncio.create_task(self._embed_backlog(db))
            assert self.kb is not None
            return self.kb

    def _current(self, stamp: str) -> bool:
        if self.kb is None or self.kb.stamp != stamp:
            return False
        # An incomplete index is rebuilt once its background embedding has finished.
        return self.kb.complete or self._backlog is None or not self._backlog.done()

    async def _embed_backlog(self, db: Database) -> int:
        """Embed the articles the index lacked vectors for, a few at a time (searches share
        the encoder's thread meanwhile)."""
        try:
            return await kb.embed_articles(db, self.retrieval, batch=kb.BACKLOG_BATCH, shuffle=True)
        except Exception:  # the next index build starts it again
            log.exception("embedding the knowledge base's backlog failed")
            return 0

    async def embed_articles(
        self,
        db: Database,
        redis: Any = None,
        article_ids: Sequence[int] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Embed published articles lacking a current embedding; returns how many."""
        return await kb.embed_articles(db, self.retrieval, redis, article_ids, progress)

    async def search(
        self,
        db: Database,
        query: str,
        k: int,
        *,
        locale: str | None = None,
        for_people: bool = True,
        embedding: np.ndarray | None = None,
        dense: bool = True,
    ) -> list[kb.Hit]:
        """Hybrid knowledge-base search. The query is embedded here, unless ``embedding``
        (the retrieval embedder's, of the same text) is given; ``dense`` False ranks
        lexically (no embedding at all)."""
        from triage.text import latin_share

        index = await self.kb_index(db)
        dense_used = dense and (not index.index.dense_latin_only or latin_share(query) > 0)
        vector = None
        if index.embedder is not None and dense_used:
            vector = embedding if embedding is not None else await self.retrieval.encode_one(query)
        return kb.search(index, query, vector, k, locale=locale, for_people=for_people)

    async def close(self) -> None:
        """Stop background tasks (the worker's shutdown)."""
        if self._backlog is not None and not self._backlog.done():
            self._backlog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._backlog
        await self.encoder.close()
        await self.retrieval.close()
