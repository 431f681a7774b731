"""zh-CN (default) and English for the web: negotiation, the request's locale, and the
gettext used by handlers and templates.

The catalogs themselves (``web/locale/<locale>/LC_MESSAGES/*.po``, compiled in memory on first
use) are loaded by :mod:`models.i18n`, which services use to render texts outside a request;
this module picks the language of each request and translates into it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from models.i18n import DEFAULT_LOCALE, translations

COOKIE = "kefu_lang"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}

_current: ContextVar[str] = ContextVar("kefu_locale", default=DEFAULT_LOCALE)


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
