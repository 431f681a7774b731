"""The classifier's life cycle, database side: bootstrap, load, retrain, promote or reject,
roll back, and the labels training learns from.

The rows are :class:`~models.model_version.ModelVersion` (one per trained or queued version)
and :class:`~models.label.Label` (leads' corrections and imported examples). What a model is
trained on and when a challenger replaces the current model is the pure policy of
:mod:`triage.policy`; whether a stored artifact can be loaded is the registry's rule
(:mod:`triage.registry`). This module records what they decide.

Used by the worker (triage and retraining jobs), the CLI (``kefu triage …``) and the web (it
only queues a retraining and rolls back — it never loads a model). A process that serves or
trains models passes its :class:`triage.encoder.Encoder` and the model it already holds, and
keeps the :class:`LoadedModel` it gets back; nothing here holds a model between calls. The
heavy parts (scikit-learn, the embedder) load inside the functions that need them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import Database, record_job
from models.enums import RequestType
from models.label import Label
from models.model_version import ModelVersion
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict, NotFound
from models.services.common.jobs import retrain_job
from models.settings import get_settings
from models.ticket_embedding import TicketEmbedding
from models.user import User
from triage import policy
from triage.data import Example
from triage.registry import library_mismatch
from triage.vectors import from_bytes, to_bytes

if TYPE_CHECKING:
    from triage.encoder import Encoder, Progress, ScriptEncoder

    #: The classifier's encoder (:func:`triage.encoder.classifier_encoder`).
    AnyEncoder = Encoder | ScriptEncoder
    from triage.train import TrainedModel

log = logging.getLogger(__name__)

STALE_TRAINING = timedelta(hours=1)
REQUEUE_QUEUED_AFTER = timedelta(minutes=10)


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


RESTORABLE = (Status.RETIRED, Status.REJECTED)
IN_FLIGHT = (Status.QUEUED, Status.TRAINING)


@dataclass(frozen=True)
class LoadedModel:
    """The current classifier as one process holds it."""

    version: str
    model: TrainedModel


def compatible_versions(stored: dict[str, Any]) -> bool:
    """Whether a model stored with these library versions can be loaded by this process
    (the registry's rule, read from package metadata: no model library is imported)."""
    return library_mismatch(stored) is None


def same_embedder(row: ModelVersion, current: ModelVersion | None) -> bool:
    """Whether ``row`` was trained on the same embeddings as the ``current`` version (as its
    stored metrics record; a version recorded without it is not refused): a worker holds the
    embedders of the current version, and could not load another's."""
    if current is None or row.id == current.id:
        return True
    mine, theirs = (row.metrics or {}), (current.metrics or {})
    if "embedder" not in mine or "embedder" not in theirs:
        return True
    return bool(mine["embedder"] == theirs["embedder"])


async def newest_bootstrap_id(session: AsyncSession) -> int | None:
    """The bootstrap version trained last (after an upgrade: this release's)."""
    return await session.scalar(
        select(func.max(ModelVersion.id)).where(ModelVersion.trigger == Trigger.BOOTSTRAP)
    )


def superseded_bootstrap(row: ModelVersion, newest_id: int | None) -> bool:
    """Whether ``row`` is an untaught bootstrap model older than the newest one: made current
    again, the next worker would replace it at once (:func:`current_model`)."""
    return (
        row.trigger == Trigger.BOOTSTRAP and not row.label_count and newest_id not in (None, row.id)
    )


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


# --- small transactions ------------------------------------------------------------------


async def current_row(session: AsyncSession) -> ModelVersion | None:
    return await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.status == Status.CURRENT)
        .order_by(ModelVersion.promoted_at.desc().nulls_last(), ModelVersion.id.desc())
        .limit(1)
    )


async def current_version(session: AsyncSession) -> str | None:
    """The version name of the current model (None before the first bootstrap)."""
    row = await current_row(session)
    return row.version if row else None


async def _set(db: Database, row_id: int, **values: Any) -> None:
    async with db.sessionmaker() as session:
        await session.execute(
            update(ModelVersion).where(ModelVersion.id == row_id).values(**values)
        )
        await session.commit()


def _new_version_name() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


# --- embeddings --------------------------------------------------------------------------


async def _bootstrap_embeddings(
    encoder: AnyEncoder, examples: Sequence[Example], data_ref: str, progress: _Progress
) -> np.ndarray | None:
    """Embeddings of the bootstrap corpus, cached on disk per embedder, data version and way of
    reading text (:data:`~triage.text.TEXT_VERSION`).

    Rows whose dense features the pipeline's language gate zeroes (Chinese-only text with
    the default English embedder) are not encoded: their vectors are zeros ("-gated" files)."""
    from triage.pipeline import config_for, dense_needed

    cache_dir = get_settings().embedding_cache_dir
    texts = [e.text for e in examples]
    needed = dense_needed(texts, config_for(await encoder.name()))
    gated = not all(needed)
    return await encoder.encode_cached(
        texts,
        lambda name: cache_dir / policy.bootstrap_cache_name(name, data_ref, gated=gated),
        progress.span(len(examples)),
        needed,
    )


async def _label_embeddings(
    db: Database, encoder: AnyEncoder, rows: Sequence[LabelRow], progress: _Progress
) -> np.ndarray | None:
    """Embeddings of the labels: stored ones reused, ticket embeddings borrowed, rest encoded
    (and stored, so the next retraining embeds only labels added since). A label whose text
    the language gate reads without its embedding (as the bootstrap rows' "-gated" files)
    gets zeros, neither encoded nor stored."""
    from triage.pipeline import config_for, dense_needed

    name = await encoder.name()
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
    needed = dense_needed([r.text for r in missing], config_for(name))
    zeros = {r.id for r, need in zip(missing, needed, strict=True) if not need}
    if missing:
        encoded = await encoder.encode(
            [r.text for r in missing], progress.span(len(missing)), needed
        )
        if encoded is None:
            return None
        for row, vector in zip(missing, encoded, strict=True):
            vectors[row.id] = vector
    newly = [
        r.id for r in rows if r.id in vectors and r.embedding_model != name and r.id not in zeros
    ]
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

    def span(self, total: int) -> Progress:
        """A callback taking "items done" that advances progress across the window."""
        low, high = self.low, self.high

        async def advance(done: int) -> None:
            share = done / total if total else 1.0
            await self.at(int(low + (high - low) * share))

        return advance


# --- the training run shared by bootstrap, retraining and recovery ------------------------


async def _load_labels(db: Database) -> list[LabelRow]:
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
    return policy.latest_per_text(
        LabelRow(
            row.id,
            row.text,
            str(RequestType(row.category)),
            policy.label_key(row.text),
            row.embedding,
            row.embedding_model,
            row.ticket_id,
        )
        for row in rows
    )


def _examples(rows: Sequence[LabelRow]) -> list[Example]:
    return [Example(r.text, r.category) for r in rows]  # type: ignore[arg-type]


async def _training_data(
    db: Database, encoder: AnyEncoder, progress: _Progress
) -> policy.TrainingData:
    from triage.data import data_ref, load_bootstrap

    boot = load_bootstrap()
    fit_idx, val_idx = policy.split_bootstrap(boot)
    labels = await _load_labels(db)
    labels_fit, labels_held = policy.split_labels(labels)
    data = policy.TrainingData(
        [boot[i] for i in fit_idx],
        [boot[i] for i in val_idx],
        _examples(labels_fit),
        _examples(labels_held),
        len(labels),
    )
    progress.window(10, 35)
    boot_emb = await _bootstrap_embeddings(encoder, boot, data_ref(boot), progress)
    if boot_emb is not None:
        data.boot_emb_fit, data.boot_emb_val = boot_emb[fit_idx], boot_emb[val_idx]
    progress.window(35, 50)
    ordered = labels_fit + labels_held
    label_emb = await _label_embeddings(db, encoder, ordered, progress) if ordered else None
    if boot_emb is not None and ordered and label_emb is not None:
        data.label_emb_fit = label_emb[: len(labels_fit)]
        data.label_emb_held = label_emb[len(labels_fit) :]
    elif boot_emb is not None and ordered:  # embedder vanished mid-run: train lexical
        data.boot_emb_fit = data.boot_emb_val = None
    return data


async def _training_data_bootstrap_only(
    encoder: AnyEncoder, boot: Sequence[Example], progress: _Progress
) -> policy.TrainingData:
    from triage.data import data_ref

    fit_idx, val_idx = policy.split_bootstrap(boot)
    data = policy.TrainingData([boot[i] for i in fit_idx], [boot[i] for i in val_idx], [], [], 0)
    emb = await _bootstrap_embeddings(encoder, boot, data_ref(boot), progress)
    if emb is not None:
        data.boot_emb_fit, data.boot_emb_val = emb[fit_idx], emb[val_idx]
    return data


async def _train(
    data: policy.TrainingData, encoder: AnyEncoder, progress: _Progress
) -> policy.TrainingRun:
    """Fit and score a challenger off the event loop (the policy decides how)."""
    name = await encoder.name() if data.boot_emb_fit is not None else None
    await progress.at(55, "fitting")
    run = await asyncio.to_thread(policy.fit, data, name)
    run.model = replace(run.model, created_at=utcnow())  # the product's clock, not triage's
    await progress.at(75, "evaluating")
    run.reports = await asyncio.to_thread(policy.evaluate, run.model, data)
    return run


def _save(model: TrainedModel, version: str) -> Path:
    from triage.registry import save_model

    path = get_settings().models_dir / version
    save_model(model, path)
    return path


# --- loading the current model ------------------------------------------------------------


async def current_model(
    db: Database, encoder: AnyEncoder, cached: LoadedModel | None = None
) -> LoadedModel:
    """The current classifier: ``cached`` (what the caller holds) while it is still current,
    otherwise loaded from its stored artifact.

    The first call on a fresh installation trains the bootstrap model, and so does the first
    call after an upgrade whose bootstrap corpus changed while the current model is still an
    earlier bootstrap model (no correction of the team's is in it to lose). A stored model
    this process cannot load (other scikit-learn/numpy release, other embedder, corrupt file)
    is marked failed and replaced by a model retrained from scratch; that is logged. A caller
    that serves concurrent requests serialises its calls (one load per change, not one per
    request) and keeps the result.
    """
    async with db.sessionmaker() as session:
        row = await current_row(session)
    if cached is not None and row is not None and cached.version == row.version:
        return cached
    if row is None or await _outdated_bootstrap(row, encoder):
        return await _bootstrap(db, encoder)
    return await _load_or_recover(db, encoder, row)


async def _outdated_bootstrap(row: ModelVersion, encoder: AnyEncoder) -> bool:
    """Whether ``row`` is an untaught bootstrap model of other bootstrap rows than this
    release ships (the name of a bootstrap model identifies its data, embedder and libraries)."""
    if row.trigger != Trigger.BOOTSTRAP or row.label_count:
        return False
    _, shipped, _ = await _shipped_bootstrap(encoder)
    if row.version == shipped:
        return False
    log.info("this release ships other bootstrap rows: %s is replaced by %s", row.version, shipped)
    return True


async def _load_or_recover(db: Database, encoder: AnyEncoder, row: ModelVersion) -> LoadedModel:
    from triage.registry import RegistryError, load_model

    name = await encoder.name()
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
            db,
            encoder,
            None,
            trigger=Trigger.RECOVERY,
            row_id=None,
            triggered_by_id=None,
            compare=False,
        )
        if outcome.loaded is None:
            raise RuntimeError(f"recovery training failed: {outcome.error}") from exc
        return outcome.loaded


async def _shipped_bootstrap(encoder: AnyEncoder) -> tuple[list[Example], str, str | None]:
    """This release's bootstrap rows, the name of the model trained on them with ``encoder``,
    and the encoder's name."""
    from triage.data import data_ref, load_bootstrap

    boot = load_bootstrap()
    name = await encoder.name()
    return boot, policy.bootstrap_version(data_ref(boot), name), name


async def _retire_current(session: AsyncSession, *keep: Any) -> None:
    """Retire the current version(s) but those ``keep`` (extra where clauses) spares."""
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == Status.CURRENT, *keep)
        .values(status=Status.RETIRED)
    )


async def _bootstrap(db: Database, encoder: AnyEncoder) -> LoadedModel:
    """Train (or reuse) the bootstrap model and make it current."""
    from triage.registry import RegistryError, VersionExistsError, load_model

    models_dir = get_settings().models_dir
    boot, version, name = await _shipped_bootstrap(encoder)
    path = models_dir / version
    model = None
    if path.exists():
        try:
            model = await asyncio.to_thread(load_model, path, embedder_name=name)
            log.info("reusing the stored bootstrap model %s", version)
        except RegistryError as exc:
            log.warning("stored bootstrap model %s unusable (%s); training anew", version, exc)
            version = f"bootstrap-{_new_version_name()}"
            path = models_dir / version
    started = utcnow()
    if model is None:
        log.info("training the bootstrap model (%d examples)", len(boot))
        progress = _Progress(None, None)
        data = await _training_data_bootstrap_only(encoder, boot, progress)
        run = await _train(data, encoder, progress)
        model = replace(
            run.model, metrics=policy.metrics(run, data), n_validation=len(data.boot_val)
        )
        try:
            await asyncio.to_thread(_save, model, version)
        except VersionExistsError:  # another process saved the same bootstrap meanwhile
            model = await asyncio.to_thread(load_model, path, embedder_name=name)
    metrics = model.metrics
    async with db.sessionmaker() as session:
        row = await session.scalar(select(ModelVersion).where(ModelVersion.version == version))
        now = utcnow()
        # an earlier release's bootstrap model, on an upgrade
        await _retire_current(session, ModelVersion.version != version)
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


# --- retraining ----------------------------------------------------------------------------


@dataclass
class RetrainOutcome:
    """What a retraining did (returned to the job and printed by the CLI).

    ``loaded`` is the promoted challenger; ``current`` the model current after the run (the
    promoted challenger or the champion it was compared with), for the caller to keep.
    """

    version: str
    status: Status
    metrics: dict[str, Any]
    comparison: dict[str, Any]
    loaded: LoadedModel | None = None
    error: str | None = None
    current: LoadedModel | None = None

    @property
    def promoted(self) -> bool:
        return self.status is Status.CURRENT


async def retrain(
    db: Database,
    encoder: AnyEncoder,
    *,
    cached: LoadedModel | None = None,
    trigger: Trigger | str = Trigger.MANUAL,
    triggered_by_id: int | None = None,
    version_id: int | None = None,
    printer: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Train a challenger on the bootstrap set plus every label, compare it with the current
    model (``cached``, if the caller holds it, else loaded), promote or reject.

    Progress (0–100) is committed to the version's row as it goes, so the model page can
    poll it. ``version_id`` names a queued row (the job's); otherwise a row is created.
    Takes the Database (not one session) because it commits several times.
    """
    return await _run(
        db,
        encoder,
        cached,
        trigger=Trigger(trigger),
        row_id=version_id,
        triggered_by_id=triggered_by_id,
        compare=True,
        printer=printer,
    )


async def _run(
    db: Database,
    encoder: AnyEncoder,
    cached: LoadedModel | None,
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
    champion: LoadedModel | None = None
    try:
        await progress.at(5, "loading training data")
        champion = await current_model(db, encoder, cached) if compare else None
        data = await _training_data(db, encoder, progress)
        run = await _train(data, encoder, progress)
        await progress.at(85, "comparing with the current model")
        champion_reports = (
            await asyncio.to_thread(policy.evaluate, champion.model, data)
            if champion is not None
            else None
        )
        if (
            champion is not None
            and champion_reports is not None
            and policy.needs_cross_validation(data)
        ):
            await progress.at(88, "cross-validating over the corrections")
            name = await encoder.name() if data.boot_emb_fit is not None else None
            cv_new, cv_old = await asyncio.to_thread(
                policy.cross_validate, data, name, champion.model
            )
            run.reports["cross_validation"] = cv_new
            champion_reports["cross_validation"] = cv_old
        decision = policy.decide(run.reports, champion_reports, corrections=data.labels_total)
        promote, reason, sets = decision.promote, decision.reason, decision.sets
        model = replace(
            run.model,
            metrics=policy.metrics(run, data),
            n_validation=len(data.boot_val) + len(data.labels_held),
        )
        path = await asyncio.to_thread(_save, model, version)
        comparison = {
            "champion": champion.version if champion else None,
            "decision": "promoted" if promote else "rejected",
            "reason": reason,
            "worse_on": [name for name, cmp in sets.items() if not cmp["not_worse"]],
            "sets": sets,
            "evidence": decision.evidence,
        }
        status = Status.CURRENT if promote else Status.REJECTED
        await _finish(db, row_id, model, run, path, status, comparison, triggered_by_id)
        await progress.at(100, f"{version}: {comparison['decision']} ({reason})")
        loaded = LoadedModel(version, model) if promote else None
        return RetrainOutcome(
            version, status, model.metrics, comparison, loaded, current=loaded or champion
        )
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
        return RetrainOutcome(
            version, Status.FAILED, {}, {}, None, str(exc), current=champion or cached
        )
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
    run: policy.TrainingRun,
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
            await _retire_current(session, ModelVersion.id != row_id)
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
    current = await current_row(session)
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
    another scikit-learn/numpy release or made with other embedding models than the current
    version's (they could not be loaded).
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
    previous = await current_row(session)
    if not same_embedder(target, previous):
        raise Conflict(
            N_("This model version was made with other embedding models and cannot be restored.")
        )
    if superseded_bootstrap(target, await newest_bootstrap_id(session)):
        raise Conflict(
            N_(
                "This is an earlier release's bootstrap model: this release replaces it with its"
                " own, so it cannot be restored."
            )
        )
    await _retire_current(session)
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


# --- simulated review (``kefu triage simulate-review``) -----------------------------------


@dataclass(frozen=True)
class _SimLabel:
    id: int
    key: str
    category: str
    index: int  # row of the pool


async def simulate_review(
    encoder: AnyEncoder,
    pool: Sequence[Example],
    test: Sequence[Example],
    *,
    budget: int,
    step: int,
    printer: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The learning curve of leads answering the review queue: ``pool``'s categories are their
    answers, taken ``step`` at a time in the queue's order (:func:`triage.active.select`),
    each step retrained as :func:`retrain` trains (bootstrap + weighted training labels,
    held-out labels kept out) and measured on ``test``. The first point is the bootstrap
    model. Stores nothing."""
    from triage.active import hashed_vectors, select, uncertainty
    from triage.data import load_bootstrap
    from triage.evaluate import report
    from triage.predict import predict
    from triage.retrieval import terms

    note = printer or (lambda _: None)
    progress = _Progress(None, None)
    base = await _training_data_bootstrap_only(encoder, load_bootstrap(), progress)
    dense = base.boot_emb_fit is not None
    pool_emb = test_emb = None
    if dense:
        pool_emb = await encoder.encode([e.text for e in pool])
        test_emb = await encoder.encode([e.text for e in test])
        if pool_emb is None or test_emb is None:  # the embedder vanished: stay lexical
            base.boot_emb_fit = base.boot_emb_val = None
            dense, pool_emb, test_emb = False, None, None
    vectors = pool_emb if pool_emb is not None else hashed_vectors([terms(e.text) for e in pool])
    truth = [e.category for e in test]

    async def measure(model: TrainedModel, labels: int) -> dict[str, Any]:
        guesses = await asyncio.to_thread(predict, model, [e.text for e in test], test_emb)
        rep = report(truth, [g.category for g in guesses])
        note(f"{labels} labels: macro-F1 {rep['macro_f1']:.3f}, accuracy {rep['accuracy']:.3f}")
        return {"labels": labels, "macro_f1": rep["macro_f1"], "accuracy": rep["accuracy"]}

    model = (await _train(base, encoder, progress)).model
    curve = [await measure(model, 0)]
    taken: list[int] = []
    remaining = list(range(len(pool)))
    while len(taken) < budget and remaining:
        texts = [pool[i].text for i in remaining]
        emb = pool_emb[remaining] if pool_emb is not None else None
        guesses = await asyncio.to_thread(predict, model, texts, emb)
        order = select(
            uncertainty([g.confidence for g in guesses]),
            vectors[remaining],
            [g.category for g in guesses],
            min(step, budget - len(taken)),
        )
        picked = [remaining[i] for i in order]
        taken += picked
        chosen = set(picked)
        remaining = [i for i in remaining if i not in chosen]
        rows = policy.latest_per_text(
            _SimLabel(n, policy.label_key(pool[i].text), pool[i].category, i)
            for n, i in enumerate(taken)
        )
        fit_rows, held_rows = policy.split_labels(rows)
        data = replace(
            base,
            labels_fit=[pool[r.index] for r in fit_rows],
            labels_held=[pool[r.index] for r in held_rows],
            labels_total=len(rows),
        )
        if pool_emb is not None:
            data.label_emb_fit = pool_emb[[r.index for r in fit_rows]]
            data.label_emb_held = pool_emb[[r.index for r in held_rows]]
        model = (await _train(data, encoder, progress)).model
        curve.append(await measure(model, len(taken)))
    return curve
