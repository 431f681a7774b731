"""Model registry: round trip, immutability, and refusing incompatible versions."""

import json
from pathlib import Path

import pytest

from triage.predict import predict
from triage.registry import (
    CorruptModelError,
    EmbedderMismatchError,
    LibraryVersionMismatchError,
    ModelNotFoundError,
    RegistryError,
    VersionExistsError,
    load_model,
    read_metadata,
    save_model,
    version_name,
)
from triage.train import TrainedModel, library_versions


@pytest.fixture
def saved(tmp_path: Path, tiny_model: TrainedModel) -> Path:
    return save_model(tiny_model, tmp_path / "models" / version_name(tiny_model))


def test_round_trip_predicts_identically(saved: Path, tiny_model: TrainedModel) -> None:
    loaded = load_model(saved, embedder_name=None)
    texts = ["我要退货", "app crashes on start"]
    assert predict(loaded, texts) == predict(tiny_model, texts)
    assert loaded.data_ref == tiny_model.data_ref
    assert loaded.metrics == tiny_model.metrics
    assert loaded.config == tiny_model.config
    assert loaded.created_at == tiny_model.created_at


def test_metadata_records_metrics_data_and_versions(saved: Path) -> None:
    meta = read_metadata(saved)
    assert meta["data_ref"].startswith("sha256:")
    assert meta["versions"]["scikit-learn"] == library_versions()["scikit-learn"]
    assert {"numpy", "python", "sentence-transformers"} <= set(meta["versions"])
    assert set(meta["metrics"]) == {"n", "accuracy", "macro_f1", "per_class", "confusion"}
    assert meta["embedder"] == {"name": None, "dim": None}
    assert meta["n_train"] == 20


def test_versions_are_immutable(saved: Path, tiny_model: TrainedModel) -> None:
    with pytest.raises(VersionExistsError):
        save_model(tiny_model, saved)


def test_a_version_another_process_saved_meanwhile_stands(
    tmp_path: Path, tiny_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers training the same bootstrap: the one whose rename comes second finds the
    version there (saved between its check and its rename) and is told so; the first stays."""
    import triage.registry as registry

    target = tmp_path / "models" / version_name(tiny_model)
    real_replace = registry.os.replace

    def other_process_first(src: Path, dst: Path) -> None:
        monkeypatch.setattr(registry.os, "replace", real_replace)
        save_model(tiny_model, dst)  # the other worker's save lands first
        real_replace(src, dst)

    monkeypatch.setattr(registry.os, "replace", other_process_first)
    with pytest.raises(VersionExistsError):
        save_model(tiny_model, target)
    assert load_model(target, embedder_name=None).data_ref == tiny_model.data_ref
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no staging left


@pytest.mark.parametrize("library", ["scikit-learn", "numpy"])
def test_refuses_other_minor_version(saved: Path, library: str) -> None:
    running = dict(library_versions())
    major, minor, *_ = str(running[library]).split(".")
    running[library] = f"{major}.{int(minor) + 1}.0"
    with pytest.raises(LibraryVersionMismatchError, match=library):
        load_model(saved, embedder_name=None, runtime_versions=running)


def test_accepts_other_patch_version(saved: Path) -> None:
    running = dict(library_versions())
    major, minor, *_ = str(running["scikit-learn"]).split(".")
    running["scikit-learn"] = f"{major}.{minor}.99"
    assert load_model(saved, embedder_name=None, runtime_versions=running).n_train == 20


def test_refuses_tampered_stored_version(saved: Path) -> None:
    meta_path = saved / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RegistryError):
        load_model(saved, embedder_name=None)


def test_refuses_embedder_mismatch(saved: Path) -> None:
    meta_path = saved / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["embedder"] = {"name": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(EmbedderMismatchError):
        load_model(saved, embedder_name="BAAI/bge-small-zh-v1.5")
    with pytest.raises(EmbedderMismatchError):
        load_model(saved, embedder_name=None)


def test_lexical_model_loads_under_any_embedder(saved: Path) -> None:
    assert load_model(saved, embedder_name="anything").embedder_name is None


def test_refuses_corrupt_pipeline_and_missing_version(saved: Path, tmp_path: Path) -> None:
    with (saved / "pipeline.joblib").open("ab") as handle:
        handle.write(b"junk")
    with pytest.raises(CorruptModelError):
        load_model(saved, embedder_name=None)
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_path / "nope", embedder_name=None)


def test_a_model_stored_before_script_gating_says_it_has_none(saved: Path) -> None:
    """Its lexical blocks were not weighed by script; its configuration must not claim so
    (retraining a challenger reads it)."""
    assert load_model(saved, embedder_name=None).config.script_gated_lexical is True
    meta_path = saved / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["script_gated_lexical"]
    meta_path.write_text(json.dumps(meta))
    assert load_model(saved, embedder_name=None).config.script_gated_lexical is False
