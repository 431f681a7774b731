"""The one scikit-learn ``Pipeline`` builder for request-type classification.

Input rows are :class:`TriageInput` records — a text plus, optionally, its precomputed sentence
embedding — passed as a plain list (build them with :func:`make_inputs`). A list works with all
of scikit-learn's splitting and calibration machinery, and keeping embeddings *outside* the
pipeline means the pipeline never loads a neural model: the worker embeds once (it needs the
vector for knowledge-base retrieval anyway) and hands the same vector to the classifier.

Features:

* lexical (always): TF-IDF over character n-grams (``char_wb``, 1–4; with the Chinese words
  in, 1–3 cost a quarter less training time at the same dev-set macro-F1 but lost English
  behavioural cases the guideline decides, e.g. own-order questions worded unlike any
  training row) of the normalized text — dictionary-free, so it works for Chinese, which the
  default embedding model hardly knows —
  plus TF-IDF over stemmed English word uni- and bigrams. ``min_df=2`` drops n-grams seen in a
  single training row, which removes most personal names and other one-off strings.
* Chinese words (``zh_word_ngram_range``, default 1–2; ``None`` turns them off): TF-IDF over
  jieba word uni- and bigrams (:func:`triage.text.segment`) of the CJK runs, weighted by
  ``zh_word_weight``. Words such as 退款 / 到账 / 赔钱 carry meaning that overlapping character
  n-grams only approximate; tuned on a held-out set of real Chinese customer messages (not on
  the bootstrap corpus), they raised its macro-F1 and the word bigrams beat unigrams alone.
  Before any lexical feature, traditional characters are folded to simplified
  (:func:`triage.hanzi.to_simplified`), so 繁體 and 简体 spellings share features.
* by script (``script_gated_lexical``, default): a few words of one script beside a longer
  text in the other (a product name in a Chinese message, "买的iPhone 14 Pro Max，屏幕碎了"; a
  Chinese name in an English one) are names of that text (:func:`triage.text.without_names`):
  the character n-grams leave them out, and each word block (English words; Chinese words) is
  scaled by its script's share of the text (:func:`triage.text.latin_share`), as the dense
  halves are. Each block is L2-normalized on its own, so before, one Latin word in a Chinese
  message made a whole unit-length block of English words and weighed as much as the request:
  with such a name or a chat word ("hello，", "thx") added, the worker's model gave 5–13 % of
  the Chinese dev rows another type (``bench/devdata/mixed.json``). A text in one script reads
  exactly as before.
* dense (optional, ``use_embeddings=True``): the L2-normalized embedding times
  ``dense_weight``. With ``dense_latin_only`` (default) each row's embedding is further scaled
  by :func:`triage.text.latin_share` of its text, so English rows use their embedding and
  Chinese rows, whose MiniLM embeddings are close to noise, effectively do not. Turn it off for
  a multilingual embedder. Cross-validated on the bootstrap corpus this keeps Chinese at the
  lexical level while lifting English (ungated embeddings lowered Chinese macro-F1).
* script-split dense (``dense_split``, set by :func:`config_for` from a
  :func:`triage.embedder.script_name`): each row's vector is two embeddings side by side, the
  first ``dense_split`` columns from the Latin-script embedder (MiniLM, gated by
  ``latin_share`` as above), the rest from a multilingual one (multilingual-e5-small) gated by
  ``1 - latin_share`` and weighted ``cjk_dense_weight``. So Chinese rows get dense features
  that mean something and English rows keep the embedder they classify best with: on the
  Chinese development set (real JD.com and takeaway messages, ``bench/devdata``) macro-F1
  rose from 0.716 (lexical alone for Chinese) to 0.742 at weight 1.0, the lexical block's
  (0.734 at 0.75; 0.742–0.748 from 1.1 to 2.25, not taken: a dev-set optimum of this size is
  noise), and the English sets did not move (+0.000 to +0.005); e5 for every script instead
  lost 0.015 accuracy on English service requests.

Classifier: ``LinearSVC`` (balanced class weights) inside ``CalibratedClassifierCV`` with
temperature scaling (5 internal folds). Temperature scaling fits one parameter on out-of-fold
decision values, so it cannot distort the ranking of classes, and it gave the best calibrated
probabilities in 5-fold cross-validation on the bootstrap corpus (expected calibration error
≈ 0.004, log-loss 0.088) at the same macro-F1 (≈ 0.97) as logistic regression, whose own
probabilities were markedly less calibrated (ECE 0.03–0.15 depending on C; sigmoid and isotonic
calibration 0.03–0.05). Calibrated probabilities matter
because the worker compares ``confidence`` against a routing threshold.

The fitted pipeline's ``classes_`` are alphabetical (scikit-learn's convention); use
:func:`triage.predict.predict`, which returns probabilities in :data:`triage.CATEGORIES` order.

Pickling note: fitted pipelines reference this module's functions by name
(``triage.pipeline._texts`` …); renaming them invalidates stored models.
"""

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from triage.hanzi import to_simplified
from triage.text import latin_share, normalize, segment, tokenize, without_names

__all__ = [
    "PipelineConfig",
    "TriageInput",
    "build_pipeline",
    "config_for",
    "dense_needed",
    "make_inputs",
]


@dataclass(frozen=True, slots=True)
class TriageInput:
    """One row for the pipeline: the raw text and, for embedding models, its embedding."""

    text: str
    embedding: np.ndarray | None = None


def make_inputs(texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[TriageInput]:
    """Zip texts with the rows of an ``(n, dim)`` embedding matrix (or with nothing)."""
    if embeddings is None:
        return [TriageInput(t) for t in texts]
    if embeddings.ndim != 2 or embeddings.shape[0] != len(texts):
        raise ValueError(
            f"embeddings must have shape ({len(texts)}, dim), got {tuple(embeddings.shape)}"
        )
    return [TriageInput(t, e) for t, e in zip(texts, embeddings, strict=True)]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Hyper-parameters of the classification pipeline (chosen by cross-validation)."""

    use_embeddings: bool = False
    char_ngram_range: tuple[int, int] = (1, 4)
    word_ngram_range: tuple[int, int] = (1, 2)
    zh_word_ngram_range: tuple[int, int] | None = (1, 2)
    zh_word_weight: float = 1.0
    min_df: int = 2
    dense_weight: float = 0.75
    dense_latin_only: bool = True
    dense_split: int | None = None
    cjk_dense_weight: float = 1.0
    script_gated_lexical: bool = True
    C: float = 1.0
    calibration_folds: int = 5

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration as JSON-serialisable data (for model metadata)."""
        return asdict(self)


def _texts(rows: Sequence[TriageInput]) -> list[str]:
    """Normalized texts of ``rows`` (the input step of models stored before ``_folded_texts``)."""
    return [normalize(row.text) for row in rows]


def _folded_texts(rows: Sequence[TriageInput]) -> list[str]:
    """``_texts`` with traditional Chinese characters folded to simplified, so that 繁體 and
    简体 spellings of a message share their character n-grams and jieba words."""
    return [to_simplified(normalize(row.text)) for row in rows]


def _embeddings(
    rows: Sequence[TriageInput],
    latin_only: bool = False,
    split: int | None = None,
    cjk_scale: float = 1.0,
) -> np.ndarray:
    """Stack the rows' embeddings (every row must carry one), optionally language-gated; with
    ``split``, columns from ``split`` on (the multilingual embedder's) are gated the other way
    and scaled by ``cjk_scale``."""
    if any(row.embedding is None for row in rows):
        raise ValueError("this pipeline uses embeddings, but some input rows have none")
    matrix = np.vstack([np.asarray(row.embedding, dtype=np.float32) for row in rows])
    if not latin_only and split is None:
        return matrix
    gate = np.array([latin_share(row.text) for row in rows], dtype=np.float32)[:, None]
    if split is None:
        matrix *= gate
    else:
        matrix[:, :split] *= gate
        matrix[:, split:] *= (1.0 - gate) * cjk_scale
    return matrix


def config_for(embedder_name: str | None) -> PipelineConfig:
    """The pipeline configuration for embeddings from ``embedder_name`` (None: lexical only):
    a script-split name (:func:`triage.embedder.script_name`) sets ``dense_split``."""
    from triage.embedder import script_split

    return PipelineConfig(
        use_embeddings=embedder_name is not None,
        dense_split=script_split(embedder_name),
    )


def dense_needed(texts: Sequence[str], config: PipelineConfig | None = None) -> list[bool]:
    """Which rows' embeddings a pipeline built from ``config`` can use: with the language gate
    (``dense_latin_only``) a text without Latin script gets a zero dense block whatever its
    embedding, so there is no need to compute one for training. A script-split pipeline uses
    every row's (its encoder makes only the half a text's scripts need)."""
    cfg = config or PipelineConfig()
    if cfg.dense_split is not None or not cfg.dense_latin_only:
        return [True] * len(texts)
    return [latin_share(text) > 0 for text in texts]


def _latin_words(text: str) -> list[str]:
    """Stemmed English words and placeholders (CJK is covered by the character n-grams)."""
    return tokenize(text, cjk=False)


def _word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Word n-grams of ``_latin_words`` for ``TfidfVectorizer(analyzer=...)``."""
    words = _latin_words(text)
    low, high = ngram_range
    return [
        " ".join(words[i : i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)
    ]


class _WordAnalyzer:
    """Picklable callable binding an n-gram range to :func:`_word_ngrams`."""

    def __init__(self, ngram_range: tuple[int, int]) -> None:
        self.ngram_range = ngram_range

    def __call__(self, text: str) -> list[str]:
        return _word_ngrams(text, self.ngram_range)


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _zh_words(text: str) -> list[str]:
    """jieba words of the Chinese runs of ``text``, traditional characters folded to simplified
    first (jieba's dictionary is simplified; a no-op after ``_folded_texts``)."""
    return [w for run in _CJK_RUN.findall(to_simplified(text)) for w in segment(run)]


def _zh_word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Word n-grams of ``_zh_words`` for ``TfidfVectorizer(analyzer=...)``."""
    words = _zh_words(text)
    low, high = ngram_range
    return [
        " ".join(words[i : i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)
    ]


class _ZhWordAnalyzer:
    """Picklable callable binding an n-gram range to :func:`_zh_word_ngrams`."""

    def __init__(self, ngram_range: tuple[int, int]) -> None:
        self.ngram_range = ngram_range

    def __call__(self, text: str) -> list[str]:
        return _zh_word_ngrams(text, self.ngram_range)


class _OptionalTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` that yields no columns, instead of failing, when no term survives
    ``min_df``: a small or English-only training set may have no Chinese word twice."""

    def fit_transform(self, raw_documents: Any, y: Any = None) -> Any:
        self.empty_ = False
        try:
            return super().fit_transform(raw_documents, y)
        except ValueError as exc:
            if "no terms remain" not in str(exc) and "empty vocabulary" not in str(exc):
                raise
            self.empty_ = True
            return sparse.csr_matrix((len(raw_documents), 0), dtype=self.dtype)

    def fit(self, raw_documents: Any, y: Any = None) -> "_OptionalTfidfVectorizer":
        self.fit_transform(raw_documents, y)
        return self

    def transform(self, raw_documents: Any) -> Any:
        if getattr(self, "empty_", False):
            return sparse.csr_matrix((len(raw_documents), 0), dtype=self.dtype)
        return super().transform(raw_documents)


class _ScriptGated(TransformerMixin, BaseEstimator):
    """A vectorizer of one script's features whose rows are scaled by that script's share of
    each text (:func:`triage.text.latin_share`), so a few words in the other script (a product
    name in a Chinese message) weigh as little as they say, not as much as a whole text."""

    def __init__(self, vectorizer: Any, latin: bool) -> None:
        self.vectorizer = vectorizer
        self.latin = latin

    def _gated(self, texts: Sequence[str], matrix: Any) -> Any:
        shares = np.array([latin_share(t) for t in texts], dtype=np.float32)
        return sparse.csr_matrix(sparse.diags(shares if self.latin else 1.0 - shares) @ matrix)

    def fit(self, texts: Sequence[str], y: Any = None) -> "_ScriptGated":
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Sequence[str], y: Any = None, **_: Any) -> Any:
        self.fitted_ = True
        return self._gated(texts, self.vectorizer.fit_transform(texts))

    def transform(self, texts: Sequence[str]) -> Any:
        return self._gated(texts, self.vectorizer.transform(texts))


def build_pipeline(config: PipelineConfig | None = None, *, seed: int = 0) -> Pipeline:
    """Build an unfitted classification pipeline taking ``list[TriageInput]``.

    The calibration step needs at least ``calibration_folds`` examples of every category in the
    data it is fitted on; :func:`triage.train.train` lowers the fold count for small data sets.
    """
    cfg = config or PipelineConfig()

    def chars(preprocessor: Any = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=cfg.char_ngram_range,
            lowercase=False,
            preprocessor=preprocessor,
            min_df=cfg.min_df,
            sublinear_tf=True,
            dtype=np.float32,
        )

    words = _OptionalTfidfVectorizer(
        analyzer=_WordAnalyzer(cfg.word_ngram_range),
        lowercase=False,
        min_df=cfg.min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )
    zh_words = _OptionalTfidfVectorizer(
        analyzer=_ZhWordAnalyzer(cfg.zh_word_ngram_range or (1, 1)),
        lowercase=False,
        min_df=cfg.min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )
    vectorizers: list[tuple[str, Any]]
    if cfg.script_gated_lexical:
        vectorizers = [
            ("char", chars(without_names)),
            ("word", _ScriptGated(words, latin=True)),
            ("zh_word", _ScriptGated(zh_words, latin=False)),
        ]
    else:
        vectorizers = [("char", chars()), ("word", words), ("zh_word", zh_words)]
    if cfg.zh_word_ngram_range is None:
        vectorizers = [(name, v) for name, v in vectorizers if name != "zh_word"]
    vector_weights = {name: 1.0 for name, _ in vectorizers}
    if "zh_word" in vector_weights:
        vector_weights["zh_word"] = cfg.zh_word_weight
    lexical = Pipeline(
        [
            ("normalize", FunctionTransformer(_folded_texts)),
            (
                "tfidf",
                FeatureUnion(vectorizers, transformer_weights=vector_weights),
            ),
        ]
    )
    blocks: list[tuple[str, Any]] = [("lexical", lexical)]
    weights = {"lexical": 1.0}
    if cfg.use_embeddings:
        gates: dict[str, Any] = {"latin_only": cfg.dense_latin_only}
        if cfg.dense_split is not None:  # (models stored before it pickled no such arguments)
            gates["split"] = cfg.dense_split
            gates["cjk_scale"] = cfg.cjk_dense_weight / cfg.dense_weight
        dense = FunctionTransformer(_embeddings, kw_args=gates)
        blocks.append(("dense", dense))
        weights["dense"] = cfg.dense_weight
    return Pipeline(
        [
            ("features", FeatureUnion(blocks, transformer_weights=weights)),
            (
                "classifier",
                CalibratedClassifierCV(
                    LinearSVC(C=cfg.C, class_weight="balanced", random_state=seed),
                    method="temperature",
                    cv=cfg.calibration_folds,
                ),
            ),
        ]
    )
