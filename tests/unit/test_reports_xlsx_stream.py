"""The streamed .xlsx writer: what a spreadsheet reads back, and that bytes leave as rows come."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from models.services.reports.xlsx_stream import XlsxStream, column_letter


def _write(titles: list[str], sheets: list[tuple[list[str], list[list[object]]]]) -> bytes:
    book = XlsxStream(titles)
    parts = []
    for header, rows in sheets:
        parts.append(book.begin_sheet(header, [12] * len(header)))
        parts.append(book.rows(rows))
    parts.append(book.close())
    return b"".join(parts)


def test_a_spreadsheet_reads_back_every_value_and_the_layout() -> None:
    rows: list[list[object]] = [
        [1, "退款未到账", datetime(2026, 3, 1, 9, 30), date(2026, 3, 2), 2.5, Decimal("4.25")],
        [2, '=HYPERLINK("http://x")', None, None, -3, "  spaced  "],
        [3, 'a\x01b<c>&"d"', None, None, 0, "+86 138"],
    ]
    data = _write(
        ["工单 Tickets", "Second"], [(["No", "Text", "At", "On", "N", "D"], rows), (["x"], [["y"]])]
    )

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["工单 Tickets", "Second"]
    sheet = book["工单 Tickets"]
    assert [c.value for c in sheet[1]] == ["No", "Text", "At", "On", "N", "D"]
    assert all(c.font.b for c in sheet[1]) and not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 12
    assert [c.value for c in sheet[2]] == [
        1,
        "退款未到账",
        datetime(2026, 3, 1, 9, 30),
        datetime(2026, 3, 2),
        2.5,
        4.25,
    ]
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm"
    formula = sheet["B3"]
    assert formula.value == '=HYPERLINK("http://x")' and formula.data_type == "s"
    assert sheet["F3"].value == "  spaced  "
    assert sheet["B4"].value == 'ab<c>&"d"'  # a control character XML cannot carry is dropped
    assert sheet["C3"].value is None
    assert [[c.value for c in r] for r in book["Second"].iter_rows()] == [["x"], ["y"]]
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_bytes_leave_while_rows_are_still_coming() -> None:
    """Most of a large sheet is out before the workbook is closed (nothing is held to the end)."""
    rng = random.Random(7)
    book = XlsxStream(["Tickets"])
    sent = [book.begin_sheet(["No", "Subject"])]
    early = 0
    for batch in range(50):
        rows = [
            [batch * 500 + i, f"{rng.getrandbits(64):x} 发票 {rng.random()}"] for i in range(500)
        ]
        chunk = book.rows(rows)
        sent.append(chunk)
        if batch < 5:
            early += len(chunk)
    last = book.close()
    total = sum(map(len, sent)) + len(last)
    assert early > 0, "the first batches produced no bytes"
    assert len(last) < total / 10
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join([*sent, last])), read_only=True)["Tickets"]
    assert sum(1 for _ in sheet.iter_rows()) == 25_001


def test_wrong_order_is_refused() -> None:
    book = XlsxStream(["One"])
    with pytest.raises(ValueError, match="begin a sheet"):
        book.rows([[1]])
    book.begin_sheet(["a"])
    with pytest.raises(ValueError, match="more sheets"):
        book.begin_sheet(["b"])
    with pytest.raises(ValueError, match="at least one sheet"):
        XlsxStream([])
    with pytest.raises(ValueError, match="fewer sheets"):
        XlsxStream(["a", "b"]).close()


@pytest.mark.parametrize(
    ("index", "letters"),
    [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16_383, "XFD")],
)
def test_column_letters(index: int, letters: str) -> None:
    assert column_letter(index) == letters


def test_column_letters_end_with_the_worksheet() -> None:
    with pytest.raises(ValueError):
        column_letter(16_384)
