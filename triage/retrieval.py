"""Hybrid knowledge-base retrieval: Okapi BM25 + dense cosine, fused by reciprocal rank.

Pure and in-memory: build a :class:`HybridIndex` from ``(id, title, body)`` articles (and, if
available, their embeddings), then :meth:`HybridIndex.search` with a query (and its embedding).

* Lexical: BM25 over :func:`triage.text.tokenize` tokens — stemmed English words and CJK
  character unigrams + bigrams, minus a short stopword list — of the title (counted twice, a
  simple field boost) and body.
  Term weights are precomputed into one sparse matrix, so scoring a query is a sparse
  column-slice and a mat-vec over all articles (about a millisecond for 10,000 articles).
* Dense: cosine similarity between L2-normalized embeddings (one dense mat-vec).
* Fusion: reciprocal rank fusion, ``score(d) = Σ_rankings w / (k + rank_d)``, ``k = 60``,
  over the top ``depth`` of each ranking. RRF needs no score calibration between BM25 and
  cosine, which live on unrelated scales. The lexical weight is 1; the dense weight is the
  query's :func:`~triage.text.latin_share` (1 for English, ≈0 for Chinese) because the default
  embedder does not understand Chinese — its Chinese "neighbours" would only push noise into
  the fused ranking. A multilingual embedder should be indexed with ``dense_latin_only=False``.

Without embeddings (on the index or the query) the search is lexical only. Only articles sharing
at least one token with the query enter the lexical ranking, so lexical-only search returns
nothing for an unrelated query, while the dense ranking always ranks every article.
Returned scores are fused RRF scores: good for ordering, not an absolute relevance measure.
"""

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import NamedTuple, Self

import numpy as np
from scipy import sparse

from triage.text import latin_share, stem, tokenize

__all__ = ["RRF_K", "STOPWORDS", "BM25Index", "Hit", "HybridIndex", "fuse_rrf", "terms"]

RRF_K = 60

_ENGLISH_STOPWORDS = (  # noqa: SIM905 - a word list reads best as text
    "a an and are as at be but by can could do does did for from had has have how i if in is "
    "it its me my of on or our so that the their them there they this to was we were what "
    "when where which who why will with would you your hi hello please thanks thank"
).split()
#: Function words dropped from lexical retrieval (not from classification, where "how do I"
#: is a strong signal). Stemmed like the tokens they are compared with.
STOPWORDS: frozenset[str] = frozenset(
    {stem(w) for w in _ENGLISH_STOPWORDS} | set("的了吗呢吧啊呀么我你您是在和就也都")
)


def terms(text: str) -> list[str]:
    """Retrieval terms of ``text``: :func:`~triage.text.tokenize` minus :data:`STOPWORDS`."""
    return [t for t in tokenize(text) if t not in STOPWORDS]


class Hit(NamedTuple):
    """An article id and its score (higher is better)."""

    id: Hashable
    score: float


def fuse_rrf(
    rankings: Sequence[Sequence[Hashable]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[Hit]:
    """Reciprocal rank fusion of ranked id lists (best first; ranks start at 1).

    ``weights`` (default all 1) scale each ranking's contribution ``w / (k + rank)``. Ties keep
    the order in which ids were first met (earlier lists, better ranks first).
    """
    factors = [1.0] * len(rankings) if weights is None else list(weights)
    if len(factors) != len(rankings):
        raise ValueError("need one weight per ranking")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, factors, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    ordered = sorted(scores.items(), key=lambda kv: -kv[1])  # stable: first-met wins ties
    return [Hit(item, score) for item, score in ordered]


def _top(scores: np.ndarray, depth: int, *, positive_only: bool) -> np.ndarray:
    """Indices of the ``depth`` best scores, best first, ties by index."""
    candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(scores.shape[0])
    if candidates.size > depth:
        part = np.argpartition(-scores[candidates], depth - 1)[:depth]
        candidates = candidates[part]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order]


class BM25Index:
    """Okapi BM25 (Lucene's non-negative IDF) over pre-tokenized documents."""

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        for row, tokens in enumerate(documents):
            for token, count in Counter(tokens).items():
                rows.append(row)
                cols.append(vocabulary.setdefault(token, len(vocabulary)))
                counts.append(count)
        n_docs = len(documents)
        tf = sparse.csr_matrix(
            (np.asarray(counts, dtype=np.float32), (rows, cols)),
            shape=(n_docs, len(vocabulary)),
        )
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        mean_length = float(lengths.mean()) if n_docs else 0.0
        avg_length = mean_length if mean_length > 0 else 1.0
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(vocabulary))
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * (1.0 - b + b * lengths / avg_length)
        per_entry_norm = np.repeat(norm, np.diff(tf.indptr)).astype(np.float32)
        weights = tf.copy()
        weights.data = tf.data * (k1 + 1.0) / (tf.data + per_entry_norm) * idf[tf.indices]
        self.vocabulary = vocabulary
        self.n_docs = n_docs
        self._weights = weights.tocsc()

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query (zeros where nothing matches)."""
        counts = Counter(t for t in query_tokens if t in self.vocabulary)
        if not counts:
            return np.zeros(self.n_docs, dtype=np.float32)
        cols = [self.vocabulary[t] for t in counts]
        qtf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return np.asarray(self._weights[:, cols] @ qtf).ravel()


class HybridIndex:
    """BM25 + optional dense index over knowledge-base articles."""

    def __init__(
        self,
        ids: Sequence[Hashable],
        bm25: BM25Index,
        embeddings: np.ndarray | None,
        *,
        dense_latin_only: bool = True,
    ) -> None:
        self.ids: tuple[Hashable, ...] = tuple(ids)
        self.bm25 = bm25
        self.embeddings = embeddings
        self.dense_latin_only = dense_latin_only

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        articles: Sequence[tuple[Hashable, str, str]],
        embeddings: np.ndarray | None = None,
        *,
        title_weight: int = 2,
        dense_latin_only: bool = True,
    ) -> Self:
        """Index ``(id, title, body)`` articles; ``embeddings[i]`` belongs to ``articles[i]``.

        Article embeddings should come from ``Embedder.encode([f"{title}\\n{body}"])``;
        they are re-normalized here, so any scaling is harmless. ``dense_latin_only`` (for
        English-only embedders such as the default) weights the dense ranking by the query's
        :func:`~triage.text.latin_share`; pass ``False`` with a multilingual embedder.
        """
        ids = [article[0] for article in articles]
        if len(set(ids)) != len(ids):
            raise ValueError("article ids must be unique")
        documents = [tokenize(title) * title_weight + tokenize(body) for _, title, body in articles]
        dense = None
        if embeddings is not None:
            if embeddings.ndim != 2 or embeddings.shape[0] != len(articles):
                raise ValueError(
                    f"embeddings must have shape ({len(articles)}, dim), "
                    f"got {tuple(embeddings.shape)}"
                )
            dense = np.asarray(embeddings, dtype=np.float32)
            dense = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        return cls(ids, BM25Index(documents), dense, dense_latin_only=dense_latin_only)

    def lexical_ranking(self, query: str, depth: int) -> list[Hashable]:
        """Ids of the best BM25 matches (only articles sharing a token), best first."""
        top = _top(self.bm25.scores(terms(query)), depth, positive_only=True)
        return [self.ids[i] for i in top]

    def dense_ranking(self, query_embedding: np.ndarray, depth: int) -> list[Hashable]:
        """Ids of the articles most cosine-similar to the query embedding, best first."""
        if self.embeddings is None:
            return []
        vector = np.asarray(query_embedding, dtype=np.float32).ravel()
        if vector.shape[0] != self.embeddings.shape[1]:
            raise ValueError(
                f"query embedding has dim {vector.shape[0]}, index has {self.embeddings.shape[1]}"
            )
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        top = _top(self.embeddings @ vector, depth, positive_only=False)
        return [self.ids[i] for i in top]

    def search(
        self,
        query: str,
        query_embedding: np.ndarray | None = None,
        k: int = 5,
        *,
        depth: int = 100,
    ) -> list[Hit]:
        """The ``k`` best articles for ``query`` by RRF of the lexical and dense rankings."""
        if k <= 0 or not self.ids:
            return []
        depth = max(depth, k)
        rankings = [self.lexical_ranking(query, depth)]
        weights = [1.0]
        dense_weight = latin_share(query) if self.dense_latin_only else 1.0
        if query_embedding is not None and self.embeddings is not None and dense_weight > 0:
            rankings.append(self.dense_ranking(query_embedding, depth))
            weights.append(dense_weight)
        return fuse_rrf(rankings, weights=weights)[:k]
