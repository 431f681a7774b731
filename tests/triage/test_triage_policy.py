"""The training and promotion policy: label splits, label weights, promotion decisions."""

from dataclasses import dataclass
from typing import Any

from triage import policy


@dataclass(frozen=True)
class Row:
    id: int
    key: str
    category: str


def _labels(n: int, category: str = "problem", start: int = 0) -> list[Row]:
    return [Row(i, f"key-{category}-{i}", category) for i in range(start, start + n)]


def test_held_out_labels_are_stable_as_labels_accumulate() -> None:
    first_train, first_held = policy.split_labels(_labels(100))
    _, later_held = policy.split_labels(_labels(300))
    assert 5 <= len(first_held) <= 40 and len(first_train) + len(first_held) == 100
    assert {r.key for r in first_held} <= {r.key for r in later_held}, "held out stays held out"
    assert not {r.key for r in first_train} & {r.key for r in later_held}


def test_every_type_with_five_labels_holds_one_out() -> None:
    rows = _labels(5, "complaint") + _labels(5, "consultation", start=5)
    _, held = policy.split_labels(rows)
    assert {r.category for r in held} == {"complaint", "consultation"}


def test_label_weight_balances_labels_against_the_bootstrap() -> None:
    assert policy.label_weight(2000, 0) == 1.0
    assert policy.label_weight(2000, 20) == policy.MAX_LABEL_WEIGHT
    assert policy.label_weight(2000, 500) == 4.0
    assert policy.label_weight(2000, 8000) == 1.0


def _report(macro: float, n: int = 100, f1: float | None = None) -> dict[str, Any]:
    per_class = {
        c: {
            "precision": 0.0,
            "recall": 0.0,
            "f1": f1 if f1 is not None else macro,
            "support": n // 4,
        }
        for c in ("consultation", "problem", "complaint", "after_sales")
    }
    return {
        "n": n,
        "accuracy": macro,
        "macro_f1": macro,
        "per_class": per_class,
        "confusion": [[0] * 4 for _ in range(4)],
    }


def test_generic_accuracy_is_traded_only_for_a_measured_gain() -> None:
    champion = {"bootstrap_validation": _report(0.97, 500), "held_out_labels": _report(0.60, 40)}
    gained = {"bootstrap_validation": _report(0.93, 500), "held_out_labels": _report(0.80, 40)}
    nothing = {"bootstrap_validation": _report(0.93, 500), "held_out_labels": _report(0.60, 40)}
    noisy = {"bootstrap_validation": _report(0.93, 500), "held_out_labels": _report(0.90, 8)}
    champion_small = {**champion, "held_out_labels": _report(0.60, 8)}

    assert policy.decide(gained, champion)[0] is True
    promote, _, sets = policy.decide(nothing, champion)
    assert promote is False and sets["bootstrap_validation"]["not_worse"] is False
    assert policy.decide(noisy, champion_small)[0] is False, "8 labels prove nothing"
    assert policy.decide(gained, None)[0] is True, "the first model"


def test_a_text_labelled_twice_counts_once_with_its_latest_label() -> None:
    rows = [
        Row(1, policy.label_key("订单 TB123 没发货"), "problem"),
        Row(2, policy.label_key("  "), "problem"),
        Row(3, policy.label_key("订单 TB456 没发货"), "complaint"),
        Row(4, policy.label_key("How much is it?"), "consultation"),
    ]
    assert [(r.id, r.category) for r in policy.latest_per_text(rows)] == [
        (3, "complaint"),
        (4, "consultation"),
    ]
