"""An .xlsx workbook written as a stream: the bytes of each row batch leave as soon as it is read.

openpyxl's write-only mode spools the rows to disk and can only hand the file over once it is
complete, so a 100,000-row export waited tens of seconds before its first byte. An .xlsx is a
zip of XML parts; every part but the worksheets is known before the first row is read, and a
worksheet is a header followed by ``<row>`` elements. So the zip is written to a sink that is
emptied after every batch (``zipfile`` writes a data descriptor after each entry when its
output cannot seek), deflated at level 1: exports are read once and downloaded on a LAN.

Cells are what the exports need: inline strings (no shared-string table to hold in memory),
numbers, dates and times as serial numbers with a date format, a bold header row frozen at the
top, and column widths. Text is never written as a formula; characters XML 1.0 cannot carry are
dropped.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

MAX_COLUMNS = 16_384
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = datetime(1899, 12, 30)
# Style indexes of styles.xml's cellXfs below.
_BOLD, _DATETIME, _DATE = 1, 2, 3

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_OOXML = "application/vnd.openxmlformats-officedocument"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.spreadsheetml.sheet.main+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_OOXML}.spreadsheetml.styles+xml"/>'
    f'<Override PartName="/docProps/app.xml" ContentType="{_OOXML}.extended-properties+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    f'ContentType="{_OOXML}.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>Kefu</Application></Properties>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL}">'
    "{sheets}"
    f'<Relationship Id="rIdStyles" Type="{_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_SHEET_REL = (
    f'<Relationship Id="rId{{n}}" Type="{_REL}/worksheet" Target="worksheets/sheet{{n}}.xml"/>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<sheetViews><sheetView workbookViewId="0"{selected}>'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
    '<sheetFormatPr defaultRowHeight="15"/>{cols}<sheetData>'
)
_SHEET_END = "</sheetData></worksheet>"


def column_letter(index: int) -> str:
    """The letters of a 0-based column index: 0 → A, 25 → Z, 26 → AA."""
    if not 0 <= index < MAX_COLUMNS:
        raise ValueError(f"column {index} is outside a worksheet")
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _serial(value: datetime | date) -> float:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86_400
    return float((value - _EPOCH.date()).days)


def _text(value: str) -> str:
    return escape(_ILLEGAL.sub("", value))


def _text_attr(value: str) -> str:
    return _ILLEGAL.sub("", value)


class _Sink:
    """A write-only file for ``zipfile``: it keeps what was written until :meth:`take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class XlsxStream:
    """One workbook, written in order: :meth:`begin_sheet`, :meth:`rows` …, the next sheet, then
    :meth:`close`. Each call returns the bytes of the file that are ready (possibly none)."""

    def __init__(self, titles: Sequence[str], *, compresslevel: int = 1) -> None:
        if not titles:
            raise ValueError("a workbook needs at least one sheet")
        self._titles = list(titles)
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(
            self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._sheet: Any = None  # the open worksheet entry
        self._count = 0  # sheets begun
        self._row = 0  # rows written in the open sheet
        self._refs: list[str] = []
        self._write_package()

    def _write_package(self) -> None:
        numbers = range(1, len(self._titles) + 1)
        parts = {
            "[Content_Types].xml": _CONTENT_TYPES.format(
                sheets="".join(_SHEET_TYPE.format(n=n) for n in numbers)
            ),
            "_rels/.rels": _ROOT_RELS,
            "docProps/app.xml": _APP,
            "xl/workbook.xml": _WORKBOOK.format(
                sheets="".join(
                    f'<sheet name={quoteattr(name)} sheetId="{n}" r:id="rId{n}"/>'
                    for n, name in zip(numbers, map(_text_attr, self._titles), strict=True)
                )
            ),
            "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS.format(
                sheets="".join(_SHEET_REL.format(n=n) for n in numbers)
            ),
            "xl/styles.xml": _STYLES,
        }
        for name, text in parts.items():
            self._zip.writestr(name, text)

    def begin_sheet(self, header: Sequence[str], widths: Sequence[float] = ()) -> bytes:
        """Start the next sheet with its bold header row (frozen) and column widths."""
        if self._sheet is not None:
            self._end_sheet()
        if self._count >= len(self._titles):
            raise ValueError("more sheets than titles")
        self._count += 1
        self._row = 0
        self._refs = [column_letter(i) for i in range(max(len(header), len(widths)))]
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{float(w):g}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        self._sheet = self._zip.open(f"xl/worksheets/sheet{self._count}.xml", "w")
        self._sheet.write(
            _SHEET_START.format(
                selected=' tabSelected="1"' if self._count == 1 else "",
                cols=f"<cols>{cols}</cols>" if cols else "",
            ).encode()
        )
        self._write([list(header)], style=_BOLD)
        return self._sink.take()

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """Append rows of plain values (str, int, float, Decimal, date, datetime or None)."""
        if self._sheet is None:
            raise ValueError("begin a sheet before writing rows")
        self._write(rows)
        return self._sink.take()

    def close(self) -> bytes:
        """Finish the last sheet and the zip's central directory; the rest of the file."""
        if self._sheet is not None:
            self._end_sheet()
        if self._count != len(self._titles):
            raise ValueError("fewer sheets than titles")
        self._zip.close()
        return self._sink.take()

    def _end_sheet(self) -> None:
        self._sheet.write(_SHEET_END.encode())
        self._sheet.close()
        self._sheet = None

    def _write(self, rows: Sequence[Sequence[Any]], style: int = 0) -> None:
        out: list[str] = []
        s = f' s="{style}"' if style else ""
        for row in rows:
            self._row += 1
            n = self._row
            if len(row) > len(self._refs):
                self._refs.extend(column_letter(i) for i in range(len(self._refs), len(row)))
            out.append(f'<row r="{n}">')
            for ref, value in zip(self._refs, row, strict=False):
                if value is None or value == "":
                    continue
                if isinstance(value, str):
                    out.append(
                        f'<c r="{ref}{n}"{s} t="inlineStr"><is><t xml:space="preserve">'
                        f"{_text(value)}</t></is></c>"
                    )
                elif isinstance(value, bool):
                    out.append(f'<c r="{ref}{n}"{s} t="b"><v>{int(value)}</v></c>')
                elif isinstance(value, int | Decimal) or (
                    isinstance(value, float) and value == value and abs(value) != float("inf")
                ):
                    out.append(f'<c r="{ref}{n}"{s}><v>{value}</v></c>')
                elif isinstance(value, datetime | date):
                    fmt = _DATETIME if isinstance(value, datetime) else _DATE
                    out.append(f'<c r="{ref}{n}" s="{fmt}"><v>{_serial(value)!r}</v></c>')
                else:
                    out.append(
                        f'<c r="{ref}{n}"{s} t="inlineStr"><is><t xml:space="preserve">'
                        f"{_text(str(value))}</t></is></c>"
                    )
            out.append("</row>")
        self._sheet.write("".join(out).encode("utf-8", "replace"))
