"""Embedding vectors as bytes (little-endian float32, how callers store them) and back."""

from __future__ import annotations

import numpy as np


def to_bytes(vector: np.ndarray) -> bytes:
    """One vector as float32 bytes (the storage format of every embedding column)."""
    return np.asarray(vector, dtype="<f4").ravel().tobytes()


def from_bytes(raw: bytes | None, dim: int | None = None) -> np.ndarray | None:
    """A stored vector back as float32 (None for missing or wrongly sized data)."""
    if not raw:
        return None
    vector = np.frombuffer(raw, dtype="<f4")
    if dim is not None and vector.shape[0] != dim:
        return None
    return vector.astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0
