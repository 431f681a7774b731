"""Loading and validating labelled training data.

Two sources:

* the bootstrap corpus shipped with Kefu, ``triage/data/bootstrap_*.jsonl`` — one JSON object a
  line: ``{"text", "category", "lang", "industry"}``;
* files a Kefu operator uploads: JSONL with ``{"text", "category"}`` (extra keys allowed) or CSV
  with a ``text,category`` header.

Categories are validated against :data:`triage.CATEGORIES`; the Chinese names from the guideline
(``咨询解答``, ``问题处理``, ``投诉跟进``, ``售后支持``) and ``after-sales`` spellings are accepted
and mapped to the codes. Every problem raises :class:`DataError` naming file and line.
"""

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from triage import CATEGORIES, Category
from triage.text import normalize

__all__ = [
    "BOOTSTRAP_DIR",
    "DataError",
    "Example",
    "data_ref",
    "deduplicate",
    "load_bootstrap",
    "load_examples",
    "parse_category",
    "parse_examples",
]

BOOTSTRAP_DIR: Final = Path(__file__).resolve().parent / "data"

_ALIASES: Final[dict[str, Category]] = {
    "咨询解答": "consultation",
    "咨询": "consultation",
    "问题处理": "problem",
    "问题": "problem",
    "投诉跟进": "complaint",
    "投诉": "complaint",
    "售后支持": "after_sales",
    "售后": "after_sales",
    "after-sales": "after_sales",
    "aftersales": "after_sales",
    "after sales": "after_sales",
}


class DataError(ValueError):
    """A training file is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled inquiry; ``lang``/``industry`` are optional metadata, not features."""

    text: str
    category: Category
    lang: str | None = None
    industry: str | None = None


def parse_category(value: object) -> Category:
    """Map a raw label to its category code, or raise ``ValueError`` listing valid codes."""
    if not isinstance(value, str):
        raise ValueError(f"category must be a string, got {type(value).__name__}")
    key = value.strip().lower()
    for category in CATEGORIES:
        if key == category:
            return category
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown category {value!r}; expected one of {', '.join(CATEGORIES)}")


def _example(record: Any, where: str) -> Example:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object with 'text' and 'category'")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: 'text' must be a non-empty string")
    try:
        category = parse_category(record.get("category"))
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
    lang, industry = record.get("lang"), record.get("industry")
    return Example(
        text=text.strip(),
        category=category,
        lang=lang if isinstance(lang, str) else None,
        industry=industry if isinstance(industry, str) else None,
    )


def _read_jsonl(lines: Iterable[str], name: str) -> list[Example]:
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{number}: invalid JSON ({exc.msg})") from None
        examples.append(_example(record, f"{name}:{number}"))
    return examples


def _read_csv(content: str, name: str) -> list[Example]:
    reader = csv.DictReader(io.StringIO(content))
    if reader.fieldnames is None or not {"text", "category"} <= set(reader.fieldnames):
        raise DataError(f"{name}:1: CSV header must contain 'text' and 'category'")
    # The header is line 1; DictReader.line_num counts physical lines (quoted newlines too).
    return [_example(row, f"{name}:{reader.line_num}") for row in reader]


def parse_examples(
    content: str, fmt: Literal["jsonl", "csv"], name: str = "upload"
) -> list[Example]:
    """Parse training rows from text already in memory (e.g. an uploaded file).

    ``name`` prefixes error messages (``name:line: …``).
    """
    content = content.removeprefix("\ufeff")
    if fmt == "jsonl":
        # split("\n"), not splitlines(): JSON strings may legally contain U+2028 etc.
        examples = _read_jsonl(content.split("\n"), name)
    elif fmt == "csv":
        examples = _read_csv(content, name)
    else:
        raise DataError(f"{name}: unsupported format {fmt!r} (use jsonl or csv)")
    if not examples:
        raise DataError(f"{name}: no examples")
    return examples


def load_examples(path: str | Path) -> list[Example]:
    """Read a ``.jsonl``/``.ndjson`` or ``.csv`` training file (UTF-8, BOM tolerated)."""
    file = Path(path)
    formats: dict[str, Literal["jsonl", "csv"]] = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".csv": "csv",
    }
    fmt = formats.get(file.suffix.lower())
    if fmt is None:
        raise DataError(f"{file}: unsupported format {file.suffix!r} (use .jsonl or .csv)")
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not UTF-8 text ({exc.reason})") from None
    return parse_examples(content, fmt, str(file))


def load_bootstrap(directory: str | Path = BOOTSTRAP_DIR) -> list[Example]:
    """Read every ``bootstrap_*.jsonl`` in ``directory`` (sorted by name, so deterministic)."""
    files = sorted(Path(directory).glob("bootstrap_*.jsonl"))
    if not files:
        raise DataError(f"{directory}: no bootstrap_*.jsonl files")
    return [example for file in files for example in load_examples(file)]


def deduplicate(examples: Sequence[Example]) -> list[Example]:
    """Drop rows whose normalized text repeats an earlier row (first occurrence wins).

    Duplicates would leak between training and validation splits and inflate metrics. A text
    labelled with two different categories is kept once, under its first label.
    """
    seen: set[str] = set()
    out = []
    for example in examples:
        key = normalize(example.text)
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


def data_ref(examples: Iterable[Example]) -> str:
    """SHA-256 identifying a training set by its ``(text, category)`` rows, order-independent."""
    rows = sorted(
        json.dumps([e.text, e.category], ensure_ascii=False, separators=(",", ":"))
        for e in examples
    )
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()
