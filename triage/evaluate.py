"""Pure metric functions over request-type labels, and the champion/challenger rule.

Every function takes plain label sequences and returns plain, JSON-serialisable data, so reports
can be stored verbatim in model metadata and compared later. Labels outside
:data:`triage.CATEGORIES` are rejected rather than silently ignored.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from triage import CATEGORIES

__all__ = [
    "accuracy",
    "confusion",
    "is_not_worse",
    "macro_f1",
    "per_class",
    "report",
]


def _check(y_true: Sequence[str], y_pred: Sequence[str]) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    unknown = (set(y_true) | set(y_pred)) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; expected one of {CATEGORIES}")


def confusion(y_true: Sequence[str], y_pred: Sequence[str]) -> list[list[int]]:
    """Confusion matrix: row = true label, column = predicted, both in ``CATEGORIES`` order."""
    _check(y_true, y_pred)
    index: dict[str, int] = {label: i for i, label in enumerate(CATEGORIES)}
    matrix = [[0] * len(CATEGORIES) for _ in CATEGORIES]
    for truth, guess in zip(y_true, y_pred, strict=True):
        matrix[index[truth]][index[guess]] += 1
    return matrix


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of exact matches (0.0 for empty input)."""
    _check(y_true, y_pred)
    if not y_true:
        return 0.0
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def per_class(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each category (0.0 where undefined)."""
    matrix = confusion(y_true, y_pred)
    out: dict[str, dict[str, float]] = {}
    for i, label in enumerate(CATEGORIES):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = _safe_div(tp, predicted)
        recall = _safe_div(tp, support)
        out[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _safe_div(2 * precision * recall, precision + recall),
            "support": support,
        }
    return out


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over the categories present in ``y_true`` or ``y_pred``.

    Categories absent from both contribute nothing (as in scikit-learn's default), so a small
    validation set without, say, complaints is not penalised for them.
    """
    scores = per_class(y_true, y_pred)
    present = set(y_true) | set(y_pred)
    f1s = [scores[label]["f1"] for label in CATEGORIES if label in present]
    return sum(f1s) / len(f1s) if f1s else 0.0


def report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """The standard report stored with every model version.

    Keys: ``n``, ``accuracy``, ``macro_f1``, ``per_class`` (category → ``precision``,
    ``recall``, ``f1``, ``support``) and ``confusion`` (rows/columns in ``CATEGORIES`` order).
    """
    return {
        "n": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "per_class": per_class(y_true, y_pred),
        "confusion": confusion(y_true, y_pred),
    }


def is_not_worse(
    challenger: Mapping[str, Any], champion: Mapping[str, Any], tolerance: float = 0.01
) -> bool:
    """Whether a challenger model may replace the champion.

    Decided on macro-F1 — the four types matter equally, and complaints are the rarest yet most
    costly to miss, which accuracy would hide. The challenger passes when its macro-F1 is at
    least the champion's minus ``tolerance`` (absorbing noise between two evaluations of the
    same quality, so a retrain on more data is not blocked by a rounding-level dip), *and* no
    category's F1 drops by more than ``2 * tolerance`` — a model must not buy overall gains by
    sacrificing one type. Both reports should come from the same evaluation set.
    """
    if tolerance < 0:
        raise ValueError("tolerance must be non-negative")
    if challenger["macro_f1"] < champion["macro_f1"] - tolerance:
        return False
    old, new = champion.get("per_class", {}), challenger.get("per_class", {})
    for label in CATEGORIES:
        compared = label in old and label in new and old[label].get("support", 0) > 0
        if compared and new[label]["f1"] < old[label]["f1"] - 2 * tolerance:
            return False
    return True
