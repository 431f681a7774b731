"""Pure rules of the triage integration: restorable versions, repeats, KB text.

The training and promotion policy (label splits, weights, promotion) is tested with
:mod:`triage.policy` in ``tests/triage/test_triage_policy.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.services.knowledge import kb, lifecycle
from models.services.tickets import triage
from triage.registry import library_versions


def test_library_versions_must_match_to_restore_a_model() -> None:
    running = library_versions()
    assert lifecycle.compatible_versions(dict(running))
    assert not lifecycle.compatible_versions({**running, "scikit-learn": "0.24.2"})


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
