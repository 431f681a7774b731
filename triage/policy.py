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
team's corrections (the main criterion, :func:`triage.evaluate.is_not_worse` with its default
tolerance) and the bootstrap validation split (a guard against damage on ordinary inquiries:
the challenger may give up there only as much as it gains on at least 20 corrections, between
1 and 10 points of macro-F1 — adapting to a team's conventions may legitimately cost some
generic accuracy, but never for nothing). It is promoted only if not worse on both
(:func:`decide`), and only on sufficient evidence: with :data:`MIN_HELD_OUT` held-out labels
or more the held-out labels judge it; with fewer, *k-fold cross-validation* over all labels
does (:func:`cross_validate`: each fold is predicted by a model fitted on the bootstrap
training part plus the other folds' labels, the current model on the same rows); with fewer
than :data:`MIN_CORRECTIONS` labels in all nothing is promoted — one lucky correction is no
evidence. The very first model (no current model) is promoted as it is.

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
from triage.text import TEXT_VERSION, normalize
from triage.versions import CHECKED_LIBRARIES, library_versions

if TYPE_CHECKING:
    from triage.train import TrainedModel

__all__ = [
    "BOOTSTRAP_TOLERANCE",
    "CV_FOLDS",
    "HOLDOUT_PERCENT",
    "LABELS_TOLERANCE",
    "MAX_LABEL_WEIGHT",
    "MIN_CORRECTIONS",
    "MIN_FOR_FORCED_HOLDOUT",
    "MIN_HELD_OUT",
    "MIN_HELD_OUT_FOR_TRADE",
    "SEED",
    "VALIDATION_SHARE",
    "Decision",
    "LabelledText",
    "TrainingData",
    "TrainingRun",
    "bootstrap_version",
    "combined",
    "cross_validate",
    "decide",
    "evaluate",
    "fit",
    "fold_of",
    "label_key",
    "label_weight",
    "latest_per_text",
    "metrics",
    "needs_cross_validation",
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
MIN_HELD_OUT_FOR_TRADE: Final = 20  # judged labels needed before any gain is believed
MIN_HELD_OUT: Final = 30  # held-out labels that judge a challenger on their own
MIN_CORRECTIONS: Final = 10  # labels needed before any challenger is judged at all
CV_FOLDS: Final = 5  # folds of the cross-validation used below MIN_HELD_OUT held-out labels


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
    """A deterministic name: the same data, embedder, libraries and way of reading text
    (:data:`~triage.text.TEXT_VERSION`) give the same model, so a stored bootstrap artifact is
    reused (e.g. after the database was reset)."""
    from triage.pipeline import config_for

    running = library_versions()
    fingerprint = slug(
        repr(
            (
                embedder,
                SEED,
                VALIDATION_SHARE,
                config_for(embedder),
                TEXT_VERSION,
                [(k, (running[k] or "").split(".")[:2]) for k in CHECKED_LIBRARIES],
            )
        )
    )
    return f"bootstrap-{data_ref[7:15]}-{fingerprint[:8]}"


def bootstrap_cache_name(embedder: str, data_ref: str, *, gated: bool) -> str:
    """The file name of the bootstrap rows' cached embeddings: per embedder, data version and
    way of reading text; ``gated``: the rows the language gate zeroes were not encoded."""
    tag = "-gated" if gated else ""
    return f"bootstrap-{slug(embedder)}-{data_ref[7:23]}-t{TEXT_VERSION}{tag}.npy"


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
    from triage.pipeline import build_pipeline, config_for, make_inputs
    from triage.train import TrainedModel

    started = time.perf_counter()
    config = config_for(embedder_name if embeddings is not None else None)
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


# --- cross-validation over the labels -----------------------------------------------------


def fold_of(rows: Sequence[Example], k: int) -> list[int]:
    """The fold (0…k-1) of each labelled row: per type, in seeded hash order, dealt round
    robin — balanced, stable and independent of the rows' order."""
    folds = [0] * len(rows)
    by_type: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_type.setdefault(row.category, []).append(i)
    dealt = 0
    for category in sorted(by_type):
        ordered = sorted(
            by_type[category], key=lambda i: (hash_bucket(label_key(rows[i].text)), rows[i].text)
        )
        for i in ordered:
            folds[i] = dealt % k
            dealt += 1
    return folds


def needs_cross_validation(data: TrainingData) -> bool:
    """Whether the held-out labels are too few to judge and the labels enough to cross-validate."""
    return len(data.labels_held) < MIN_HELD_OUT and data.labels_total >= MIN_CORRECTIONS


def cross_validate(
    data: TrainingData, embedder_name: str | None, champion: TrainedModel
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Out-of-fold reports over every label: the challenger's recipe (each fold predicted by a
    model fitted on the bootstrap training part plus the other folds' labels, weighted as in
    :func:`fit`) and the current model on the same rows.

    The current model may have been trained on some of these labels, which can only flatter
    it: the comparison errs on the side of keeping it.
    """
    from triage.predict import predict

    labels = list(data.labels_fit) + list(data.labels_held)
    if not labels:
        return None, None
    embeddings = None
    if data.boot_emb_fit is not None and data.label_emb_fit is not None:
        held = data.label_emb_held
        embeddings = (
            np.vstack([data.label_emb_fit, held])
            if held is not None and len(held)
            else data.label_emb_fit
        )
    k = min(CV_FOLDS, len(labels))
    folds = fold_of(labels, k)
    truth: list[str] = []
    guess: list[str] = []
    for fold in range(k):
        test = [i for i, f in enumerate(folds) if f == fold]
        train = [i for i, f in enumerate(folds) if f != fold]
        if not test:
            continue
        part = TrainingData(
            boot_fit=data.boot_fit,
            boot_val=[],
            labels_fit=[labels[i] for i in train],
            labels_held=[],
            labels_total=len(train),
            boot_emb_fit=data.boot_emb_fit if embeddings is not None else None,
            label_emb_fit=embeddings[train] if embeddings is not None else None,
        )
        model = fit(part, embedder_name).model
        predicted = predict(
            model,
            [labels[i].text for i in test],
            embeddings[test] if embeddings is not None else None,
        )
        truth += [labels[i].category for i in test]
        guess += [p.category for p in predicted]
    return report(truth, guess), _evaluate_on(champion, labels, embeddings)


# --- promotion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Promote or not, why (one English sentence, for logs and the CLI), the per-set
    comparison, and the evidence it rests on (what the model page puts in plain words):
    ``basis`` is ``first_model``, ``too_few``, ``held_out_labels`` or ``cross_validation``."""

    promote: bool
    reason: str
    sets: dict[str, Any]
    evidence: dict[str, Any]


def decide(
    challenger: dict[str, dict[str, Any] | None],
    champion: dict[str, dict[str, Any] | None] | None,
    *,
    corrections: int,
) -> Decision:
    """Promote or not on the reports keyed by evaluation set, given how many labels exist.

    The labels judge the challenger — the held-out ones when there are :data:`MIN_HELD_OUT`
    or more, otherwise the ``cross_validation`` reports — with :data:`LABELS_TOLERANCE`;
    with fewer than :data:`MIN_CORRECTIONS` labels (or no report to judge on) it is not
    promoted. On the bootstrap validation split the challenger may lose only what it gains
    on the labels (macro-F1), at least :data:`LABELS_TOLERANCE` and at most
    :data:`BOOTSTRAP_TOLERANCE`, and only when the gain is measured on
    :data:`MIN_HELD_OUT_FOR_TRADE` labels or more: generic accuracy is traded only for
    measured accuracy on the team's own traffic, never for nothing.
    """
    evidence: dict[str, Any] = {"corrections": corrections, "needed": MIN_CORRECTIONS}
    if champion is None:
        return Decision(True, "no current model", {}, {**evidence, "basis": "first_model"})
    held_new, held_old = challenger.get("held_out_labels"), champion.get("held_out_labels")
    cv_new, cv_old = challenger.get("cross_validation"), champion.get("cross_validation")
    basis: str | None = None
    if held_new and held_old and held_new.get("n", 0) >= MIN_HELD_OUT:
        basis = "held_out_labels"
    elif cv_new and cv_old and cv_new.get("n", 0) >= MIN_CORRECTIONS:
        basis = "cross_validation"
    if corrections < MIN_CORRECTIONS or basis is None:
        return Decision(
            False,
            f"too few corrections to judge: {corrections} of the {MIN_CORRECTIONS} needed",
            {},
            {**evidence, "basis": "too_few"},
        )
    new, old = challenger[basis], champion[basis]
    assert new is not None and old is not None
    gain = 0.0
    if new["n"] >= MIN_HELD_OUT_FOR_TRADE:
        gain = new["macro_f1"] - old["macro_f1"]
    boot_tolerance = round(min(BOOTSTRAP_TOLERANCE, max(LABELS_TOLERANCE, gain)), 4)
    sets: dict[str, Any] = {}
    reasons = []
    for name, tolerance in ((basis, LABELS_TOLERANCE), ("bootstrap_validation", boot_tolerance)):
        set_new, set_old = challenger.get(name), champion.get(name)
        if not set_new or not set_old or not set_new.get("n"):
            continue
        ok = is_not_worse(set_new, set_old, tolerance=tolerance)
        sets[name] = {
            "n": set_new["n"],
            "tolerance": tolerance,
            "not_worse": ok,
            "challenger": _summary(set_new),
            "champion": _summary(set_old),
        }
        if not ok:
            reasons.append(f"worse on {name.replace('_', ' ')}")
    evidence.update(
        basis=basis,
        n=new["n"],
        challenger_accuracy=new["accuracy"],
        champion_accuracy=old["accuracy"],
    )
    reason = "; ".join(reasons) or f"not worse on every evaluation set ({basis}, n={new['n']})"
    return Decision(not reasons, reason, sets, evidence)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "f1": {k: v["f1"] for k, v in report["per_class"].items()},
    }
