"""Hybrid knowledge-base retrieval: Okapi BM25 + dense cosine, fused by weighted scores.

Pure and in-memory: build a :class:`HybridIndex` from ``(id, title, body)`` articles (and, if
available, their embeddings), then :meth:`HybridIndex.search` with a query (and its embedding).

* Lexical: BM25 over :func:`lexical_terms` — stemmed English words and CJK character
  unigrams + bigrams (optionally jieba words), minus a short stopword list — with the title and
  the body as separate fields, ``TITLE_WEIGHT × bm25(title) + bm25(body)``.
  Term weights are precomputed into sparse matrices, so scoring a query is a sparse
  column-slice and a mat-vec over all articles (about a millisecond for 10,000 articles).
* Dense: cosine similarity between L2-normalized embeddings (one dense mat-vec).
* Fusion: a convex combination of the normalized scores (:func:`fuse_scores`), weighted per
  query language (:func:`dense_weight`, from :func:`~triage.text.latin_share`): English leans
  on the dense side, Chinese on BM25 (the default embedder does not understand Chinese). The
  weights were chosen on dev sets, where the fusion is not worse than either side alone.
  A multilingual embedder should be indexed with ``dense_latin_only=False``.

Without embeddings (on the index or the query) the search is lexical only. Only articles sharing
at least one token with the query enter the lexical ranking, so lexical-only search returns
nothing for an unrelated query, while the dense ranking always ranks every article.
Returned scores are good for ordering, not an absolute relevance measure.
"""

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Literal, NamedTuple, Self

import numpy as np
from scipy import sparse

from triage.text import latin_share, stem, tokenize, words

__all__ = [
    "ANALYZER",
    "DENSE_WEIGHT_EN",
    "DENSE_WEIGHT_ZH",
    "RRF_K",
    "STOPWORDS",
    "TITLE_WEIGHT",
    "BM25Index",
    "Hit",
    "HybridIndex",
    "dense_weight",
    "fuse_rrf",
    "fuse_scores",
    "lexical_terms",
    "terms",
]

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


Analyzer = Literal["ngrams", "words", "both"]
Method = Literal["bm25", "dense", "fusion"]

# Defaults tuned with ``python -m bench.tune_retrieval`` on dev sets built from public FAQ data
# (queries split by hash: chosen on the "tune" half, the other half reported alongside).
# English: 67 FAQ entries, 935 paraphrased questions; recall@1 / recall@5 / MRR@10, tune half
# (report half):  BM25 alone 0.354/0.783/0.526 (0.367/0.802/0.538) with the title at 3×;
# dense alone 0.473/0.894/0.642 (0.512/0.888/0.663); fused at dense weight 0.85
# 0.513/0.917/0.671 (0.528/0.906/0.680). The former title-twice BM25 + RRF fusion measured
# 0.402/0.760/0.548 (0.378/0.767/0.544): worse than dense alone.

#: Lexical analyzer of Chinese text (see :func:`lexical_terms`); English terms are the same
#: in every analyzer. Chinese dev set (363 FAQ entries, 789 paraphrased questions), BM25
#: recall@1 / recall@5 / MRR@10 at title weight 3, tune half (report half): n-grams
#: 0.855/0.962/0.904 (0.895/0.982/0.931), jieba words 0.801/0.914/0.856 (0.860/0.946/0.899),
#: both 0.860/0.962/0.907 (0.890/0.987/0.930). Both ties n-grams (±2 queries) but segmenting
#: every article made rebuilding the index about 1.6× slower, so n-grams stay the default.
ANALYZER: Analyzer = "ngrams"
#: Weight of the title field's BM25 score against the body's (1.0). English dev recall@1 of
#: BM25 by title weight 0/0.5/1/2/3/5: 0.14/0.30/0.33/0.35/0.35/0.35 (tune half).
TITLE_WEIGHT = 3.0
#: Fusion weight of the dense side for English queries (1 - it for BM25). English dev
#: recall@1 by weight 0/0.5/0.7/0.8/0.85/0.9/1: 0.354/0.421/0.471/0.500/0.513/0.515/0.473
#: (tune half; 0.85 has the best recall@5 and leaves BM25 a say).
DENSE_WEIGHT_EN = 0.85
#: Fusion weight of the dense side for Chinese queries: the default embedder hardly knows
#: Chinese, so its neighbours are mostly noise.
DENSE_WEIGHT_ZH = 0.0


def lexical_terms(text: str, analyzer: Analyzer = ANALYZER) -> list[str]:
    """BM25 terms of ``text``: English as in :func:`terms`; Chinese as character uni/bigrams
    ("ngrams"), jieba words ("words"), or both, the words marked so that a word and the
    bigram spelled the same stay separate terms ("both")."""
    if analyzer == "ngrams":
        return terms(text)
    if analyzer == "words":
        return [w for w in words(text) if w not in STOPWORDS]
    ngrams = terms(text)
    if text.isascii():  # no Chinese: the words would only repeat the n-gram terms
        return ngrams
    return ngrams + [f"w:{w}" for w in words(text) if w not in STOPWORDS and _is_cjk_word(w)]


def _is_cjk_word(word: str) -> bool:
    return len(word) > 1 and not word.isascii() and word[0] != "<"


def dense_weight(query: str) -> float:
    """The dense side's fusion weight for ``query``: :data:`DENSE_WEIGHT_EN` and
    :data:`DENSE_WEIGHT_ZH` mixed by the query's :func:`~triage.text.latin_share`."""
    share = latin_share(query)
    return share * DENSE_WEIGHT_EN + (1.0 - share) * DENSE_WEIGHT_ZH


def fuse_scores(
    lexical: np.ndarray,
    dense: np.ndarray,
    weight: float,
    *,
    dense_floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convex combination of normalized scores: ``(1 - weight) · bm25 / max(bm25) + weight ·
    min-max(cosine)``, and the candidate indices (all articles, or with ``dense_floor`` those
    matching lexically or at least that cosine-similar).

    Weight 0 ranks as BM25 alone, weight 1 as dense alone, so a weight tuned on a dev set is
    never worse there than the better of the two.
    """
    top = float(lexical.max()) if lexical.size else 0.0
    lex = lexical / top if top > 0 else np.zeros_like(lexical)
    low, high = (float(dense.min()), float(dense.max())) if dense.size else (0.0, 0.0)
    cos = (dense - low) / (high - low) if high > low else np.zeros_like(dense)
    if dense_floor is not None:
        cos = np.where(dense >= dense_floor, cos, 0.0)
        candidates = np.flatnonzero((lexical > 0) | (dense >= dense_floor))
    else:
        candidates = np.arange(lexical.shape[0])
    return (1.0 - weight) * lex + weight * cos, candidates


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
    """BM25 over title and body fields + optional dense index over knowledge-base articles."""

    def __init__(
        self,
        ids: Sequence[Hashable],
        title_bm25: BM25Index,
        body_bm25: BM25Index,
        embeddings: np.ndarray | None,
        *,
        title_weight: float = TITLE_WEIGHT,
        dense_latin_only: bool = True,
        analyzer: Analyzer = ANALYZER,
    ) -> None:
        self.ids: tuple[Hashable, ...] = tuple(ids)
        self.title_bm25 = title_bm25
        self.body_bm25 = body_bm25
        self.embeddings = embeddings
        self.title_weight = title_weight
        self.dense_latin_only = dense_latin_only
        self.analyzer: Analyzer = analyzer

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        articles: Sequence[tuple[Hashable, str, str]],
        embeddings: np.ndarray | None = None,
        *,
        title_weight: float = TITLE_WEIGHT,
        dense_latin_only: bool = True,
        analyzer: Analyzer = ANALYZER,
    ) -> Self:
        """Index ``(id, title, body)`` articles; ``embeddings[i]`` belongs to ``articles[i]``.

        Article embeddings should come from ``Embedder.encode([f"{title}\\n{body}"])``;
        they are re-normalized here, so any scaling is harmless. ``dense_latin_only`` (for
        English-only embedders such as the default) gives Chinese queries the Chinese dense
        weight (see :func:`dense_weight`); pass ``False`` with a multilingual embedder.
        """
        ids = [article[0] for article in articles]
        if len(set(ids)) != len(ids):
            raise ValueError("article ids must be unique")
        titles = BM25Index([lexical_terms(title, analyzer) for _, title, _ in articles])
        bodies = BM25Index([lexical_terms(body, analyzer) for _, _, body in articles])
        dense = None
        if embeddings is not None:
            if embeddings.ndim != 2 or embeddings.shape[0] != len(articles):
                raise ValueError(
                    f"embeddings must have shape ({len(articles)}, dim), "
                    f"got {tuple(embeddings.shape)}"
                )
            dense = np.asarray(embeddings, dtype=np.float32)
            dense = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        return cls(
            ids,
            titles,
            bodies,
            dense,
            title_weight=title_weight,
            dense_latin_only=dense_latin_only,
            analyzer=analyzer,
        )

    def lexical_scores(self, query: str) -> np.ndarray:
        """Per-article BM25 score: title field × :attr:`title_weight` + body field."""
        tokens = lexical_terms(query, self.analyzer)
        return self.title_weight * self.title_bm25.scores(tokens) + self.body_bm25.scores(tokens)

    def dense_scores(self, query_embedding: np.ndarray | None) -> np.ndarray | None:
        """Per-article cosine similarity to the query embedding (None without embeddings)."""
        if query_embedding is None or self.embeddings is None:
            return None
        vector = np.asarray(query_embedding, dtype=np.float32).ravel()
        if vector.shape[0] != self.embeddings.shape[1]:
            raise ValueError(
                f"query embedding has dim {vector.shape[0]}, index has {self.embeddings.shape[1]}"
            )
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return self.embeddings @ vector

    def dense_weight(self, query: str) -> float:
        """The dense side's fusion weight for ``query`` (see :func:`dense_weight`)."""
        return dense_weight(query) if self.dense_latin_only else DENSE_WEIGHT_EN

    def lexical_ranking(self, query: str, depth: int) -> list[Hashable]:
        """Ids of the best BM25 matches (only articles sharing a token), best first."""
        top = _top(self.lexical_scores(query), depth, positive_only=True)
        return [self.ids[i] for i in top]

    def dense_ranking(self, query_embedding: np.ndarray, depth: int) -> list[Hashable]:
        """Ids of the articles most cosine-similar to the query embedding, best first."""
        scores = self.dense_scores(query_embedding)
        if scores is None:
            return []
        return [self.ids[i] for i in _top(scores, depth, positive_only=False)]

    def search(
        self,
        query: str,
        query_embedding: np.ndarray | None = None,
        k: int = 5,
        *,
        method: Method = "fusion",
        dense_floor: float | None = None,
        anchored: bool = False,
    ) -> list[Hit]:
        """The ``k`` best articles for ``query``.

        ``method`` "fusion" (default) combines the normalized BM25 and cosine scores with the
        query's :meth:`dense_weight` (:func:`fuse_scores`); "bm25" and "dense" rank by one
        side alone (for evaluation). ``dense_floor``: cosine similarities below it count as
        no dense match (the article must then match lexically to be returned).
        ``anchored``: a query that shares no term with any article finds nothing — a string
        of unknown words ("zxqv wplk") still has dense neighbours, and a multilingual model
        scores them about as high as real paraphrases.
        """
        if k <= 0 or not self.ids:
            return []
        lexical = self.lexical_scores(query) if method != "dense" else None
        if anchored and lexical is not None and not lexical.any():
            return []
        dense = self.dense_scores(query_embedding) if method != "bm25" else None
        if method == "dense":
            if dense is None:
                return []
            top = _top(dense, k, positive_only=False)
            return [Hit(self.ids[i], float(dense[i])) for i in top]
        assert lexical is not None
        weight = self.dense_weight(query) if method == "fusion" else 0.0
        if dense is None or weight <= 0.0:
            top = _top(lexical, k, positive_only=True)
            return [Hit(self.ids[i], float(lexical[i])) for i in top]
        fused, candidates = fuse_scores(lexical, dense, weight, dense_floor=dense_floor)
        order = candidates[np.lexsort((candidates, -fused[candidates]))][:k]
        return [Hit(self.ids[i], float(fused[i])) for i in order]
