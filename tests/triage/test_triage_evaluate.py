"""Metric functions on a hand-computed example, and the promotion rule."""

from typing import Any

import pytest
from sklearn.metrics import f1_score

from triage import CATEGORIES
from triage.evaluate import accuracy, confusion, is_not_worse, macro_f1, per_class, report

# consultation: 1 of 2 right; problem: 2 of 2 (+1 wrong guess); complaint: missed;
# after_sales: 1 right (+1 wrong guess).
Y_TRUE = ["consultation", "consultation", "problem", "problem", "complaint", "after_sales"]
Y_PRED = ["consultation", "problem", "problem", "problem", "after_sales", "after_sales"]


def test_confusion_rows_true_columns_predicted_in_fixed_order() -> None:
    assert confusion(Y_TRUE, Y_PRED) == [
        [1, 1, 0, 0],
        [0, 2, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 0, 1],
    ]


def test_hand_computed_metrics() -> None:
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    scores = per_class(Y_TRUE, Y_PRED)
    assert scores["consultation"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert scores["problem"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert scores["complaint"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["after_sales"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 0.8 + 0 + 2 / 3) / 4)
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))


def test_report_has_exactly_the_agreed_keys() -> None:
    result = report(Y_TRUE, Y_PRED)
    assert set(result) == {"n", "accuracy", "macro_f1", "per_class", "confusion"}
    assert result["n"] == 6
    assert list(result["per_class"]) == list(CATEGORIES)
    assert all(
        set(v) == {"precision", "recall", "f1", "support"} for v in result["per_class"].values()
    )


def test_unknown_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown labels"):
        report(["consultation"], ["refund"])


def _report(macro: float, per_class_f1: dict[str, float]) -> dict[str, Any]:
    return {
        "macro_f1": macro,
        "per_class": {c: {"f1": f, "support": 10} for c, f in per_class_f1.items()},
    }


CHAMPION = _report(
    0.80, {"consultation": 0.8, "problem": 0.8, "complaint": 0.8, "after_sales": 0.8}
)


def test_is_not_worse_refuses_a_worse_challenger() -> None:
    worse = _report(
        0.75, {"consultation": 0.75, "problem": 0.75, "complaint": 0.75, "after_sales": 0.75}
    )
    assert not is_not_worse(worse, CHAMPION, tolerance=0.01)


def test_is_not_worse_accepts_equal_or_better_and_noise_within_tolerance() -> None:
    assert is_not_worse(CHAMPION, CHAMPION)
    slightly = _report(
        0.795, {"consultation": 0.79, "problem": 0.8, "complaint": 0.79, "after_sales": 0.8}
    )
    assert is_not_worse(slightly, CHAMPION, tolerance=0.01)
    assert not is_not_worse(slightly, CHAMPION, tolerance=0.0)


def test_is_not_worse_refuses_sacrificing_one_type() -> None:
    lopsided = _report(
        0.82, {"consultation": 0.95, "problem": 0.95, "complaint": 0.60, "after_sales": 0.78}
    )
    assert not is_not_worse(lopsided, CHAMPION, tolerance=0.01)
