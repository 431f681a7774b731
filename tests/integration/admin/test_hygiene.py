"""Browser and data hygiene: security headers on every page, no third-party assets, no inline
script, no contact details in the access log, owner-only files for data at rest."""

from __future__ import annotations

import hashlib
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from models.db import create_engine
from models.services.admin import backup
from models.services.common.storage import LocalStorage
from models.settings import get_settings
from tests.conftest import sign_in
from web.headers import ACCESS_LOGGER, ContactRedactingFilter, install_access_log_filter

pytestmark = pytest.mark.usefixtures("reference")

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
STATIC = Path(__file__).resolve().parents[3] / "web" / "static"


def _assert_headers(response: Any) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy")


@pytest.mark.parametrize("path", ["/login", "/portal", "/no/such/page"])
async def test_every_page_carries_the_security_headers(client: Any, path: str) -> None:
    _assert_headers(await client.get(path))


async def test_other_responses_refuse_framing_and_sniffing(client: Any) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("x-content-type-options") == "nosniff"


async def test_signed_in_pages_and_errors_carry_them_too(client: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    for path in ("/board", "/admin", "/reports", "/tickets/2147483648"):
        _assert_headers(await client.get(path))


async def test_schema_pages_load_nothing_from_third_party_hosts(client: Any) -> None:
    for path in ("/schema", "/schema/swagger", "/schema/redoc", "/schema/elements"):
        response = await client.get(path)
        assert "cdn" not in response.text.lower() and "<script" not in response.text.lower()
        assert "fonts.googleapis" not in response.text
    assert (await client.get("/schema/openapi.json")).json()["info"]["title"] == "Kefu API"


async def test_pages_link_versioned_assets_a_release_cannot_leave_stale(client: Any) -> None:
    """Every script and stylesheet a page links carries its content's hash and is cached for
    a year: a new release's changed file has a new URL, so no browser runs yesterday's
    script against today's page. The unversioned /static/ URL stays for what others embed."""
    await sign_in(client, "agent", "kefu-agent")
    linked: set[str] = set()
    for path in ("/board", "/chat", "/portal"):
        page = (await client.get(path)).text
        assert 'src="/static/' not in page and 'href="/static/' not in page, path
        linked.update(re.findall(r'(?:src|href)="(/assets/[^"]+)"', page))
    client.cookies.clear()
    # The portal, the survey and the chat widget's frame load them without a session.
    assert any("/assets/js/board.js?v=" in url for url in linked), linked
    for url in linked:
        name, version = url.removeprefix("/assets/").split("?v=")
        body = (STATIC / name).read_bytes()
        assert version == hashlib.sha256(body).hexdigest()[:12], url
        response = await client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200 and response.content == body, url
        cache = response.headers["cache-control"]
        assert "max-age=31536000" in cache and "immutable" in cache, cache
    # A hash that is not the file's (a newer page reaching an older process mid-upgrade):
    # the file is served but not kept under that URL.
    other = await client.get("/assets/js/board.js?v=000000000000")
    assert other.status_code == 200 and other.headers["cache-control"] == "no-cache"
    assert other.content == (STATIC / "js" / "board.js").read_bytes()
    for missing in ("/assets/js/nothing.js", "/assets/..%2F..%2Fmodels%2Fsettings.py", "/assets/"):
        assert (await client.get(missing)).status_code == 404, missing
    loader = await client.get("/static/chat/loader.js")
    assert loader.status_code == 200 and "immutable" not in loader.headers.get("cache-control", "")


def test_templates_have_no_inline_script_or_event_handlers() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=", re.I)
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not inline_script.search(text), template
        assert not handler.search(text), template
        assert "javascript:" not in text, template


def test_access_log_redacts_contact_details() -> None:
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/customers?q=13800138000&page=2&email=li.lei%40example.com&n=TASK202601010001",
            "1.1",
            200,
        ),
        None,
    )
    assert ContactRedactingFilter().filter(record)
    line = record.getMessage()
    assert "13800138000" not in line and "li.lei" not in line and "example.com" not in line
    assert "page=2" in line and "TASK202601010001" in line and "[redacted]" in line
    plain = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "%s %s %s", ("a", "GET", "/board"), None
    )
    ContactRedactingFilter().filter(plain)
    assert plain.getMessage() == "a GET /board"


async def test_the_app_installs_the_access_log_filter(app: Any) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    for f in [f for f in logger.filters if isinstance(f, ContactRedactingFilter)]:
        logger.removeFilter(f)
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app):
        assert any(isinstance(f, ContactRedactingFilter) for f in logger.filters)
    install_access_log_filter()  # idempotent
    assert sum(isinstance(f, ContactRedactingFilter) for f in logger.filters) == 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_database_is_created_owner_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    await engine.dispose()
    assert _mode(tmp_path / "kefu.db") == 0o600
    loose = tmp_path / "old.db"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    await create_engine(f"sqlite+aiosqlite:///{loose}").dispose()
    assert _mode(loose) == 0o600


def test_attachments_are_stored_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    store = LocalStorage(root)
    sha = "ab" * 32
    store._put(sha, b"customer's file")
    blob = store.path(sha)
    assert _mode(blob) == 0o600
    folder = blob.parent
    while folder != tmp_path:
        assert _mode(folder) == 0o700, folder
        folder = folder.parent


async def test_backups_are_owner_only(db: Any, tmp_path: Path) -> None:
    settings = get_settings()
    data_dir = tmp_path / "data"
    (data_dir / "attachments" / "ab").mkdir(parents=True)
    (data_dir / "attachments" / "ab" / "blob").write_bytes(b"x")
    (data_dir / "attachments" / "ab" / "blob").chmod(0o644)
    result = await backup.create_backup(
        settings.database_url, output_dir=tmp_path / "backups", data_dir=data_dir
    )
    folder = result.path
    assert _mode(folder) == 0o700
    for path in folder.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
