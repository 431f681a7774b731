"""The one library-version rule: a stored pipeline is used only by a process whose
scikit-learn and numpy match it in ``major.minor``. Read from package metadata, so checking
never imports the model stack (the web's model page checks without loading anything)."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from typing import Any, Final

CHECKED_LIBRARIES: Final = ("scikit-learn", "numpy")
"""Libraries whose ``major.minor`` must match for a stored pipeline to be used."""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of everything that determines how a stored pipeline behaves.

    Read from package metadata, so this never imports scikit-learn, torch or
    sentence-transformers.
    """
    return {
        "python": platform.python_version(),
        "scikit-learn": _version("scikit-learn"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "joblib": _version("joblib"),
        "sentence-transformers": _version("sentence-transformers"),
        "torch": _version("torch"),
    }


def library_mismatch(
    stored: Mapping[str, Any], running: Mapping[str, str | None] | None = None
) -> str | None:
    """Why a model saved under the ``stored`` library versions cannot be used by this
    process (None when it can): the :data:`CHECKED_LIBRARIES` must match in ``major.minor``.

    ``running`` overrides the detected versions (for tests).
    """
    running = running if running is not None else library_versions()
    for library in CHECKED_LIBRARIES:
        if _major_minor(stored.get(library)) != _major_minor(running.get(library)):
            return (
                f"model was saved with {library} {stored.get(library)}, running "
                f"{running.get(library)}; retrain it under this version"
            )
    return None


def _major_minor(version: str | None) -> tuple[str, ...] | None:
    return None if version is None else tuple(version.split(".")[:2])
