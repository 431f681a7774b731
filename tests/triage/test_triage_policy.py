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

    assert policy.decide(gained, champion, corrections=200).promote is True
    decision = policy.decide(nothing, champion, corrections=200)
    assert decision.promote is False and decision.sets["bootstrap_validation"]["not_worse"] is False
    assert policy.decide(gained, None, corrections=0).promote is True, "the first model"


def test_a_challenger_judged_on_too_few_corrections_is_not_promoted() -> None:
    """One held-out correction once promoted a model judged on n = 1."""
    champion = {"bootstrap_validation": _report(0.90, 500), "held_out_labels": _report(0.0, 1)}
    lucky = {"bootstrap_validation": _report(0.90, 500), "held_out_labels": _report(1.0, 1)}

    decision = policy.decide(lucky, champion, corrections=3)

    assert decision.promote is False
    assert decision.reason == "too few corrections to judge: 3 of the 10 needed"
    assert decision.evidence == {"corrections": 3, "needed": 10, "basis": "too_few"}
    first = policy.decide(lucky, None, corrections=3)
    assert first.promote is True and first.evidence["basis"] == "first_model"


def test_enough_corrections_but_too_few_held_out_are_judged_by_cross_validation() -> None:
    champion = {"bootstrap_validation": _report(0.90, 500), "held_out_labels": _report(0.5, 6)}
    held_only = {"bootstrap_validation": _report(0.90, 500), "held_out_labels": _report(1.0, 6)}
    better = {**held_only, "cross_validation": _report(0.94, 40)}
    worse = {**held_only, "cross_validation": _report(0.78, 40)}
    champion_cv = {**champion, "cross_validation": _report(0.81, 40)}

    refused = policy.decide(held_only, champion, corrections=40)
    assert refused.promote is False and refused.evidence["basis"] == "too_few", (
        "6 held-out labels alone never judge a challenger"
    )
    promoted = policy.decide(better, champion_cv, corrections=40)
    assert promoted.promote is True
    assert promoted.evidence == {
        "corrections": 40,
        "needed": 10,
        "basis": "cross_validation",
        "n": 40,
        "challenger_accuracy": 0.94,
        "champion_accuracy": 0.81,
    }
    assert set(promoted.sets) == {"cross_validation", "bootstrap_validation"}
    rejected = policy.decide(worse, champion_cv, corrections=40)
    assert rejected.promote is False and "worse on cross validation" in rejected.reason


def test_enough_held_out_labels_judge_without_cross_validation() -> None:
    champion = {
        "bootstrap_validation": _report(0.90, 500),
        "held_out_labels": _report(0.80, policy.MIN_HELD_OUT),
        "cross_validation": _report(0.10, 150),
    }
    challenger = {
        "bootstrap_validation": _report(0.90, 500),
        "held_out_labels": _report(0.85, policy.MIN_HELD_OUT),
        "cross_validation": _report(0.05, 150),
    }
    decision = policy.decide(challenger, champion, corrections=150)
    assert decision.promote is True and decision.evidence["basis"] == "held_out_labels"
    assert decision.evidence["n"] == policy.MIN_HELD_OUT


def test_folds_are_balanced_per_type_and_independent_of_order() -> None:
    from triage.data import Example

    rows = [Example(f"text {c} {i}", c) for c in ("problem", "complaint") for i in range(7)]
    folds = policy.fold_of(rows, 5)
    by_text = dict(zip((r.text for r in rows), folds, strict=True))
    assert dict(zip((r.text for r in rows[::-1]), policy.fold_of(rows[::-1], 5), strict=True)) == (
        by_text
    )
    sizes = [folds.count(f) for f in range(5)]
    assert max(sizes) - min(sizes) <= 1
    for category in ("problem", "complaint"):
        mine = [f for r, f in zip(rows, folds, strict=True) if r.category == category]
        assert len(set(mine)) == 5, "each type is spread over every fold"


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


def test_cross_validation_judges_every_label_once_and_the_champion_on_the_same_rows(
    tiny_examples: list[Any], tiny_model: Any
) -> None:
    from triage.data import Example

    labels = [Example(f"{e.text} (again {i})", e.category) for i, e in enumerate(tiny_examples)]
    data = policy.TrainingData(
        list(tiny_examples), [], labels[:16], labels[16:], labels_total=len(labels)
    )

    challenger, champion = policy.cross_validate(data, None, tiny_model)

    assert challenger is not None and champion is not None
    assert challenger["n"] == champion["n"] == len(labels)
    truth = [sum(row) for row in challenger["confusion"]]
    assert truth == [sum(row) for row in champion["confusion"]] == [5, 5, 5, 5]
    assert policy.cross_validate(data, None, tiny_model) == (challenger, champion), "seeded"


def test_a_new_way_of_reading_text_names_a_new_bootstrap_model(monkeypatch: Any) -> None:
    """Texts read another way (handles dropped, …) make another model from the same rows: its
    name and its cached embeddings' file must differ, or an upgraded installation would keep
    the model and the vectors made the old way."""
    ref = "sha256:" + "ab" * 32
    name, cache = (
        policy.bootstrap_version(ref, "m"),
        policy.bootstrap_cache_name("m", ref, gated=False),
    )
    monkeypatch.setattr(policy, "TEXT_VERSION", policy.TEXT_VERSION + 1)
    assert policy.bootstrap_version(ref, "m") != name
    assert policy.bootstrap_cache_name("m", ref, gated=False) != cache
    assert policy.bootstrap_cache_name("m", ref, gated=True).endswith("-gated.npy")
