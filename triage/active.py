"""Which tickets a lead should look at first: the ones a correction would teach the model most.

Pure numpy: the review queue (``models.services.tickets.triage``) and ``kefu triage
simulate-review`` call the same :func:`select`, so the simulation measures the queue's order.

**Uncertainty.** Least-confidence: ``1 - p(top type)``. It is what a ticket stores
(``type_confidence``) and, over four types, ranks the tickets nearly as margin or entropy do;
:func:`uncertainty` also takes full probability rows (margin) when the caller has them.

**Diversity.** Picked greedily: a candidate's score is its uncertainty scaled down by its
similarity to the most similar ticket already picked (``1 - max cosine``) and by how many
picks already share its predicted type. Two identical tickets are therefore never both near
the top, and the picks spread across predicted types instead of spending a step on the one
type the model happens to be unsure about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import numpy as np

__all__ = ["HASH_DIM", "TYPE_SPREAD", "hashed_vectors", "select", "uncertainty"]

HASH_DIM: Final = 1024
TYPE_SPREAD: Final = 0.5  # how strongly a predicted type already picked is discounted


def uncertainty(confidence: Sequence[float] | np.ndarray) -> np.ndarray:
    """How unsure the model is, 0–1: ``1 - p(top)`` from top confidences, or ``1 - margin``
    (top two probabilities) when given a 2-D array of per-type probabilities."""
    values = np.asarray(confidence, dtype=np.float64)
    if values.ndim == 2:
        if values.shape[1] < 2:
            return np.zeros(values.shape[0])
        top2 = -np.sort(-values, axis=1)[:, :2]
        return np.clip(1.0 - (top2[:, 0] - top2[:, 1]), 0.0, 1.0)
    return np.clip(1.0 - values, 0.0, 1.0)


def _bucket(term: str) -> int:
    digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % HASH_DIM


def hashed_vectors(term_lists: Sequence[Sequence[str]]) -> np.ndarray:
    """L2-normalised hashed bags of terms (a TF-IDF-free stand-in for near-duplicate checks
    when a ticket has no stored embedding)."""
    out = np.zeros((len(term_lists), HASH_DIM), dtype=np.float64)
    for i, terms in enumerate(term_lists):
        for term in terms:
            out[i, _bucket(term)] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def select(
    uncertain: Sequence[float] | np.ndarray,
    vectors: np.ndarray,
    predicted: Sequence[str],
    k: int,
    *,
    type_spread: float = TYPE_SPREAD,
) -> list[int]:
    """Indices of the ``k`` most informative candidates, in the order to review them.

    ``uncertain`` is :func:`uncertainty` per candidate, ``vectors`` one row per candidate
    (embeddings or :func:`hashed_vectors`; cosine is taken), ``predicted`` the model's type.
    Ties keep the candidates' order (callers pass the newest first).
    """
    u = np.asarray(uncertain, dtype=np.float64)
    n = len(u)
    if n == 0 or k <= 0:
        return []
    if vectors.shape[0] != n or len(predicted) != n:
        raise ValueError("uncertain, vectors and predicted must have one row per candidate")
    unit = _normalise(np.asarray(vectors, dtype=np.float64))
    # a small floor keeps fully confident tickets orderable by diversity alone
    base = u + 1e-3
    closest = np.zeros(n)  # max cosine to anything picked so far
    type_count: dict[str, int] = {}
    available = np.ones(n, dtype=bool)
    picked: list[int] = []
    for _ in range(min(k, n)):
        spread = np.array([1.0 / (1.0 + type_spread * type_count.get(t, 0)) for t in predicted])
        score = base * (1.0 - np.clip(closest, 0.0, 1.0)) * spread
        score[~available] = -np.inf
        best = int(np.argmax(score))  # first maximum: ties keep the input order
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, unit @ unit[best])
        type_count[predicted[best]] = type_count.get(predicted[best], 0) + 1
    return picked
