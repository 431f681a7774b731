"""Training-data loading: formats, category validation, line numbers in errors."""

from pathlib import Path

import pytest

from triage import CATEGORIES
from triage.data import DataError, Example, data_ref, deduplicate, load_examples, parse_examples


def test_jsonl_and_chinese_aliases(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(
        '{"text": "怎么开发票", "category": "consultation"}\n'
        "\n"
        '{"text": "我要退货", "category": "售后支持"}\n'
        '{"text": "RMA please", "category": "After-Sales", "extra": 1}\n',
        encoding="utf-8",
    )
    assert [(e.text, e.category) for e in load_examples(path)] == [
        ("怎么开发票", "consultation"),
        ("我要退货", "after_sales"),
        ("RMA please", "after_sales"),
    ]


def test_csv_with_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text('text,category\n"Hi, app crashes",problem\n', encoding="utf-8")
    assert load_examples(path) == [Example("Hi, app crashes", "problem")]


def test_unknown_category_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"text": "ok", "category": "problem"}\n{"text": "hm", "category": "refund"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:2: unknown category 'refund'") as info:
        load_examples(path)
    assert all(c in str(info.value) for c in CATEGORIES)


def test_csv_error_line_number_and_missing_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,category\nfine,problem\n,complaint\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv:3: 'text' must be a non-empty string"):
        load_examples(path)


def test_invalid_json_and_missing_header(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "category": "problem"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.jsonl:2: invalid JSON"):
        load_examples(broken)
    headless = tmp_path / "headless.csv"
    headless.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="header must contain"):
        load_examples(headless)


def test_bootstrap_rows_are_valid_and_cover_all_types(bootstrap: list[Example]) -> None:
    assert {e.category for e in bootstrap} == set(CATEGORIES)
    assert {e.lang for e in bootstrap} >= {"zh", "en"}


def test_data_ref_ignores_order_but_not_labels() -> None:
    a = [Example("x", "problem"), Example("y", "complaint")]
    assert data_ref(a) == data_ref(list(reversed(a)))
    assert data_ref(a) != data_ref([Example("x", "problem"), Example("y", "after_sales")])


def test_deduplicate_uses_normalized_text() -> None:
    rows = [Example("Order 123456789 late", "problem"), Example("order 987654321  LATE", "problem")]
    assert deduplicate(rows) == rows[:1]


def test_parse_examples_from_memory_keeps_line_separators_inside_text() -> None:
    content = '\ufeff{"text": "a\u2028b", "category": "problem"}\n'
    assert parse_examples(content, "jsonl") == [Example("a\u2028b", "problem")]
    with pytest.raises(DataError, match=r"upload:2: unknown category"):
        parse_examples("text,category\nx,nope\n", "csv")
