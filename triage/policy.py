"""The classifier's training and promotion policy: what a model is fitted on, what it is judged
by, and when a challenger replaces the current model.

Pure: labelled texts and their embeddings in, a fitted model, its reports and a decision out.
Where the labels come from, where versions are recorded and which model a process holds is the
model life cycle's business (``models.services.knowledge.lifecycle``).

**Data and splits.** The bootstrap corpus (``triage/data``) is split once, stratified with a
fixed seed, into a training part and a *bootstrap validation split*. Leads' corrections and
imported rows (labels) are split into training and *held-out labels*: a label is held out
when a seeded hash of its normalized text falls in the lowest 20 % — stratified per type
(each type is split on its own, and a type with at least five labels always holds one out),
and stable as labels accumulate, so no model trained here ever sees a held-out label and the
comparison between two versions stays fair. A text labelled several times counts once, with
its latest label (:func:`latest_per_text`).

**Training.** A model is fitted on the bootstrap training part plus the training labels, in
one scikit-learn pipeline (:mod:`triage.pipeline`) with dense features when embeddings are
given. Labels are weighted so that together they weigh about as much as the bootstrap
corpus (each at most :data:`MAX_LABEL_WEIGHT` bootstrap rows): twenty corrections from a
team's own domain must be able to move the model, which 2,000 generic rows would otherwise
drown. The shipped model is the one evaluated — it is never refitted on the evaluation sets.

**Promotion.** The challenger and the current model are scored on the same sets: the
held-out labels (the team's own traffic, the main criterion, :func:`triage.evaluate.
is_not_worse` with its default tolerance) and the bootstrap validation split (a guard
against damage on ordinary inquiries: the challenger may give up there only as much as it
gains on at least 20 held-out labels, between 1 and 10 points of macro-F1 — adapting to a
team's conventions may legitimately cost some generic accuracy, but never for nothing). It
is promoted only if not worse on both (:func:`decide`).

Importing this module is light: scikit-learn is imported by the functions that fit and score.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import numpy as np

from triage import CATEGORIES
from triage.data import Example
from triage.evaluate import is_not_worse, report
from triage.text import normalize
from triage.versions import CHECKED_LIBRARIES, library_versions

if TYPE_CHECKING:
    from triage.train import TrainedModel

__all__ = [
    "BOOTSTRAP_TOLERANCE",
    "HOLDOUT_PERCENT",
    "LABELS_TOLERANCE",
    "MAX_LABEL_WEIGHT",
    "MIN_FOR_FORCED_HOLDOUT",
    "MIN_HELD_OUT_FOR_TRADE",
    "SEED",
    "VALIDATION_SHARE",
    "LabelledText",
    "TrainingData",
    "TrainingRun",
    "bootstrap_version",
    "combined",
    "decide",
    "evaluate",
    "fit",
    "label_key",
    "label_weight",
    "latest_per_text",
    "metrics",
    "slug",
    "split_bootstrap",
    "split_labels",
]

SEED: Final = 0
VALIDATION_SHARE: Final = 0.2
HOLDOUT_PERCENT: Final = 20
MIN_FOR_FORCED_HOLDOUT: Final = 5
MAX_LABEL_WEIGHT: Final = 10.0
LABELS_TOLERANCE: Final = 0.01
BOOTSTRAP_TOLERANCE: Final = 0.10  # the most generic macro-F1 a measured gain can buy
MIN_HELD_OUT_FOR_TRADE: Final = 20  # held-out labels needed before any gain is believed


# --- which labels, which split ---------------------------------------------------------------


class LabelledText(Protocol):
    """A label as the policy sees it: ``key`` is :func:`label_key` of its text."""

    @property
    def id(self) -> int: ...

    @property
    def key(self) -> str: ...

    @property
    def category(self) -> str: ...


L = TypeVar("L", bound=LabelledText)


def label_key(text: str) -> str:
    """The identity of a labelled text (its normalized form; empty: not a usable label)."""
    return normalize(text)


def latest_per_text(rows: Iterable[L]) -> list[L]:
    """The latest label of each distinct text, in id order (``rows`` come in id order; rows
    whose key is empty are dropped)."""
    latest: dict[str, L] = {}
    for row in rows:
        if row.key:
            latest[row.key] = row
    return sorted(latest.values(), key=lambda r: r.id)


def hash_bucket(key: str) -> int:
    """A seeded, stable bucket 0–99 of a label key."""
    digest = hashlib.blake2b(f"{SEED}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def split_labels(rows: Sequence[L]) -> tuple[list[L], list[L]]:
    """Training and held-out labels: stable, seeded, stratified per type (see module doc)."""
    train: list[L] = []
    held: list[L] = []
    by_type: dict[str, list[L]] = {}
    for row in rows:
        by_type.setdefault(row.category, []).append(row)
    for group in by_type.values():
        buckets = [hash_bucket(r.key) for r in group]
        out = [i for i, bucket in enumerate(buckets) if bucket < HOLDOUT_PERCENT]
        if not out and len(group) >= MIN_FOR_FORCED_HOLDOUT:
            out = [min(range(len(group)), key=lambda i: (buckets[i], group[i].key))]
        chosen = set(out)
        held.extend(group[i] for i in out)
        train.extend(r for i, r in enumerate(group) if i not in chosen)
    return train, held


def split_bootstrap(examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Indices of the bootstrap training part and validation split (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(examples))
    fit_idx, val_idx = train_test_split(
        indices,
        test_size=VALIDATION_SHARE,
        stratify=[e.category for e in examples],
        random_state=SEED,
    )
    return sorted(int(i) for i in fit_idx), sorted(int(i) for i in val_idx)


def label_weight(n_bootstrap: int, n_labels: int) -> float:
    """Weight of one label: labels together ≈ the bootstrap corpus, each ≤ MAX_LABEL_WEIGHT."""
    if n_labels == 0:
        return 1.0
    return float(min(MAX_LABEL_WEIGHT, max(1.0, n_bootstrap / n_labels)))


# --- names -------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A short stable digest of ``text`` (for file and version names)."""
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def bootstrap_version(data_ref: str, embedder: str | None) -> str:
    """A deterministic name: the same data, embedder and libraries give the same model, so a
    stored bootstrap artifact is reused (e.g. after the database was reset)."""
    from triage.pipeline import PipelineConfig

    running = library_versions()
    fingerprint = slug(
        repr(
            (
                embedder,
                SEED,
                VALIDATION_SHARE,
                PipelineConfig(),
                [(k, (running[k] or "").split(".")[:2]) for k in CHECKED_LIBRARIES],
            )
        )
    )
    return f"bootstrap-{data_ref[7:15]}-{fingerprint[:8]}"


# --- one training run --------------------------------------------------------------------------


@dataclass
class TrainingData:
    """Everything one training run fits on and is judged by (embeddings aligned with rows)."""

    boot_fit: list[Example]
    boot_val: list[Example]
    labels_fit: list[Example]
    labels_held: list[Example]
    labels_total: int
    boot_emb_fit: np.ndarray | None = None
    boot_emb_val: np.ndarray | None = None
    label_emb_fit: np.ndarray | None = None
    label_emb_held: np.ndarray | None = None


@dataclass
class TrainingRun:
    """A fitted challenger and its reports on every evaluation set."""

    model: TrainedModel
    reports: dict[str, dict[str, Any] | None]
    training_size: int
    label_count: int
    weight: float
    data_ref: str
    meta: dict[str, Any] = field(default_factory=dict)


def _fit_weighted(
    texts: Sequence[str],
    categories: Sequence[str],
    weights: np.ndarray,
    embeddings: np.ndarray | None,
    embedder_name: str | None,
    data_ref: str,
) -> TrainedModel:
    """One fit of the shared pipeline with per-row weights (train() has no sample weights)."""
    from triage.pipeline import PipelineConfig, build_pipeline, make_inputs
    from triage.train import TrainedModel

    started = time.perf_counter()
    config = PipelineConfig(use_embeddings=embeddings is not None)
    folds = max(2, min(config.calibration_folds, min(Counter(categories).values())))
    pipeline = build_pipeline(replace(config, calibration_folds=folds), seed=SEED)
    pipeline.fit(
        make_inputs(texts, embeddings), list(categories), classifier__sample_weight=weights
    )
    return TrainedModel(
        pipeline=pipeline,
        config=config,
        metrics={},
        n_train=len(texts),
        n_validation=0,
        data_ref=data_ref,
        embedder_name=embedder_name if embeddings is not None else None,
        embedder_dim=int(embeddings.shape[1]) if embeddings is not None else None,
        seed=SEED,
        train_seconds=time.perf_counter() - started,
    )


def fit(data: TrainingData, embedder_name: str | None) -> TrainingRun:
    """Fit a challenger on the bootstrap training part plus the weighted training labels.

    Dense features are used when the bootstrap embeddings are present (``embedder_name``
    names their embedder). The run's ``reports`` are filled by :func:`evaluate`.
    """
    from triage.data import data_ref

    rows = list(data.boot_fit) + list(data.labels_fit)
    weight = label_weight(len(data.boot_fit), len(data.labels_fit))
    weights = np.concatenate(
        [np.ones(len(data.boot_fit)), np.full(len(data.labels_fit), weight)]
    ).astype(np.float64)
    embeddings = None
    if data.boot_emb_fit is not None:
        parts = [data.boot_emb_fit]
        if data.labels_fit:
            assert data.label_emb_fit is not None
            parts.append(data.label_emb_fit)
        embeddings = np.vstack(parts)
    name = embedder_name if embeddings is not None else None
    ref = data_ref(rows)
    model = _fit_weighted(
        [r.text for r in rows], [r.category for r in rows], weights, embeddings, name, ref
    )
    return TrainingRun(model, {}, len(rows), len(data.labels_fit), weight, ref)


def _evaluate_on(
    model: TrainedModel, examples: Sequence[Example], embeddings: np.ndarray | None
) -> dict[str, Any] | None:
    from triage.predict import evaluate_on

    if not examples:
        return None
    return evaluate_on(model, examples, embeddings)


def combined(*reports: dict[str, Any] | None) -> dict[str, Any] | None:
    """One report over several evaluation sets (recomputed from their confusion matrices)."""
    truth: list[str] = []
    guess: list[str] = []
    for rep in reports:
        if not rep:
            continue
        for i, row in enumerate(rep["confusion"]):
            for j, count in enumerate(row):
                truth += [CATEGORIES[i]] * count
                guess += [CATEGORIES[j]] * count
    return report(truth, guess) if truth else None


def evaluate(model: TrainedModel, data: TrainingData) -> dict[str, dict[str, Any] | None]:
    """A model's reports on the evaluation sets of ``data`` (keyed by set) and over both."""
    boot = _evaluate_on(model, data.boot_val, data.boot_emb_val)
    held = _evaluate_on(model, data.labels_held, data.label_emb_held)
    return {
        "bootstrap_validation": boot,
        "held_out_labels": held,
        "evaluation": combined(boot, held),
    }


def metrics(run: TrainingRun, data: TrainingData) -> dict[str, Any]:
    """What is stored with a trained version: its reports and how it was trained."""
    return {
        **run.reports,
        "train_seconds": round(run.model.train_seconds, 2),
        "label_weight": run.weight,
        "labels_total": data.labels_total,
        "labels_held_out": len(data.labels_held),
        "bootstrap_training": len(data.boot_fit),
        "bootstrap_validation_size": len(data.boot_val),
        "embedder": run.model.embedder_name,
    }


# --- promotion ---------------------------------------------------------------------------------


def decide(
    challenger: dict[str, dict[str, Any] | None], champion: dict[str, dict[str, Any] | None] | None
) -> tuple[bool, str, dict[str, Any]]:
    """Promote or not, why, and the per-set comparison (reports keyed by evaluation set).

    Held-out labels are judged with :data:`LABELS_TOLERANCE`. On the bootstrap validation
    split the challenger may lose only what it gains on the held-out labels (macro-F1),
    at least :data:`LABELS_TOLERANCE` and at most :data:`BOOTSTRAP_TOLERANCE`, and only when
    the gain is measured on :data:`MIN_HELD_OUT_FOR_TRADE` held-out labels or more: generic
    accuracy is traded only for measured accuracy on the team's own traffic, never for
    nothing (nor for the noise of a handful of labels).
    """
    if champion is None:
        return True, "no current model", {}
    gain = 0.0
    held_new, held_old = challenger.get("held_out_labels"), champion.get("held_out_labels")
    if held_new and held_old and held_new.get("n", 0) >= MIN_HELD_OUT_FOR_TRADE:
        gain = held_new["macro_f1"] - held_old["macro_f1"]
    boot_tolerance = round(min(BOOTSTRAP_TOLERANCE, max(LABELS_TOLERANCE, gain)), 4)
    sets: dict[str, Any] = {}
    promote = True
    reasons = []
    for name, tolerance in (
        ("held_out_labels", LABELS_TOLERANCE),
        ("bootstrap_validation", boot_tolerance),
    ):
        new, old = challenger.get(name), champion.get(name)
        if not new or not old or not new.get("n"):
            continue
        ok = is_not_worse(new, old, tolerance=tolerance)
        sets[name] = {
            "n": new["n"],
            "tolerance": tolerance,
            "not_worse": ok,
            "challenger": _summary(new),
            "champion": _summary(old),
        }
        if not ok:
            promote = False
            reasons.append(f"worse on {name.replace('_', ' ')}")
    return promote, "; ".join(reasons) or "not worse on every evaluation set", sets


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "f1": {k: v["f1"] for k, v in report["per_class"].items()},
    }
