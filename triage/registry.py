"""Storing model versions on disk and loading them back — safely.

One model version is one directory::

    <version>/
        pipeline.joblib   the fitted scikit-learn pipeline
        metadata.json     metrics, data reference, config, embedder, library versions, checksum

Versions are immutable: :func:`save_model` refuses an existing directory and writes through a
temporary sibling renamed into place, so a reader never sees a half-written version.

:func:`load_model` reads ``metadata.json`` *before* unpickling anything and refuses (with a
:class:`RegistryError` subclass) when

* the stored scikit-learn or numpy ``major.minor`` differs from the running one — a pickled
  pipeline from another release may load but behave differently (scikit-learn only warns);
  patch releases are accepted. This is Kefu's one library-version rule
  (:func:`library_mismatch`): the model life cycle asks it too, before offering a rollback;
* the model was trained with embeddings from a different embedder than the running one —
  its dense features would be meaningless. Lexical-only models need no embedder and load
  under any;
* the pipeline file does not match its recorded SHA-256.

Which version is the champion is recorded by the caller (the ``ModelVersion`` row); this module
keeps no state of its own.

Importing it is light (joblib and scikit-learn load when a model is saved or loaded), so a
process that only checks versions — the web's model page — never imports the model stack.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from triage.versions import CHECKED_LIBRARIES, library_mismatch, library_versions

if TYPE_CHECKING:
    from triage.train import TrainedModel

__all__ = [
    "CHECKED_LIBRARIES",
    "CorruptModelError",
    "EmbedderMismatchError",
    "IncompatibleModelError",
    "LibraryVersionMismatchError",
    "ModelNotFoundError",
    "RegistryError",
    "VersionExistsError",
    "check_compatible",
    "library_mismatch",
    "library_versions",
    "load_model",
    "read_metadata",
    "save_model",
    "version_name",
]

FORMAT: Final = 1
PIPELINE_FILE: Final = "pipeline.joblib"
METADATA_FILE: Final = "metadata.json"


class RegistryError(Exception):
    """Base class of everything the registry refuses to do."""


class ModelNotFoundError(RegistryError):
    """No model version (or no metadata) at the given directory."""


class VersionExistsError(RegistryError):
    """Saving would overwrite an existing, immutable version."""


class CorruptModelError(RegistryError):
    """Metadata unreadable, format unknown, or the pipeline file fails its checksum."""


class IncompatibleModelError(RegistryError):
    """The stored model cannot be used safely by this process."""


class LibraryVersionMismatchError(IncompatibleModelError):
    """Stored scikit-learn/numpy ``major.minor`` differs from the running one."""


class EmbedderMismatchError(IncompatibleModelError):
    """The model's dense features come from a different embedder than the running one."""


def version_name(model: TrainedModel) -> str:
    """A sortable, unique-enough directory name: UTC timestamp + data reference prefix."""
    stamp = model.created_at.strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{model.data_ref.removeprefix('sha256:')[:8]}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _metadata(model: TrainedModel, checksum: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": model.created_at.isoformat(),
        "classes": list(model.classes),
        "config": model.config.as_dict(),
        "metrics": model.metrics,
        "n_train": model.n_train,
        "n_validation": model.n_validation,
        "data_ref": model.data_ref,
        "seed": model.seed,
        "train_seconds": model.train_seconds,
        "embedder": {"name": model.embedder_name, "dim": model.embedder_dim},
        "versions": model.versions,
        "artifact": {"file": PIPELINE_FILE, "sha256": checksum},
    }


def save_model(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``model`` as a new version at ``directory`` (whose parent may not exist yet)."""
    import joblib

    target = Path(directory)
    if target.exists():
        raise VersionExistsError(f"{target} already exists; model versions are immutable")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    staging.mkdir()
    try:
        joblib.dump(model.pipeline, staging / PIPELINE_FILE, compress=3)
        meta = _metadata(model, _sha256(staging / PIPELINE_FILE))
        (staging / METADATA_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        try:
            os.replace(staging, target)
        except OSError as exc:
            # Another process saved the same version first (a directory is not replaced
            # once it holds files): theirs stands, and versions are immutable.
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and target.exists():
                raise VersionExistsError(
                    f"{target} already exists; model versions are immutable"
                ) from None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """Return a version's metadata without loading (or trusting) its pipeline."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"no model version at {directory} (missing {METADATA_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptModelError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptModelError(f"{path}: unknown metadata format")
    return meta


def check_compatible(
    meta: Mapping[str, Any],
    *,
    embedder_name: str | None,
    runtime_versions: Mapping[str, str | None] | None = None,
) -> None:
    """Raise an :class:`IncompatibleModelError` unless this process can use the version."""
    mismatch = library_mismatch(meta.get("versions", {}), runtime_versions)
    if mismatch is not None:
        raise LibraryVersionMismatchError(mismatch)
    needed = meta.get("embedder", {}).get("name")
    if needed is not None and needed != embedder_name:
        raise EmbedderMismatchError(
            f"model needs embeddings from {needed!r}, running embedder is {embedder_name!r}"
        )


def load_model(
    directory: str | Path,
    *,
    embedder_name: str | None,
    runtime_versions: Mapping[str, str | None] | None = None,
) -> TrainedModel:
    """Load a version after checking it against this process.

    ``embedder_name`` is the name of the embedder this process has loaded (``Embedder.name``),
    or ``None`` if it runs without one. ``runtime_versions`` overrides the detected library
    versions (for tests). Only load directories you wrote: joblib files are pickles.
    """
    import joblib

    from triage.pipeline import PipelineConfig
    from triage.train import TrainedModel

    path = Path(directory)
    meta = read_metadata(path)
    check_compatible(meta, embedder_name=embedder_name, runtime_versions=runtime_versions)
    artifact = path / PIPELINE_FILE
    if not artifact.is_file() or _sha256(artifact) != meta["artifact"]["sha256"]:
        raise CorruptModelError(f"{artifact} is missing or does not match its checksum")
    config = dict(meta["config"])
    for key in ("char_ngram_range", "word_ngram_range"):
        config[key] = tuple(config[key])
    # Models stored before the Chinese word features have no such key: they have none.
    zh_range = config.get("zh_word_ngram_range")
    config["zh_word_ngram_range"] = None if zh_range is None else tuple(zh_range)
    # Models stored before the lexical blocks were weighed by script have ungated ones.
    config.setdefault("script_gated_lexical", False)
    return TrainedModel(
        pipeline=joblib.load(artifact),
        config=PipelineConfig(**config),
        metrics=meta["metrics"],
        n_train=meta["n_train"],
        n_validation=meta["n_validation"],
        data_ref=meta["data_ref"],
        embedder_name=meta["embedder"]["name"],
        embedder_dim=meta["embedder"]["dim"],
        seed=meta["seed"],
        versions=meta["versions"],
        classes=tuple(meta["classes"]),
        created_at=datetime.fromisoformat(meta["created_at"]),
        train_seconds=meta["train_seconds"],
    )
