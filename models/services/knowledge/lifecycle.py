"""The classifier's life cycle: bootstrap, load once, retrain, promote or reject, roll back.

Used by the worker (triage and retraining jobs) and the CLI (``kefu triage …``); the web
only lists versions, asks for a retraining and rolls back — it never loads a model. The
heavy parts (scikit-learn, the embedder) are imported inside the functions that need them.

**Data and splits.** The bootstrap corpus (``triage/data``) is split once, stratified with a
fixed seed, into a training part and a *bootstrap validation split*. Leads' corrections and
imported rows (``Label``) are split into training and *held-out labels*: a label is held out
when a seeded hash of its normalized text falls in the lowest 20 % — stratified per type
(each type is split on its own, and a type with at least five labels always holds one out),
and stable as labels accumulate, so no model trained here ever sees a held-out label and the
comparison between two versions stays fair. A text labelled several times counts once, with
its latest label.

**Training.** A model is fitted on the bootstrap training part plus the training labels, in
one scikit-learn pipeline (:mod:`triage.pipeline`) with dense features when the process has
an embedder. Labels are weighted so that together they weigh about as much as the bootstrap
corpus (each at most :data:`MAX_LABEL_WEIGHT` bootstrap rows): twenty corrections from a
team's own domain must be able to move the model, which 2,000 generic rows would otherwise
drown. The shipped model is the one evaluated — it is never refitted on the evaluation sets.

**Promotion.** The challenger and the current model are scored on the same sets: the
held-out labels (the team's own traffic, the main criterion, :func:`triage.evaluate.
is_not_worse` with its default tolerance) and the bootstrap validation split (a guard
against damage on ordinary inquiries: the challenger may give up there only as much as it
gains on at least 20 held-out labels, between 1 and 10 points of macro-F1 — adapting to a
team's conventions may legitimately cost some generic accuracy, but never for nothing). It
is promoted only if not worse on both; otherwise it is kept as "rejected" with its report.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import Database, Job, record_job
from models.enums import RequestType
from models.label import Label
from models.model_version import ModelVersion
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict, NotFound
from models.settings import Settings, get_settings
from models.ticket_embedding import TicketEmbedding
from models.user import User
from triage.vectors import from_bytes, to_bytes

if TYPE_CHECKING:
    from triage.data import Example
    from triage.train import TrainedModel

log = logging.getLogger(__name__)

SEED = 0
VALIDATION_SHARE = 0.2
HOLDOUT_PERCENT = 20
MIN_FOR_FORCED_HOLDOUT = 5
MAX_LABEL_WEIGHT = 10.0
LABELS_TOLERANCE = 0.01
BOOTSTRAP_TOLERANCE = 0.10  # the most generic macro-F1 a measured gain can buy
MIN_HELD_OUT_FOR_TRADE = 20  # held-out labels needed before any gain is believed
STALE_TRAINING = timedelta(hours=1)
REQUEUE_QUEUED_AFTER = timedelta(minutes=10)
ENCODE_BATCH = 128
CHECKED_LIBRARIES = ("scikit-learn", "numpy")


class Status(StrEnum):
    """Life of a ModelVersion row."""

    QUEUED = "queued"
    TRAINING = "training"
    CURRENT = "current"
    RETIRED = "retired"
    REJECTED = "rejected"
    FAILED = "failed"


class Trigger(StrEnum):
    BOOTSTRAP = "bootstrap"
    LABELS = "labels"
    MANUAL = "manual"
    IMPORT = "import"
    RECOVERY = "recovery"


STATUS_LABELS: dict[Status, str] = {
    Status.QUEUED: N_("Queued"),
    Status.TRAINING: N_("Training"),
    Status.CURRENT: N_("Current"),
    Status.RETIRED: N_("Retired"),
    Status.REJECTED: N_("Not adopted"),
    Status.FAILED: N_("Failed"),
}
TRIGGER_LABELS: dict[str, str] = {
    Trigger.BOOTSTRAP: N_("Bootstrap training set"),
    Trigger.LABELS: N_("New corrections"),
    Trigger.MANUAL: N_("Requested by a lead"),
    Trigger.IMPORT: N_("Imported labels"),
    Trigger.RECOVERY: N_("Stored model unusable"),
}
SET_LABELS: dict[str, str] = {
    "held_out_labels": N_("Held-out corrections"),
    "bootstrap_validation": N_("Bootstrap validation set"),
}
RESTORABLE = (Status.RETIRED, Status.REJECTED)
IN_FLIGHT = (Status.QUEUED, Status.TRAINING)


@dataclass(frozen=True)
class LoadedModel:
    """The current classifier as one process holds it."""

    version: str
    model: TrainedModel


class ModelHost(Protocol):
    """What a process that trains or serves models provides (the worker's TriageRuntime).

    ``model`` is the process's cached current model; ``model_lock`` serialises loading it.
    """

    settings: Settings
    model: LoadedModel | None
    model_lock: asyncio.Lock

    async def embedder_name(self) -> str | None: ...

    async def encode(
        self, texts: Sequence[str], progress: Callable[[int], Awaitable[None]] | None = None
    ) -> np.ndarray | None: ...


def retrain_job(version_id: int) -> Job:
    """The arq job that trains a queued version (unique per version: never trained twice)."""
    return Job("retrain_classifier", {"version_id": version_id}, job_id=f"retrain:{version_id}")


# --- pure helpers ------------------------------------------------------------------------


def _hash_bucket(key: str) -> int:
    digest = hashlib.blake2b(f"{SEED}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


@dataclass(frozen=True)
class LabelRow:
    """A label as training sees it (the latest label of each distinct text)."""

    id: int
    text: str
    category: str
    key: str
    embedding: bytes | None
    embedding_model: str | None
    ticket_id: int | None


def split_labels(rows: Sequence[LabelRow]) -> tuple[list[LabelRow], list[LabelRow]]:
    """Training and held-out labels: stable, seeded, stratified per type (see module doc)."""
    train: list[LabelRow] = []
    held: list[LabelRow] = []
    by_type: dict[str, list[LabelRow]] = {}
    for row in rows:
        by_type.setdefault(row.category, []).append(row)
    for group in by_type.values():
        out = [r for r in group if _hash_bucket(r.key) < HOLDOUT_PERCENT]
        if not out and len(group) >= MIN_FOR_FORCED_HOLDOUT:
            out = [min(group, key=lambda r: (_hash_bucket(r.key), r.key))]
        chosen = {r.id for r in out}
        held.extend(out)
        train.extend(r for r in group if r.id not in chosen)
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


def decide(
    challenger: dict[str, dict[str, Any]], champion: dict[str, dict[str, Any]] | None
) -> tuple[bool, str, dict[str, Any]]:
    """Promote or not, why, and the per-set comparison (reports keyed by evaluation set).

    Held-out labels are judged with :data:`LABELS_TOLERANCE`. On the bootstrap validation
    split the challenger may lose only what it gains on the held-out labels (macro-F1),
    at least :data:`LABELS_TOLERANCE` and at most :data:`BOOTSTRAP_TOLERANCE`, and only when
    the gain is measured on :data:`MIN_HELD_OUT_FOR_TRADE` held-out labels or more: generic
    accuracy is traded only for measured accuracy on the team's own traffic, never for
    nothing (nor for the noise of a handful of labels).
    """
    from triage.evaluate import is_not_worse

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


def _runtime_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in CHECKED_LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def compatible_versions(stored: dict[str, Any]) -> bool:
    """Whether a stored model's scikit-learn/numpy major.minor match this process's.

    Read from package metadata, so the web can check a rollback without importing them.
    """
    running = _runtime_versions()
    for name in CHECKED_LIBRARIES:
        have = (running.get(name) or "").split(".")[:2]
        want = (stored.get(name) or "").split(".")[:2]
        if have != want:
            return False
    return True


# --- small transactions ------------------------------------------------------------------


async def _current_row(session: AsyncSession) -> ModelVersion | None:
    return await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.status == Status.CURRENT)
        .order_by(ModelVersion.promoted_at.desc().nulls_last(), ModelVersion.id.desc())
        .limit(1)
    )


async def current_version(session: AsyncSession) -> str | None:
    """The version name of the current model (None before the first bootstrap)."""
    row = await _current_row(session)
    return row.version if row else None


async def _set(db: Database, row_id: int, **values: Any) -> None:
    async with db.sessionmaker() as session:
        await session.execute(
            update(ModelVersion).where(ModelVersion.id == row_id).values(**values)
        )
        await session.commit()


def _new_version_name() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


# --- embeddings --------------------------------------------------------------------------


def _slug(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


async def _bootstrap_embeddings(
    host: ModelHost, examples: Sequence[Example], data_ref: str, progress: _Progress
) -> np.ndarray | None:
    """Embeddings of the bootstrap corpus, cached on disk per embedder and data version."""
    name = await host.embedder_name()
    if name is None:
        return None
    cache = host.settings.models_dir / "cache" / f"bootstrap-{_slug(name)}-{data_ref[7:23]}.npy"
    if cache.is_file():
        vectors = np.load(cache)
        if vectors.shape[0] == len(examples):
            return vectors
    vectors = await host.encode([e.text for e in examples], progress.span(len(examples)))
    if vectors is None:
        return None
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}.npy")
    np.save(tmp, vectors)
    os.replace(tmp, cache)
    return vectors


async def _label_embeddings(
    db: Database, host: ModelHost, rows: Sequence[LabelRow], progress: _Progress
) -> np.ndarray | None:
    """Embeddings of the labels: stored ones reused, ticket embeddings borrowed, rest encoded
    (and stored, so the next retraining embeds only labels added since)."""
    name = await host.embedder_name()
    if name is None:
        return None
    vectors: dict[int, np.ndarray] = {}
    for row in rows:
        if row.embedding_model == name and (vector := from_bytes(row.embedding)) is not None:
            vectors[row.id] = vector
    missing = [r for r in rows if r.id not in vectors]
    ticket_ids = [r.ticket_id for r in missing if r.ticket_id is not None]
    if ticket_ids:
        async with db.sessionmaker() as session:
            stored = dict(
                (
                    await session.execute(
                        select(TicketEmbedding.ticket_id, TicketEmbedding.embedding).where(
                            TicketEmbedding.ticket_id.in_(ticket_ids),
                            TicketEmbedding.embedding_model == name,
                        )
                    )
                ).all()
            )
        for row in missing:
            if row.ticket_id in stored and (v := from_bytes(stored[row.ticket_id])) is not None:
                vectors[row.id] = v
        missing = [r for r in rows if r.id not in vectors]
    if missing:
        encoded = await host.encode([r.text for r in missing], progress.span(len(missing)))
        if encoded is None:
            return None
        for row, vector in zip(missing, encoded, strict=True):
            vectors[row.id] = vector
    newly = [r.id for r in rows if r.id in vectors and (r.embedding_model != name)]
    if newly:
        async with db.sessionmaker() as session:
            for start in range(0, len(newly), 500):
                await session.execute(
                    update(Label),
                    [
                        {"id": i, "embedding": to_bytes(vectors[i]), "embedding_model": name}
                        for i in newly[start : start + 500]
                    ],
                )
            await session.commit()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([vectors[r.id] for r in rows]).astype(np.float32)


@dataclass
class _Progress:
    """Maps sub-steps onto the ModelVersion row's 0–100 progress (None: not tracked)."""

    db: Database | None
    row_id: int | None
    low: int = 0
    high: int = 100
    last: int = -1
    printer: Callable[[str], None] | None = None

    async def at(self, pct: int, note: str | None = None) -> None:
        pct = max(0, min(100, pct))
        if note and self.printer:
            self.printer(note)
        if pct == self.last:
            return
        self.last = pct
        if self.db is not None and self.row_id is not None:
            await _set(self.db, self.row_id, progress=pct)

    def window(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def span(self, total: int) -> Callable[[int], Awaitable[None]]:
        """A callback taking "items done" that advances progress across the window."""
        low, high = self.low, self.high

        async def advance(done: int) -> None:
            share = done / total if total else 1.0
            await self.at(int(low + (high - low) * share))

        return advance


# --- fitting -----------------------------------------------------------------------------


def _fit(
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


def _evaluate(
    model: TrainedModel, examples: Sequence[Example], embeddings: np.ndarray | None
) -> dict[str, Any] | None:
    from triage.predict import evaluate_on

    if not examples:
        return None
    return evaluate_on(model, examples, embeddings)


def _combined(*reports: dict[str, Any] | None) -> dict[str, Any] | None:
    """One report over several evaluation sets (recomputed from their confusion matrices)."""
    from triage import CATEGORIES
    from triage.evaluate import report

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


# --- the training run shared by bootstrap, retraining and recovery ------------------------


@dataclass
class TrainingData:
    """Everything one training run fits on and is judged by."""

    boot_fit: list[Example]
    boot_val: list[Example]
    labels_fit: list[LabelRow]
    labels_held: list[LabelRow]
    labels_total: int
    boot_emb_fit: np.ndarray | None = None
    boot_emb_val: np.ndarray | None = None
    label_emb_fit: np.ndarray | None = None
    label_emb_held: np.ndarray | None = None


async def _load_labels(db: Database) -> list[LabelRow]:
    from triage.text import normalize

    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    Label.id,
                    Label.text,
                    Label.category,
                    Label.embedding,
                    Label.embedding_model,
                    Label.ticket_id,
                ).order_by(Label.id)
            )
        ).all()
    latest: dict[str, LabelRow] = {}
    for row in rows:
        key = normalize(row.text)
        if not key:
            continue
        latest[key] = LabelRow(
            row.id,
            row.text,
            str(RequestType(row.category)),
            key,
            row.embedding,
            row.embedding_model,
            row.ticket_id,
        )
    return sorted(latest.values(), key=lambda r: r.id)


async def _training_data(db: Database, host: ModelHost, progress: _Progress) -> TrainingData:
    from triage.data import data_ref, load_bootstrap

    boot = load_bootstrap()
    fit_idx, val_idx = split_bootstrap(boot)
    labels = await _load_labels(db)
    labels_fit, labels_held = split_labels(labels)
    data = TrainingData(
        [boot[i] for i in fit_idx], [boot[i] for i in val_idx], labels_fit, labels_held, len(labels)
    )
    progress.window(10, 35)
    boot_emb = await _bootstrap_embeddings(host, boot, data_ref(boot), progress)
    if boot_emb is not None:
        data.boot_emb_fit, data.boot_emb_val = boot_emb[fit_idx], boot_emb[val_idx]
    progress.window(35, 50)
    ordered = labels_fit + labels_held
    label_emb = await _label_embeddings(db, host, ordered, progress) if ordered else None
    if boot_emb is not None and ordered and label_emb is not None:
        data.label_emb_fit = label_emb[: len(labels_fit)]
        data.label_emb_held = label_emb[len(labels_fit) :]
    elif boot_emb is not None and ordered:  # embedder vanished mid-run: train lexical
        data.boot_emb_fit = data.boot_emb_val = None
    return data


def _examples(rows: Sequence[LabelRow]) -> list[Example]:
    from triage.data import Example

    return [Example(r.text, r.category) for r in rows]  # type: ignore[arg-type]


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


async def _train(data: TrainingData, host: ModelHost, progress: _Progress) -> TrainingRun:
    from triage.data import data_ref

    rows = list(data.boot_fit) + _examples(data.labels_fit)
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
    name = await host.embedder_name() if embeddings is not None else None
    ref = data_ref(rows)
    await progress.at(55, "fitting")
    model = await asyncio.to_thread(
        _fit, [r.text for r in rows], [r.category for r in rows], weights, embeddings, name, ref
    )
    await progress.at(75, "evaluating")
    reports = await asyncio.to_thread(_reports, model, data)
    return TrainingRun(model, reports, len(rows), len(data.labels_fit), weight, ref)


def _reports(model: TrainedModel, data: TrainingData) -> dict[str, dict[str, Any] | None]:
    boot = _evaluate(model, data.boot_val, data.boot_emb_val)
    held = _evaluate(model, _examples(data.labels_held), data.label_emb_held)
    return {
        "bootstrap_validation": boot,
        "held_out_labels": held,
        "evaluation": _combined(boot, held),
    }


def _metrics(run: TrainingRun, data: TrainingData) -> dict[str, Any]:
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


def _save(model: TrainedModel, settings: Settings, version: str) -> Path:
    from triage.registry import save_model

    path = settings.models_dir / version
    save_model(model, path)
    return path


# --- public API --------------------------------------------------------------------------


async def current_model(db: Database, host: ModelHost) -> LoadedModel:
    """The current classifier, loaded once per process (and again only when it changes).

    The first call on a fresh installation trains the bootstrap model. A stored model this
    process cannot load (other scikit-learn/numpy release, other embedder, corrupt file) is
    marked failed and replaced by a model retrained from scratch; that is logged.
    """
    async with db.sessionmaker() as session:
        row = await _current_row(session)
    cached = host.model
    if cached is not None and row is not None and cached.version == row.version:
        return cached
    async with host.model_lock:
        async with db.sessionmaker() as session:
            row = await _current_row(session)
        cached = host.model
        if cached is not None and row is not None and cached.version == row.version:
            return cached
        if row is None:
            loaded = await _bootstrap(db, host)
        else:
            loaded = await _load_or_recover(db, host, row)
        host.model = loaded
        return loaded


async def _load_or_recover(db: Database, host: ModelHost, row: ModelVersion) -> LoadedModel:
    from triage.registry import RegistryError, load_model

    name = await host.embedder_name()
    try:
        if not row.artifact_path:
            raise FileNotFoundError(f"version {row.version} has no stored artifact")
        model = await asyncio.to_thread(load_model, row.artifact_path, embedder_name=name)
        return LoadedModel(row.version, model)
    except (RegistryError, OSError) as exc:
        log.warning("model %s cannot be loaded (%s); retraining from scratch", row.version, exc)
        async with db.sessionmaker() as session:
            failed = await session.get(ModelVersion, row.id)
            if failed is not None:
                failed.status = Status.FAILED
                failed.comparison = {**(failed.comparison or {}), "load_error": str(exc)}
                audit.record(
                    session,
                    Actor.system("classifier"),
                    entity_type="model_version",
                    entity_id=failed.id,
                    action="load_failed",
                    after=str(exc)[:500],
                )
            await session.commit()
        outcome = await _run(
            db, host, trigger=Trigger.RECOVERY, row_id=None, triggered_by_id=None, compare=False
        )
        if outcome.loaded is None:
            raise RuntimeError(f"recovery training failed: {outcome.error}") from exc
        return outcome.loaded


def _bootstrap_version(data_ref: str, embedder: str | None) -> str:
    """A deterministic name: the same data, embedder and libraries give the same model, so a
    stored bootstrap artifact is reused (e.g. after the database was reset)."""
    from triage.pipeline import PipelineConfig

    running = _runtime_versions()
    fingerprint = _slug(
        repr(
            (
                embedder,
                SEED,
                VALIDATION_SHARE,
                PipelineConfig(),
                [(k, (running[k] or "").split(".")[:2]) for k in running],
            )
        )
    )
    return f"bootstrap-{data_ref[7:15]}-{fingerprint[:8]}"


async def _bootstrap(db: Database, host: ModelHost) -> LoadedModel:
    """Train (or reuse) the bootstrap model and make it current."""
    from triage.data import data_ref, load_bootstrap
    from triage.registry import RegistryError, VersionExistsError, load_model

    boot = load_bootstrap()
    name = await host.embedder_name()
    version = _bootstrap_version(data_ref(boot), name)
    path = host.settings.models_dir / version
    model = None
    if path.exists():
        try:
            model = await asyncio.to_thread(load_model, path, embedder_name=name)
            log.info("reusing the stored bootstrap model %s", version)
        except RegistryError as exc:
            log.warning("stored bootstrap model %s unusable (%s); training anew", version, exc)
            version = f"bootstrap-{_new_version_name()}"
            path = host.settings.models_dir / version
    started = utcnow()
    if model is None:
        log.info("training the bootstrap model (%d examples)", len(boot))
        progress = _Progress(None, None)
        data = await _training_data_bootstrap_only(host, boot, progress)
        run = await _train(data, host, progress)
        model = replace(run.model, metrics=_metrics(run, data), n_validation=len(data.boot_val))
        try:
            await asyncio.to_thread(_save, model, host.settings, version)
        except VersionExistsError:  # another process saved the same bootstrap meanwhile
            model = await asyncio.to_thread(load_model, path, embedder_name=name)
    metrics = model.metrics
    async with db.sessionmaker() as session:
        row = await session.scalar(select(ModelVersion).where(ModelVersion.version == version))
        now = utcnow()
        if row is None:
            row = ModelVersion(
                version=version,
                status=Status.CURRENT,
                metrics=metrics,
                comparison=None,
                training_size=model.n_train,
                label_count=0,
                data_ref=model.data_ref.removeprefix("sha256:"),
                library_versions=dict(model.versions),
                artifact_path=str(path),
                trigger=Trigger.BOOTSTRAP,
                triggered_by_id=None,
                progress=100,
                created_at=started,
                finished_at=now,
                promoted_at=now,
            )
            session.add(row)
        else:
            row.status = Status.CURRENT
            row.promoted_at = now
        try:
            await session.commit()
        except IntegrityError:  # another process registered the same bootstrap first
            await session.rollback()
    return LoadedModel(version, model)


async def _training_data_bootstrap_only(
    host: ModelHost, boot: Sequence[Example], progress: _Progress
) -> TrainingData:
    from triage.data import data_ref

    fit_idx, val_idx = split_bootstrap(boot)
    data = TrainingData([boot[i] for i in fit_idx], [boot[i] for i in val_idx], [], [], 0)
    emb = await _bootstrap_embeddings(host, boot, data_ref(boot), progress)
    if emb is not None:
        data.boot_emb_fit, data.boot_emb_val = emb[fit_idx], emb[val_idx]
    return data


@dataclass
class RetrainOutcome:
    """What a retraining did (returned to the job and printed by the CLI)."""

    version: str
    status: Status
    metrics: dict[str, Any]
    comparison: dict[str, Any]
    loaded: LoadedModel | None = None
    error: str | None = None

    @property
    def promoted(self) -> bool:
        return self.status is Status.CURRENT


async def retrain(
    db: Database,
    host: ModelHost,
    *,
    trigger: Trigger | str = Trigger.MANUAL,
    triggered_by_id: int | None = None,
    version_id: int | None = None,
    printer: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Train a challenger on the bootstrap set plus every label, compare, promote or reject.

    Progress (0–100) is committed to the version's row as it goes, so the model page can
    poll it. ``version_id`` names a queued row (the job's); otherwise a row is created.
    Takes the Database (not one session) because it commits several times.
    """
    return await _run(
        db,
        host,
        trigger=Trigger(trigger),
        row_id=version_id,
        triggered_by_id=triggered_by_id,
        compare=True,
        printer=printer,
    )


async def _run(
    db: Database,
    host: ModelHost,
    *,
    trigger: Trigger,
    row_id: int | None,
    triggered_by_id: int | None,
    compare: bool,
    printer: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    async with db.sessionmaker() as session:
        row = await session.get(ModelVersion, row_id) if row_id is not None else None
        if row is None:
            row = ModelVersion(
                version=_new_version_name(),
                status=Status.TRAINING,
                trigger=trigger,
                triggered_by_id=triggered_by_id,
                progress=0,
                metrics={},
                library_versions={},
                created_at=utcnow(),
            )
            session.add(row)
        else:
            row.status = Status.TRAINING
            row.created_at = utcnow()
        await session.commit()
        row_id, version = row.id, row.version
    progress = _Progress(db, row_id, printer=printer)
    try:
        await progress.at(5, "loading training data")
        champion = await current_model(db, host) if compare else None
        data = await _training_data(db, host, progress)
        run = await _train(data, host, progress)
        await progress.at(85, "comparing with the current model")
        champion_reports = (
            await asyncio.to_thread(_reports, champion.model, data)
            if champion is not None
            else None
        )
        promote, reason, sets = decide(run.reports, champion_reports)  # type: ignore[arg-type]
        model = replace(
            run.model,
            metrics=_metrics(run, data),
            n_validation=len(data.boot_val) + len(data.labels_held),
        )
        path = await asyncio.to_thread(_save, model, host.settings, version)
        comparison = {
            "champion": champion.version if champion else None,
            "decision": "promoted" if promote else "rejected",
            "reason": reason,
            "worse_on": [name for name, cmp in sets.items() if not cmp["not_worse"]],
            "sets": sets,
        }
        status = Status.CURRENT if promote else Status.REJECTED
        await _finish(db, row_id, model, run, path, status, comparison, triggered_by_id)
        await progress.at(100, f"{version}: {comparison['decision']} ({reason})")
        loaded = LoadedModel(version, model) if promote else None
        if loaded is not None:
            host.model = loaded
        return RetrainOutcome(version, status, model.metrics, comparison, loaded)
    except Exception as exc:
        log.exception("training %s failed", version)
        await _set(
            db,
            row_id,
            status=Status.FAILED,
            progress=100,
            finished_at=utcnow(),
            comparison={"error": str(exc)[:1000]},
        )
        return RetrainOutcome(version, Status.FAILED, {}, {}, None, str(exc))
    except asyncio.CancelledError:  # the job timed out or the worker is stopping
        await asyncio.shield(
            _set(
                db,
                row_id,
                status=Status.FAILED,
                progress=100,
                finished_at=utcnow(),
                comparison={"error": "training was interrupted"},
            )
        )
        raise


async def _finish(
    db: Database,
    row_id: int,
    model: TrainedModel,
    run: TrainingRun,
    path: Path,
    status: Status,
    comparison: dict[str, Any],
    triggered_by_id: int | None,
) -> None:
    """Record the outcome; a promotion retires the previous current model in the same commit."""
    async with db.sessionmaker() as session:
        row = await session.get(ModelVersion, row_id)
        assert row is not None
        now = utcnow()
        if status is Status.CURRENT:
            await session.execute(
                update(ModelVersion)
                .where(ModelVersion.status == Status.CURRENT, ModelVersion.id != row_id)
                .values(status=Status.RETIRED)
            )
            row.promoted_at = now
        row.status = status
        row.metrics = model.metrics
        row.comparison = comparison
        row.training_size = run.training_size
        row.label_count = run.label_count
        row.data_ref = model.data_ref.removeprefix("sha256:")  # 64 hex characters
        row.library_versions = dict(model.versions)
        row.artifact_path = str(path)
        row.finished_at = now
        row.progress = 100
        actor = await _actor(session, triggered_by_id)
        audit.record(
            session,
            actor,
            entity_type="model_version",
            entity_id=row.id,
            action="promote" if status is Status.CURRENT else "reject",
            after={"version": row.version, "reason": comparison.get("reason")},
        )
        await session.commit()


async def _actor(session: AsyncSession, user_id: int | None) -> Actor:
    if user_id is None:
        return Actor.system("classifier")
    user = await session.get(User, user_id)
    return Actor(user_id=user_id, label=user.username if user else f"#{user_id}")


async def request_retrain(
    session: AsyncSession, actor: Actor, *, trigger: Trigger | str = Trigger.MANUAL
) -> tuple[ModelVersion, bool]:
    """Queue a retraining unless one is queued or running; returns (row, newly queued).

    The job id names the row, so a request never trains twice; the sweep re-enqueues a
    queued row whose job was lost.
    """
    existing = await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.status.in_([s.value for s in IN_FLIGHT]))
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    if existing is not None:
        return existing, False
    row = ModelVersion(
        version=_new_version_name(),
        status=Status.QUEUED,
        trigger=str(trigger),
        triggered_by_id=actor.user_id,
        progress=0,
        metrics={},
        library_versions={},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="model_version",
        entity_id=row.id,
        action="retrain_requested",
        after={"version": row.version, "trigger": str(trigger)},
    )
    record_job(session, retrain_job(row.id))
    return row, True


async def import_labels(
    session: AsyncSession, actor: Actor, rows: Sequence[tuple[str, str]]
) -> int:
    """Store labelled examples (text, category code) as labels from an import, as if a lead
    had corrected them; rows already imported with the same type are skipped. Returns how
    many were added."""
    existing = set(
        (
            await session.execute(
                select(Label.text, Label.category).where(Label.source == "import")
            )
        ).all()
    )
    seen = {(text, str(RequestType(category))) for text, category in existing}
    added = 0
    for text, category in rows:
        key = (text.strip(), str(RequestType(category)))
        if not key[0] or key in seen:
            continue
        seen.add(key)
        session.add(
            Label(
                ticket_id=None,
                text=key[0],
                category=RequestType(category),
                source="import",
                created_by_id=actor.user_id,
            )
        )
        added += 1
    await session.flush()
    if added:
        audit.record(
            session,
            actor,
            entity_type="label",
            entity_id=0,
            action="import",
            after={"added": added},
        )
    return added


async def labels_since_last_training(session: AsyncSession) -> int:
    """Labels added since the newest training attempt (or the current model's promotion)."""
    newest = await session.scalar(select(func.max(ModelVersion.created_at)))
    current = await _current_row(session)
    since = max(filter(None, [newest, current.promoted_at if current else None]), default=None)
    stmt = select(func.count()).select_from(Label)
    if since is not None:
        stmt = stmt.where(Label.created_at > since)
    return int(await session.scalar(stmt) or 0)


async def label_added(session: AsyncSession) -> ModelVersion | None:
    """Called after a lead's correction: queue a retraining once N new labels exist."""
    threshold = get_settings().retrain_after_labels
    if threshold <= 0 or await labels_since_last_training(session) < threshold:
        return None
    row, created = await request_retrain(
        session, Actor.system("classifier"), trigger=Trigger.LABELS
    )
    return row if created else None


async def sweep(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    """The safety net (cron): fail trainings whose worker died, re-enqueue lost queued rows,
    and queue a retraining if enough labels arrived without anyone noticing."""
    now = now or utcnow()
    stale = (
        await session.execute(  # type: ignore[attr-defined]
            update(ModelVersion)
            .where(
                ModelVersion.status == Status.TRAINING,
                ModelVersion.created_at < now - STALE_TRAINING,
            )
            .values(
                status=Status.FAILED,
                progress=100,
                finished_at=now,
                comparison={"error": "training did not finish (worker stopped?)"},
            )
        )
    ).rowcount or 0
    queued = (
        await session.scalars(
            select(ModelVersion.id).where(
                ModelVersion.status == Status.QUEUED,
                ModelVersion.created_at < now - REQUEUE_QUEUED_AFTER,
            )
        )
    ).all()
    for row_id in queued:
        record_job(session, retrain_job(row_id))
    requested = await label_added(session)
    return {"stale": int(stale), "requeued": len(queued), "requested": int(requested is not None)}


async def rollback(session: AsyncSession, actor: Actor, version_id: int) -> ModelVersion:
    """Make an earlier (retired or rejected) version current again; audited.

    Refused for versions still training, failed ones, missing artifacts, and artifacts from
    another scikit-learn/numpy release (they could not be loaded).
    """
    target = await session.get(ModelVersion, version_id)
    if target is None:
        raise NotFound(N_("Model version not found."))
    if target.status == Status.CURRENT:
        return target
    if target.status not in [s.value for s in RESTORABLE] or not target.artifact_path:
        raise Conflict(N_("This model version cannot be restored."))
    present = await asyncio.to_thread(Path(target.artifact_path).is_dir)
    if not present or not compatible_versions(target.library_versions or {}):
        raise Conflict(
            N_("This model version was trained with other library versions and cannot be restored.")
        )
    previous = await _current_row(session)
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == Status.CURRENT)
        .values(status=Status.RETIRED)
    )
    target.status = Status.CURRENT
    target.promoted_at = utcnow()
    audit.record(
        session,
        actor,
        entity_type="model_version",
        entity_id=target.id,
        action="rollback",
        before=previous.version if previous else None,
        after=target.version,
    )
    await session.flush()
    return target


# --- the model page ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    """One type's line on the model page: F1 and its row of the confusion matrix."""

    request_type: RequestType
    f1: float | None
    support: int
    confusion: tuple[int, ...]


@dataclass(frozen=True)
class VersionView:
    """A model version as the model page shows it."""

    id: int
    version: str
    status: Status
    trigger: str
    triggered_by: str | None
    created_at: datetime
    finished_at: datetime | None
    promoted_at: datetime | None
    training_size: int
    label_count: int
    progress: int
    accuracy: float | None
    macro_f1: float | None
    bootstrap_f1: float | None
    held_out_f1: float | None
    held_out_n: int
    classes: tuple[ClassRow, ...]
    decision_reason: str | None
    worse_on: tuple[str, ...]
    error: str | None
    comparison_sets: tuple[tuple[str, float, float, bool], ...]
    can_rollback: bool

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def trigger_label(self) -> str:
        return TRIGGER_LABELS.get(self.trigger, self.trigger)


def _view(row: ModelVersion, names: dict[int, str]) -> VersionView:
    metrics = row.metrics or {}
    evaluation = metrics.get("evaluation") or metrics.get("bootstrap_validation") or {}
    boot = metrics.get("bootstrap_validation") or {}
    held = metrics.get("held_out_labels") or {}
    comparison = row.comparison or {}
    per_class = evaluation.get("per_class", {})
    confusion = evaluation.get("confusion") or []
    classes = tuple(
        ClassRow(
            rt,
            per_class.get(rt.value, {}).get("f1"),
            int(per_class.get(rt.value, {}).get("support", 0)),
            tuple(confusion[i]) if i < len(confusion) else (),
        )
        for i, rt in enumerate(RequestType)
    )
    sets = tuple(
        (
            SET_LABELS.get(name, name),
            s["champion"]["macro_f1"],
            s["challenger"]["macro_f1"],
            bool(s["not_worse"]),
        )
        for name, s in (comparison.get("sets") or {}).items()
    )
    status = Status(row.status)
    return VersionView(
        id=row.id,
        version=row.version,
        status=status,
        trigger=row.trigger,
        triggered_by=names.get(row.triggered_by_id) if row.triggered_by_id else None,
        created_at=row.created_at,
        finished_at=row.finished_at,
        promoted_at=row.promoted_at,
        training_size=row.training_size,
        label_count=row.label_count,
        progress=row.progress,
        accuracy=evaluation.get("accuracy"),
        macro_f1=evaluation.get("macro_f1"),
        bootstrap_f1=boot.get("macro_f1"),
        held_out_f1=held.get("macro_f1"),
        held_out_n=int(held.get("n", 0)),
        classes=classes,
        decision_reason=comparison.get("reason"),
        worse_on=tuple(SET_LABELS.get(n, n) for n in comparison.get("worse_on") or ()),
        error=comparison.get("error") or comparison.get("load_error"),
        comparison_sets=sets,
        can_rollback=status in RESTORABLE
        and bool(row.artifact_path)
        and compatible_versions(row.library_versions or {}),
    )


@dataclass(frozen=True)
class ModelsPage:
    versions: list[VersionView]
    labels_since: int
    retrain_after: int

    @property
    def training(self) -> VersionView | None:
        return next((v for v in self.versions if v.in_flight), None)


async def models_page(session: AsyncSession, limit: int = 50) -> ModelsPage:
    """Every model version, newest first, with what the page needs precomputed."""
    rows = (
        await session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()).limit(limit))
    ).all()
    user_ids = {r.triggered_by_id for r in rows if r.triggered_by_id}
    names = (
        dict(
            (
                await session.execute(
                    select(User.id, User.display_name).where(User.id.in_(user_ids))
                )
            ).all()
        )
        if user_ids
        else {}
    )
    return ModelsPage(
        [_view(r, names) for r in rows],
        await labels_since_last_training(session),
        get_settings().retrain_after_labels,
    )
