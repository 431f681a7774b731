"""Training: fit the pipeline, measure it on a held-out split, return a typed artifact.

:func:`train` splits the examples into a stratified training and validation part, fits on the
first and evaluates on the second (the metrics stored with the model), then — by default —
refits on *all* examples, because the shipped model should learn from every labelled row. The
validation metrics therefore describe the recipe on slightly less data, a standard, slightly
pessimistic estimate. To decide a promotion, score champion and challenger on the same held-out
rows instead (:func:`triage.predict.evaluate_on`): stored metrics of two versions come from
different splits and need not be comparable.

Embeddings are passed in, never computed here: ``embeddings[i]`` must be
``embedder.encode([examples[i].text])[0]`` from the embedder named ``embedder_name``.
"""

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from triage import CATEGORIES
from triage.data import Example, data_ref
from triage.embedder import script_split
from triage.evaluate import report
from triage.pipeline import PipelineConfig, build_pipeline, make_inputs
from triage.versions import library_versions

__all__ = ["MIN_PER_CATEGORY", "TrainedModel", "cross_validate", "library_versions", "train"]


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted classifier plus everything needed to judge, reproduce and safely reload it."""

    pipeline: Pipeline
    config: PipelineConfig
    metrics: dict[str, Any]
    """:func:`triage.evaluate.report` on the stratified validation split."""
    n_train: int
    """Rows the shipped ``pipeline`` was fitted on (all rows when refitted)."""
    n_validation: int
    data_ref: str
    """SHA-256 of all training rows (:func:`triage.data.data_ref`)."""
    embedder_name: str | None
    embedder_dim: int | None
    seed: int
    versions: dict[str, str | None] = field(default_factory=library_versions)
    classes: tuple[str, ...] = CATEGORIES
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    train_seconds: float = 0.0


def _check_inputs(
    examples: Sequence[Example],
    embeddings: np.ndarray | None,
    embedder_name: str | None,
    config: PipelineConfig,
) -> PipelineConfig:
    if embeddings is None:
        if config.use_embeddings:
            raise ValueError("config.use_embeddings is set but no embeddings were given")
        return config
    if embedder_name is None:
        raise ValueError("embeddings were given without embedder_name (needed to reload safely)")
    if embeddings.ndim != 2 or embeddings.shape[0] != len(examples):
        raise ValueError(
            f"embeddings must have shape ({len(examples)}, dim), got {tuple(embeddings.shape)}"
        )
    return replace(config, use_embeddings=True, dense_split=script_split(embedder_name))


MIN_PER_CATEGORY = 5
"""Fewest examples of each category :func:`train` accepts (stratified split + calibration)."""


def _check_labels(labels: Sequence[str]) -> None:
    counts = Counter(labels)
    missing = [c for c in CATEGORIES if counts[c] < MIN_PER_CATEGORY]
    if missing:
        raise ValueError(
            f"every category needs at least {MIN_PER_CATEGORY} examples; too few for "
            + ", ".join(f"{c} ({counts[c]})" for c in missing)
        )


def _fit(
    config: PipelineConfig,
    seed: int,
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: np.ndarray | None,
) -> Pipeline:
    """Fit a fresh pipeline, with no more calibration folds than the rarest category allows."""
    folds = max(2, min(config.calibration_folds, min(Counter(labels).values())))
    pipeline = build_pipeline(replace(config, calibration_folds=folds), seed=seed)
    pipeline.fit(make_inputs(texts, embeddings), list(labels))
    return pipeline


def train(
    examples: Sequence[Example],
    embeddings: np.ndarray | None = None,
    *,
    embedder_name: str | None = None,
    config: PipelineConfig | None = None,
    seed: int = 0,
    validation_size: float = 0.2,
    refit_on_all: bool = True,
) -> TrainedModel:
    """Fit, validate on a stratified split and (by default) refit on all rows.

    Passing ``embeddings`` (aligned with ``examples``) together with ``embedder_name`` trains a
    lexical+dense model; predictions then need embeddings from the same embedder.
    ``refit_on_all=False`` ships the model fitted on the training part only — the exact model
    the stored metrics describe.
    """
    started = time.perf_counter()
    cfg = _check_inputs(examples, embeddings, embedder_name, config or PipelineConfig())
    texts = [e.text for e in examples]
    labels = [e.category for e in examples]
    _check_labels(labels)
    train_idx, val_idx = train_test_split(
        np.arange(len(examples)), test_size=validation_size, stratify=labels, random_state=seed
    )

    def pick(idx: np.ndarray) -> tuple[list[str], list[str], np.ndarray | None]:
        emb = None if embeddings is None else embeddings[idx]
        return [texts[i] for i in idx], [labels[i] for i in idx], emb

    fit_texts, fit_labels, fit_emb = pick(train_idx)
    val_texts, val_labels, val_emb = pick(val_idx)
    pipeline = _fit(cfg, seed, fit_texts, fit_labels, fit_emb)
    predicted = pipeline.predict(make_inputs(val_texts, val_emb))
    metrics = report(val_labels, [str(p) for p in predicted])
    if refit_on_all:
        pipeline = _fit(cfg, seed, texts, labels, embeddings)
    return TrainedModel(
        pipeline=pipeline,
        config=cfg,
        metrics=metrics,
        n_train=len(examples) if refit_on_all else len(train_idx),
        n_validation=len(val_idx),
        data_ref=data_ref(examples),
        embedder_name=embedder_name if embeddings is not None else None,
        embedder_dim=int(embeddings.shape[1]) if embeddings is not None else None,
        seed=seed,
        train_seconds=time.perf_counter() - started,
    )


def cross_validate(
    examples: Sequence[Example],
    embeddings: np.ndarray | None = None,
    *,
    config: PipelineConfig | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray]:
    """Stratified k-fold evaluation of the recipe (for tuning and reporting, not shipping).

    Returns the :func:`~triage.evaluate.report` of the pooled out-of-fold predictions and the
    out-of-fold probability matrix (columns in ``CATEGORIES`` order).
    """
    cfg = replace(config or PipelineConfig(), use_embeddings=embeddings is not None)
    texts = [e.text for e in examples]
    labels = np.array([e.category for e in examples])
    _check_labels(list(labels))
    probabilities = np.zeros((len(examples), len(CATEGORIES)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, test_idx in splitter.split(texts, labels):
        fit_emb = None if embeddings is None else embeddings[fit_idx]
        test_emb = None if embeddings is None else embeddings[test_idx]
        pipeline = _fit(cfg, seed, [texts[i] for i in fit_idx], list(labels[fit_idx]), fit_emb)
        proba = pipeline.predict_proba(make_inputs([texts[i] for i in test_idx], test_emb))
        order = [list(pipeline.classes_).index(c) for c in CATEGORIES]
        probabilities[test_idx] = proba[:, order]
    predicted = [CATEGORIES[i] for i in probabilities.argmax(axis=1)]
    return report(list(labels), predicted), probabilities
