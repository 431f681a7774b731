"""List the msgids used in code and templates, and those missing a zh_CN translation.

``python -m web.locale.extract`` prints the untranslated ones (the i18n test runs the same
check), so adding a UI string without its Chinese fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from models.settings import REPO_ROOT

KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
SOURCE_DIRS = ("web", "models", "templates", "workers")


def used_msgids() -> dict[str, str]:
    """msgid → first place it is used."""
    found: dict[str, str] = {}
    method_map = [("**.py", "python"), ("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    for folder in SOURCE_DIRS:
        root = REPO_ROOT / folder
        for filename, lineno, message, _comments, _context in extract_from_dir(
            root, method_map, options, keywords=KEYWORDS
        ):
            if "/migrations/" in filename:
                continue
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    found.setdefault(msgid, f"{folder}/{filename}:{lineno}")
    return found


def translated(locale: str = "zh_CN") -> set[str]:
    done: set[str] = set()
    for po in sorted((Path(__file__).parent / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            done.update(m.id for m in read_po(fh) if isinstance(m.id, str) and m.id and m.string)
    return done


def missing(locale: str = "zh_CN") -> dict[str, str]:
    have = translated(locale)
    return {msgid: where for msgid, where in used_msgids().items() if msgid not in have}


if __name__ == "__main__":
    gaps = missing()
    for msgid, where in sorted(gaps.items(), key=lambda item: item[1]):
        print(f"{where}\t{msgid}")
    sys.exit(1 if gaps else 0)
