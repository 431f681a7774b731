"""Write a zh_CN .po file from a {msgid: translation} mapping (used when adding strings).

``python -m web.locale.tools.write_po AREA FILE.py`` where FILE.py defines ``T = {...}``;
entries already in ``AREA.po`` are kept, new ones added, sorted by msgid.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

PO_DIR = Path(__file__).resolve().parent.parent / "zh_CN" / "LC_MESSAGES"


def merge(area: str, translations: dict[str, str]) -> Path:
    path = PO_DIR / f"{area}.po"
    catalog = Catalog(locale="zh_CN", project="kefu", domain=area)
    if path.exists():
        with path.open("rb") as fh:
            for message in read_po(fh, locale="zh_CN"):
                if message.id:
                    catalog.add(message.id, message.string)
    for msgid, text in translations.items():
        catalog.add(msgid, text)
    PO_DIR.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, sort_output=True, omit_header=False, width=100)
    return path


if __name__ == "__main__":
    area, source = sys.argv[1], sys.argv[2]
    print(merge(area, runpy.run_path(source)["T"]))
