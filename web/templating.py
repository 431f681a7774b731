"""The Jinja environment: autoescape on, gettext from the request's locale, display filters."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from models.settings import REPO_ROOT, get_settings
from web import i18n

TEMPLATE_DIR: Path = REPO_ROOT / "templates"
STATIC_DIR: Path = Path(__file__).parent / "static"
# Versioned asset URLs: /assets/<file>?v=<its content hash>, cached by browsers for a year.
# A new release changes the hash of every file it changes, so no one runs yesterday's
# scripts against today's pages; /static/<file> stays for what others link to (the chat
# loader) and is revalidated as usual.
ASSETS_PATH = "/assets"


def static_file(path: str) -> Path | None:
    """The file under web/static that ``path`` names, or None (missing, or outside it)."""
    root = STATIC_DIR.resolve()
    found = (root / path.lstrip("/")).resolve()
    return found if found.is_relative_to(root) and found.is_file() else None


@lru_cache(maxsize=512)
def _hash_of(found: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(found.read_bytes()).hexdigest()[:12]


def content_hash(found: Path) -> str:
    """A file's version: the start of its content's SHA-256 (read again when it changes)."""
    info = found.stat()
    return _hash_of(found, info.st_mtime_ns, info.st_size)


def _versioned(path: str) -> str:
    found = static_file(path)
    if found is None:
        raise FileNotFoundError(path)
    return f"{ASSETS_PATH}/{path}?v={content_hash(found)}"


_versioned_once = lru_cache(maxsize=256)(_versioned)


def static_url(path: str) -> str:
    """The versioned URL of a file under web/static: worked out once per process (a page
    links a dozen), each time with KEFU_DEBUG, as templates are checked on disk only then."""
    return _versioned(path) if get_settings().debug else _versioned_once(path)


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in the team's timezone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(get_settings().timezone)).strftime(fmt)


def duration(seconds: float | None) -> str:
    """Compact, localized: 3天4小时, 2h 5m, 45m."""
    if seconds is None:
        return ""
    negative = seconds < 0
    minutes = int(abs(seconds)) // 60
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    if days:
        text = i18n.gettext("%(d)sd %(h)sh", d=days, h=hours)
    elif hours:
        text = i18n.gettext("%(h)sh %(m)sm", h=hours, m=mins)
    else:
        text = i18n.gettext("%(m)sm", m=mins)
    return "-" + text if negative else text


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Checking every template file's mtime on each use (a board page includes the card
        # template once per card) is for editing templates: only with KEFU_DEBUG.
        auto_reload=get_settings().debug,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message, **kw: i18n.gettext(message, **kw),
        ngettext=lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw),
        newstyle=False,
    )
    env.globals.update(
        get_locale=i18n.get_locale,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
        attachment_limit=_attachment_limit,
        static_url=static_url,
    )
    env.filters.update(localtime=localtime, duration=duration, t=_translate_enum)
    return env


def _attachment_limit() -> str:
    """The per-file upload limit, for the file pickers' hints."""
    from models.services.tickets.attachments import human_size
    from models.settings import get_settings

    return human_size(get_settings().attachment_max_bytes)


def _translate_enum(value: Any) -> str:
    """Translate an enum value's msgid from models.services.labels."""
    from web.labels import label

    return label(value)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(build_environment()))
