"""Pure prediction: a trained model and texts (plus embeddings, if the model uses them) in,
one :class:`Prediction` per text out. No I/O, no model loading, no state.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from triage import CATEGORIES, Category
from triage.data import Example
from triage.evaluate import report
from triage.pipeline import make_inputs
from triage.train import TrainedModel

__all__ = ["Prediction", "evaluate_on", "predict"]


class Prediction(NamedTuple):
    """The predicted type, the probability of every type, and the winning probability."""

    category: Category
    probabilities: dict[Category, float]
    """Keys in :data:`triage.CATEGORIES` order; values sum to 1."""
    confidence: float


def predict(
    model: TrainedModel, texts: Sequence[str], embeddings: np.ndarray | None = None
) -> list[Prediction]:
    """Classify ``texts``.

    ``embeddings`` (``(len(texts), dim)``, from the embedder the model was trained with) are
    required when ``model.embedder_name`` is set and ignored otherwise, so a caller may always
    pass them. Ties are broken by ``CATEGORIES`` order.
    """
    if len(texts) == 0:
        return []
    if model.embedder_name is None:
        embeddings = None
    elif embeddings is None:
        raise ValueError(f"model {model.data_ref[:15]} needs embeddings from {model.embedder_name}")
    elif embeddings.ndim != 2 or embeddings.shape[1] != model.embedder_dim:
        raise ValueError(
            f"expected embeddings of dim {model.embedder_dim}, got shape {embeddings.shape}"
        )
    raw = model.pipeline.predict_proba(make_inputs(texts, embeddings))
    fitted = [str(c) for c in model.pipeline.classes_]
    proba = np.zeros((len(texts), len(CATEGORIES)))
    for j, category in enumerate(CATEGORIES):
        if category in fitted:
            proba[:, j] = raw[:, fitted.index(category)]
    best = proba.argmax(axis=1)
    return [
        Prediction(
            category=CATEGORIES[b],
            probabilities={c: float(p) for c, p in zip(CATEGORIES, row, strict=True)},
            confidence=float(row[b]),
        )
        for b, row in zip(best, proba, strict=True)
    ]


def evaluate_on(
    model: TrainedModel, examples: Sequence[Example], embeddings: np.ndarray | None = None
) -> dict[str, Any]:
    """:func:`triage.evaluate.report` of ``model`` on labelled ``examples``.

    For promotion, score champion and challenger on the *same* held-out examples (ones neither
    was trained on) and compare with :func:`triage.evaluate.is_not_worse`.
    """
    predicted = predict(model, [e.text for e in examples], embeddings)
    return report([e.category for e in examples], [p.category for p in predicted])
