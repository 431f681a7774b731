"""One process's sentence embedder, for asyncio callers: loaded once, encoding off the loop.

An :class:`Encoder` loads its :class:`~triage.embedder.Embedder` on first use (never at
import, never per request) and, if it cannot, answers ``None`` from then on, so its users
fall back to lexical features. The worker holds one for its lifetime; a CLI command builds
one for the duration of the command.

Embedding calls run on one dedicated thread (torch already uses several cores per call) and
single texts are micro-batched: concurrent callers of :meth:`Encoder.encode_one` share one
encoder call, which is most of the difference between per-ticket and batch encoding speed.

A text can also be encoded ahead of need (:meth:`Encoder.prefetch`): when the thread has no
caller waiting, a few at a time, kept for the one :meth:`Encoder.encode_one` (or
:meth:`Encoder.encoded_ahead`) that asks for it later. The worker asks for a ticket's text as
its triage begins, for ranking the ticket's suggestions by meaning: the vector is made while
the ticket is classified, and in a burst on the CPU classification leaves idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import itertools
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from triage.embedder import Embedder

__all__ = [
    "AHEAD_BATCH",
    "AHEAD_KEEP",
    "BULK_BATCH",
    "MICRO_BATCH",
    "Encoder",
    "Progress",
    "ScriptEncoder",
    "classifier_encoder",
]

log = logging.getLogger(__name__)

BULK_BATCH: Final = 64
MICRO_BATCH: Final = 32
#: Texts encoded ahead of need go a few at a time, so that a caller who waits (a portal
#: query) waits at most for one such call (multilingual-e5-small, 2 cores: ~60 ms for four,
#: 15 ms a text against 17 one by one).
AHEAD_BATCH: Final = 4
#: At most this many texts wait to be encoded ahead, and this many vectors encoded ahead are
#: kept until asked for (the oldest go first): ~1.5 KiB each at 384 dimensions.
AHEAD_KEEP: Final = 2048

Progress = Callable[[int], Awaitable[None]]
"""Called with the number of texts encoded so far."""


class Encoder:
    """A lazily loaded embedder behind one thread (see the module doc).

    ``model`` is the embedding model to load (``None``: the packaged default); ``embedder``
    hands over one already loaded (tests, benchmarks) and ``loader`` replaces
    :func:`triage.embedder.load_embedder`. ``nice`` > 0 runs the encoding thread at that
    lower CPU priority (Linux keeps one per thread): for work that may wait while other work
    of the process, or of the machine, needs the cores.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        embedder: Embedder | None = None,
        loader: Callable[[str | None], Embedder] | None = None,
        nice: int = 0,
    ) -> None:
        self._model = model
        self._embedder = embedder
        self._ready = embedder is not None
        self._loader = loader
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="embedder",
            initializer=functools.partial(_lower_priority, nice) if nice > 0 else None,
        )
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._ahead: dict[str, None] = {}  # texts to encode ahead, in order (a set)
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()
        # The texts of the call encoding ahead now, and what is set when it has ended.
        self._in_flight: tuple[frozenset[str], asyncio.Future[None]] | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def embedder(self) -> Embedder | None:
        """The embedder, loaded on first use; None if it cannot be loaded (lexical mode)."""
        if self._ready:
            return self._embedder
        async with self._lock:
            if not self._ready:
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
                self._ready = True
        return self._embedder

    def _load(self) -> Embedder:
        if self._loader is not None:
            return self._loader(self._model)
        from triage.embedder import load_embedder

        return load_embedder(self._model)

    async def name(self) -> str | None:
        """The loaded embedder's name (None without one)."""
        embedder = await self.embedder()
        return embedder.name if embedder else None

    async def encode(
        self,
        texts: Sequence[str],
        progress: Progress | None = None,
        needed: Sequence[bool] | None = None,
        *,
        passage: bool = False,
    ) -> np.ndarray | None:
        """Embed many texts in batches (None without an embedder); ``progress(done)``.

        ``needed`` (aligned with ``texts``) leaves rows out: their vectors are zeros — for
        rows whose dense features the pipeline zeroes anyway (:func:`triage.pipeline.
        dense_needed`), so the result trains and predicts exactly as the full encoding would.
        ``passage``: the texts are documents (knowledge-base articles), not queries.
        """
        embedder = await self.embedder()
        if embedder is None:
            return None
        rows = [i for i in range(len(texts)) if needed is None or needed[i]]
        result = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        for start in range(0, len(rows), BULK_BATCH):
            chunk = rows[start : start + BULK_BATCH]
            vectors = await loop.run_in_executor(
                self._executor,
                functools.partial(embedder.encode, [texts[i] for i in chunk], passage=passage),
            )
            result[chunk] = vectors
            if progress is not None:  # reported in rows of ``texts``, skipped ones included
                done = min(len(rows), start + BULK_BATCH)
                await progress(len(texts) * done // len(rows))
        return result

    async def encode_cached(
        self,
        texts: Sequence[str],
        cache: Callable[[str], Path],
        progress: Progress | None = None,
        needed: Sequence[bool] | None = None,
    ) -> np.ndarray | None:
        """:meth:`encode`, kept in the ``.npy`` file ``cache(embedder name)`` for next time
        (``texts`` and ``needed`` must be the same whenever that file name is: name it by
        their digest)."""
        return await _encode_cached(self, texts, cache, progress, needed)

    async def encode_one(self, text: str) -> np.ndarray | None:
        """Embed one text (a query), batched with whatever other callers are embedding now
        (or take the vector :meth:`prefetch` encoded for it: once)."""
        embedder = await self.embedder()
        if embedder is None:
            return None
        if (kept := await self.encoded_ahead(text)) is not None:
            return kept
        self._ahead.pop(text, None)  # still queued ahead: this caller's call encodes it
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        self._start(embedder)
        return await future

    async def encoded_ahead(self, text: str) -> np.ndarray | None:
        """The vector :meth:`prefetch` encoded for ``text`` (taken, as :meth:`encode_one`
        would), waiting only while the call encoding it runs; None when it is still queued
        (it stays queued) or was never asked for. Encodes nothing itself."""
        if self._in_flight is not None and text in self._in_flight[0]:
            await asyncio.shield(self._in_flight[1])
        return self._kept.pop(text, None)

    def prefetch(self, text: str) -> bool:
        """Encode ``text`` when no caller is waiting, for a later :meth:`encode_one` of it;
        False when it is not queued (no embedder loaded yet, already kept or queued, or
        :data:`AHEAD_KEEP` texts waiting already)."""
        if not self._ready or self._embedder is None:
            return False
        if text in self._kept or text in self._ahead or len(self._ahead) >= AHEAD_KEEP:
            return False
        self._ahead[text] = None
        self._start(self._embedder)
        return True

    def _start(self, embedder: Embedder) -> None:
        self._wake.set()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._batch_loop(embedder))

    async def _batch_loop(self, embedder: Embedder) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending and not self._ahead:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=5)
                except TimeoutError:
                    return  # idle: the next call starts a new loop
                continue
            await asyncio.sleep(0)  # let callers started in this tick join the batch
            if not self._pending:
                await self._encode_ahead(embedder)
                continue
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

    async def _encode_ahead(self, embedder: Embedder) -> None:
        texts = list(itertools.islice(self._ahead, AHEAD_BATCH))
        for text in texts:
            del self._ahead[text]
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        self._in_flight = (frozenset(texts), ended)
        try:
            vectors = await loop.run_in_executor(self._executor, embedder.encode, texts)
            for text, vector in zip(texts, vectors, strict=True):
                self._kept[text] = vector
            while len(self._kept) > AHEAD_KEEP:
                self._kept.popitem(last=False)
        except Exception:  # whoever asks for these later encodes them then
            log.exception("encoding %d texts ahead failed", len(texts))
        finally:
            self._in_flight = None
            ended.set_result(None)

    async def close(self) -> None:
        """Stop the micro-batching task (the holder's shutdown)."""
        task, self._batcher = self._batcher, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ScriptEncoder:
    """The classifier's embeddings of a text by script: its Latin-script part through
    ``latin`` (MiniLM), its Chinese part through ``cjk`` (multilingual-e5-small, the
    knowledge base's encoder, whose vector of a new inquiry's text is often made already:
    :meth:`Encoder.prefetch`), side by side (:func:`triage.embedder.script_name`; the
    pipeline weighs each half by the text's :func:`~triage.text.latin_share`). A half the
    text's scripts do not need is zeros and is not computed: an English text costs MiniLM
    alone, a Chinese one e5 alone.

    The same interface as :class:`Encoder` for training and classification. When ``cjk``'s
    embedder is not multilingual (or cannot load), this is ``latin`` alone.
    """

    def __init__(self, latin: Encoder, cjk: Encoder) -> None:
        self.latin = latin
        self.cjk = cjk

    async def _split(self) -> int | None:
        """The Latin part's width, or None when this is ``latin`` alone."""
        latin, cjk = await self.latin.embedder(), await self.cjk.embedder()
        if latin is None or cjk is None or not getattr(cjk, "multilingual", False):
            return None
        return int(latin.dim)

    async def embedder(self) -> Embedder | None:
        """The Latin-script embedder (whether embeddings can be made at all)."""
        return await self.latin.embedder()

    async def name(self) -> str | None:
        from triage.embedder import script_name

        split = await self._split()
        latin = await self.latin.name()
        if split is None or latin is None:
            return latin
        cjk = await self.cjk.name()
        assert cjk is not None
        return script_name(latin, split, cjk)

    async def encode(
        self,
        texts: Sequence[str],
        progress: Progress | None = None,
        needed: Sequence[bool] | None = None,
    ) -> np.ndarray | None:
        """Both halves of many texts (:meth:`Encoder.encode`; ``progress`` counts each half
        in proportion to the texts it encodes)."""
        from triage.text import latin_share

        if await self._split() is None:
            return await self.latin.encode(texts, progress, needed)
        shares = [latin_share(t) for t in texts]
        wanted = [needed is None or needed[i] for i in range(len(texts))]
        need_latin = [w and share > 0 for w, share in zip(wanted, shares, strict=True)]
        need_cjk = [w and share < 1 for w, share in zip(wanted, shares, strict=True)]
        n_latin, n_cjk = sum(need_latin), sum(need_cjk)
        total = max(1, n_latin + n_cjk)

        def part(offset: int, size: int) -> Progress | None:
            if progress is None:
                return None

            async def report(done: int) -> None:
                count = len(texts) * (offset + size * done // max(1, len(texts))) // total
                await progress(count)

            return report

        left = await self.latin.encode(texts, part(0, n_latin), need_latin)
        right = await self.cjk.encode(texts, part(n_latin, n_cjk), need_cjk)
        if left is None or right is None:
            return None
        return np.hstack([left, right])

    async def encode_cached(
        self,
        texts: Sequence[str],
        cache: Callable[[str], Path],
        progress: Progress | None = None,
        needed: Sequence[bool] | None = None,
    ) -> np.ndarray | None:
        """:meth:`Encoder.encode_cached` of both halves."""
        return await _encode_cached(self, texts, cache, progress, needed)

    async def encode_one(self, text: str) -> np.ndarray | None:
        """Both halves of one text, made at once on the two encoders' threads."""
        from triage.text import latin_share

        split = await self._split()
        if split is None:
            return await self.latin.encode_one(text)
        cjk = await self.cjk.embedder()
        assert cjk is not None
        share = latin_share(text)

        async def half(encoder: Encoder, dim: int, used: bool) -> np.ndarray | None:
            if not used:
                return np.zeros(dim, dtype=np.float32)
            return await encoder.encode_one(text)

        left, right = await asyncio.gather(
            half(self.latin, split, share > 0), half(self.cjk, int(cjk.dim), share < 1)
        )
        if left is None or right is None:
            return None
        return np.concatenate([left, right]).astype(np.float32)

    @staticmethod
    def cjk_part(vector: np.ndarray, split: int | None) -> np.ndarray | None:
        """The multilingual half of ``vector`` (a :meth:`encode_one` result whose Latin half
        is ``split`` wide; None: not a script-split vector), or None when that half was not
        made (an all-zero half)."""
        if split is None or vector.shape[0] <= split:
            return None
        half = vector[split:]
        return half if np.any(half) else None

    async def close(self) -> None:
        """Stop both encoders' tasks (closing one twice is harmless)."""
        await self.latin.close()
        await self.cjk.close()


def classifier_encoder(latin: Encoder, retrieval: Encoder | None) -> Encoder | ScriptEncoder:
    """The classifier's encoder: ``latin`` alone, or by script with the knowledge base's
    ``retrieval`` encoder for Chinese when there is a separate one (it is multilingual by
    default; :class:`ScriptEncoder` falls back to ``latin`` alone when it is not)."""
    if retrieval is None or retrieval is latin:
        return latin
    return ScriptEncoder(latin, retrieval)


async def _encode_cached(
    encoder: Encoder | ScriptEncoder,
    texts: Sequence[str],
    cache: Callable[[str], Path],
    progress: Progress | None,
    needed: Sequence[bool] | None,
) -> np.ndarray | None:
    """``encoder.encode``, kept in the ``.npy`` file ``cache(its name)`` for next time."""
    name = await encoder.name()
    if name is None:
        return None
    path = cache(name)
    if (vectors := _load_cached(path, len(texts))) is not None:
        return vectors
    path.parent.mkdir(parents=True, exist_ok=True)
    # Processes sharing the cache directory take turns: the first encodes, the others
    # wait for its file instead of encoding the same texts again.
    lock = await asyncio.to_thread(_lock, path.with_name(f".{path.name}.lock"))
    try:
        if (vectors := _load_cached(path, len(texts))) is not None:
            return vectors
        encoded = await encoder.encode(texts, progress, needed)
        if encoded is None:
            return None
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.npy")
        np.save(tmp, encoded)
        os.replace(tmp, path)
        return encoded
    finally:
        lock.close()


def _lower_priority(nice: int) -> None:
    """Give the calling thread the CPU priority ``nice`` (where the system has thread
    priorities; elsewhere the thread keeps the process's)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def _load_cached(path: Path, rows: int) -> np.ndarray | None:
    """The vectors kept at ``path`` when the file holds ``rows`` of them, else None."""
    if not path.is_file():
        return None
    try:
        vectors = np.load(path)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape[0] == rows else None


def _lock(path: Path) -> IO[bytes]:
    """An exclusive advisory lock on ``path`` (released when the returned file is closed)."""
    handle = path.open("ab")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle
