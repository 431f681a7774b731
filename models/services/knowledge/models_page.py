"""The model page's view-model: every classifier version with what the page shows, precomputed.

Read-only over the life cycle's rows (:mod:`models.services.knowledge.lifecycle`); the page
never loads a model — whether a version can be restored is the registry's library-version
rule, read from package metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import RequestType
from models.model_version import ModelVersion
from models.services.common.errors import N_
from models.services.knowledge.lifecycle import (
    IN_FLIGHT,
    RESTORABLE,
    Status,
    Trigger,
    compatible_versions,
    current_row,
    labels_since_last_training,
    newest_bootstrap_id,
    same_embedder,
    superseded_bootstrap,
)
from models.settings import get_settings
from models.user import User
from triage import policy

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
    "cross_validation": N_("Corrections, cross-validated"),
}


@dataclass(frozen=True)
class Sentence:
    """A msgid and its parameters: the template translates it (``_(s.msgid, **s.params)``)."""

    msgid: str
    params: dict[str, object]


def _pct(value: float) -> int:
    return round(value * 100)


def explain(status: Status, comparison: dict[str, Any]) -> tuple[Sentence, ...]:
    """The training decision in plain words, before any metric (empty for rows recorded before
    the decision kept its evidence, and for failed or unfinished trainings)."""
    evidence = comparison.get("evidence")
    if not evidence:
        return ()
    basis = evidence.get("basis")
    promoted = comparison.get("decision") == "promoted"
    said: list[Sentence] = []
    if basis == "first_model":
        said.append(Sentence(N_("Adopted: there was no current model to compare it with."), {}))
    elif basis == "too_few":
        said.append(
            Sentence(
                N_("Not adopted: too few corrections (%(n)s, at least %(needed)s needed)."),
                {"n": evidence["corrections"], "needed": evidence["needed"]},
            )
        )
    else:
        numbers = {
            "n": evidence["n"],
            "new": _pct(evidence["challenger_accuracy"]),
            "old": _pct(evidence["champion_accuracy"]),
        }
        boot = (comparison.get("sets") or {}).get("bootstrap_validation") or {}
        if promoted and numbers["new"] > numbers["old"]:
            msgid = N_(
                "Adopted: on your team's %(n)s corrections, %(new)s%% right, up from %(old)s%%."
            )
        elif promoted:
            msgid = N_(
                "Adopted: on your team's %(n)s corrections, %(new)s%% right, "
                "the current model %(old)s%% (not worse)."
            )
        elif basis in comparison.get("worse_on", ()):
            msgid = N_(
                "Not adopted: worse than the current model on %(n)s corrections "
                "(%(new)s%% vs %(old)s%%)."
            )
        else:
            msgid = N_(
                "Not adopted: worse than the current model on ordinary inquiries (the bootstrap "
                "validation set, accuracy %(new)s%% vs %(old)s%%)."
            )
            numbers = {
                "new": _pct(boot.get("challenger", {}).get("accuracy", 0.0)),
                "old": _pct(boot.get("champion", {}).get("accuracy", 0.0)),
            }
        said.append(Sentence(msgid, numbers))
        if basis == "cross_validation":
            said.append(
                Sentence(
                    N_(
                        "Too few corrections were held out, so each correction was judged by "
                        "a model trained without it (cross-validation)."
                    ),
                    {},
                )
            )
    if status is Status.CURRENT and not promoted:
        said.append(Sentence(N_("A lead made this version current again."), {}))
    return tuple(said)


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
    decision: tuple[Sentence, ...]
    worse_on: tuple[str, ...]
    error: str | None
    comparison_sets: tuple[tuple[str, float, float, bool], ...]
    can_rollback: bool
    unloadable: bool = False
    """This release could not load the version (other embedding models or libraries), so a
    new one was trained in its place."""
    superseded: bool = False
    """An earlier release's untaught bootstrap model, replaced by this release's own."""

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def trigger_label(self) -> str:
        return TRIGGER_LABELS.get(self.trigger, self.trigger)


def _view(
    row: ModelVersion, names: dict[int, str], current: ModelVersion | None, newest_boot: int | None
) -> VersionView:
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
    superseded = superseded_bootstrap(row, newest_boot)
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
        decision=explain(status, comparison),
        worse_on=tuple(SET_LABELS.get(n, n) for n in comparison.get("worse_on") or ()),
        error=comparison.get("error") or comparison.get("load_error"),
        comparison_sets=sets,
        can_rollback=status in RESTORABLE
        and bool(row.artifact_path)
        and compatible_versions(row.library_versions or {})
        and same_embedder(row, current)
        and not superseded,
        unloadable=bool(comparison.get("load_error")),
        superseded=superseded,
    )


@dataclass(frozen=True)
class ModelsPage:
    versions: list[VersionView]
    labels_since: int
    retrain_after: int
    min_corrections: int = policy.MIN_CORRECTIONS

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
    current = await current_row(session)
    newest = await newest_bootstrap_id(session)
    return ModelsPage(
        [_view(r, names, current, newest) for r in rows],
        await labels_since_last_training(session),
        get_settings().retrain_after_labels,
    )
