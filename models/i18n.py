"""The message catalogs, below the web: texts rendered for someone who is not in a request.

Services that speak to a person outside any request (a notification delivered by the
worker, a follow-up written by the SLA tick) render their msgids here, in the language stored
with the person or the row. The web reuses the same catalogs and keeps language negotiation
(cookie, Accept-Language, the request's current locale) in ``web/i18n.py``.

Source strings are English; the .po files in ``web/locale/<locale>/LC_MESSAGES/`` translate
them (one file per product area, merged at load). They are compiled in memory on first use,
so importing this module reads nothing and no build step is needed.
"""

from __future__ import annotations

import gettext as _gettext
from functools import lru_cache
from io import BytesIO
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from models.settings import REPO_ROOT

LOCALE_DIR = REPO_ROOT / "web" / "locale"
SUPPORTED = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"


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


def render(message: str, params: dict[str, Any], locale: str) -> str:
    """A msgid with its ``%(name)s`` params, in ``locale``.

    Stored rows outlive the catalogs: a translation whose placeholders no longer match the
    params falls back to the English source rather than failing a delivery.
    """
    text = translations(locale).gettext(message)
    try:
        return text % params if params else text
    except (KeyError, ValueError, TypeError):
        return message % params if params else message
