"""Pure rules of the triage integration: label splits, promotion, weights, repeats, KB text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.services.knowledge import kb
from models.services.knowledge import lifecycle as classifier
from models.services.knowledge.lifecycle import LabelRow
from models.services.tickets import triage


def _labels(n: int, category: str = "problem", start: int = 0) -> list[LabelRow]:
    return [
        LabelRow(i, f"text {i}", category, f"key-{category}-{i}", None, None, None)
        for i in range(start, start + n)
    ]


def test_held_out_labels_are_stable_as_labels_accumulate() -> None:
    first_train, first_held = classifier.split_labels(_labels(100))
    _, later_held = classifier.split_labels(_labels(300))
    assert 5 <= len(first_held) <= 40 and len(first_train) + len(first_held) == 100
    assert {r.key for r in first_held} <= {r.key for r in later_held}, "held out stays held out"
    assert not {r.key for r in first_train} & {r.key for r in later_held}


def test_every_type_with_five_labels_holds_one_out() -> None:
    rows = _labels(5, "complaint") + _labels(5, "consultation", start=5)
    _, held = classifier.split_labels(rows)
    assert {r.category for r in held} == {"complaint", "consultation"}


def test_label_weight_balances_labels_against_the_bootstrap() -> None:
    assert classifier.label_weight(2000, 0) == 1.0
    assert classifier.label_weight(2000, 20) == classifier.MAX_LABEL_WEIGHT
    assert classifier.label_weight(2000, 500) == 4.0
    assert classifier.label_weight(2000, 8000) == 1.0


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

    assert classifier.decide(gained, champion)[0] is True
    promote, _, sets = classifier.decide(nothing, champion)
    assert promote is False and sets["bootstrap_validation"]["not_worse"] is False
    assert classifier.decide(noisy, champion_small)[0] is False, "8 labels prove nothing"
    assert classifier.decide(gained, None)[0] is True, "the first model"


def test_library_versions_must_match_to_restore_a_model() -> None:
    running = classifier._runtime_versions()
    assert classifier.compatible_versions(dict(running))
    assert not classifier.compatible_versions({**running, "scikit-learn": "0.24.2"})


@pytest.mark.parametrize(
    ("a", "b", "repeat"),
    [
        ("我的订单一直没有发货，请帮忙查一下", "订单一直没有发货！请帮忙查查", True),
        ("我的订单一直没有发货，请帮忙查一下", "请问会员年费是多少？", False),
        (
            "The router keeps dropping wifi since the update",
            "Since the update the router keeps dropping wifi",
            True,
        ),
        ("The router keeps dropping wifi", "How much is the premium plan?", False),
    ],
)
def test_repeat_rule_on_words(a: str, b: str, repeat: bool) -> None:
    assert triage.is_similar(*triage.similarity(a, b)) is repeat


def test_retrieval_metrics() -> None:
    metrics = kb.retrieval_metrics([["a", "b"], ["x", "y", "c"], []], [["a"], ["c"], ["z"]])
    assert metrics == {
        "n": 3,
        "recall_at_1": pytest.approx(1 / 3),
        "recall_at_5": pytest.approx(2 / 3),
        "mrr_at_10": pytest.approx((1 + 1 / 3) / 3),
    }


def test_markdown_is_rendered_without_raw_html_or_script_links() -> None:
    html = kb.render_markdown("**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html


def test_import_reads_jsonl_and_markdown_folders(tmp_path: Path) -> None:
    jsonl = tmp_path / "kb.jsonl"
    jsonl.write_text(
        '{"id": "a", "title": "退款", "body": "原路退回"}\n'
        '{"id": "b", "title": "Refunds", "body": "Back to your card", '
        '"lang": "en"}\n'
    )
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "warranty.md").write_text("# 保修政策\n\n整机保修一年。\n")
    assert [(a.external_id, a.locale) for a in kb.read_import(jsonl)] == [
        ("a", "zh_CN"),
        ("b", "en"),
    ]
    [article] = kb.read_import(folder)
    assert (article.external_id, article.title, article.body) == (
        "warranty",
        "保修政策",
        "整机保修一年。",
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "t"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        kb.read_import(bad)
