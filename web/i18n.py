"""zh-CN (default) and English: catalogs, negotiation and the gettext used by templates.

Source strings are English; the .po files in ``web/locale/<locale>/LC_MESSAGES/`` translate
them (one file per product area, merged at load). They are compiled in memory on first use,
so no build step is needed.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
COOKIE = "kefu_lang"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}

_current: ContextVar[str] = ContextVar("kefu_locale", default=DEFAULT_LOCALE)


@lru_cache(maxsize=len(SUPPORTED))
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog for a locale (English is the source language)."""
    files = sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"))
    if not files:
        return _gettext.NullTranslations()
    catalog = Catalog(locale=locale)
    for po in files:
        with po.open("rb") as fh:
            for message in read_po(fh, locale=locale):
                if message.id and message.string:
                    catalog[message.id] = message
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def normalize(tag: str | None) -> str | None:
    """Map a language tag (zh, zh-CN, zh-Hans-CN, en-US, …) to a supported locale."""
    if not tag:
        return None
    tag = tag.strip().replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The cookie wins, then the best Accept-Language match by q-value, then the default."""
    chosen = normalize(cookie)
    if chosen:
        return chosen
    if accept_language:
        weighted: list[tuple[float, int, str]] = []
        for index, part in enumerate(accept_language.split(",")):
            lang, _, params = part.partition(";")
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            locale = normalize(lang)
            if locale and q > 0:
                weighted.append((-q, index, locale))
        if weighted:
            return sorted(weighted)[0][2]
    return normalize(default) or DEFAULT_LOCALE


def set_locale(locale: str) -> None:
    _current.set(locale)


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **params: Any) -> str:
    """Translate into the current request's language, then fill ``%(name)s`` parameters."""
    text = translations(get_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext
