"""Real-browser tests: the real app under uvicorn, Debian's Chromium driven by Playwright.

The server is a subprocess serving ``web.asgi:app`` on a socket this process bound (a free
port on 127.0.0.1, no race), with exactly the test run's ``KEFU_*`` environment: the same
database, Redis index, queue and event channel as the ``db``/``redis`` fixtures, so tests
arrange data through the services and the browser sees it. ``live_worker`` starts the real
worker (``kefu worker``) for tests that need jobs to run.

Chromium is Debian's (``make e2e-deps`` installs it); Playwright never downloads a browser.
Extend these fixtures for new pages: ``page`` is a fresh browser context per test, and
``sign_in(page, username, password)`` logs in through the login form.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from models.settings import REPO_ROOT, get_settings
from tests.conftest import _TMP

CHROMIUM = os.environ.get("KEFU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go outside the repository, where a person (or a reviewer) can look at them.
SCREENSHOTS = Path(
    os.environ.get("KEFU_E2E_SCREENSHOTS") or Path(tempfile.gettempdir()) / "kefu-e2e"
)
STARTUP_SECONDS = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder is an e2e test; without Chromium they cannot run at all."""
    here = Path(__file__).parent
    missing = not Path(CHROMIUM).exists()
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if missing:
                item.add_marker(
                    pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: run `make e2e-deps`")
                )


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """The app under uvicorn in a subprocess; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    log_path = _TMP / "e2e-server.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.asgi:app",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        pass_fds=(sock.fileno(),),
        env=os.environ.copy(),  # the run's KEFU_* settings, set by tests/conftest.py
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    sock.close()  # the server holds its own copy of the listening socket
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}):\n{_log_tail(log_path)}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the app did not become healthy:\n{_log_tail(log_path)}")
        time.sleep(0.1)
    try:
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
async def live_worker(redis: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """The real worker (``kefu worker``) in a subprocess, ready once its first heartbeat is in."""
    settings = get_settings()
    log_path = _TMP / "e2e-worker.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "web.cli",
            "worker",
            env=os.environ.copy(),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    health_key = f"{settings.queue_name}:health-check"
    deadline = time.monotonic() + STARTUP_SECONDS
    while not await redis.exists(health_key):
        if process.returncode is not None or time.monotonic() > deadline:
            if process.returncode is None:
                process.kill()
            raise RuntimeError(f"the worker did not start:\n{_log_tail(log_path)}")
        await asyncio.sleep(0.1)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the run."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def new_page(browser: Any, live_server: str, db: Any, redis: Any) -> AsyncIterator[Any]:
    """``await new_page()`` opens a page in a fresh context (own cookies) on the live server.

    Pages report uncaught script errors: a test fails if the page threw one.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    async def open_page(locale: str = "zh-CN") -> Any:
        context = await browser.new_context(
            base_url=live_server, locale=locale, viewport={"width": 1440, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
async def page(new_page: Any) -> Any:
    """A page in a fresh context, Chinese (the default language)."""
    return await new_page()


async def sign_in(page: Any, username: str, password: str, *, all_departments: bool = True) -> None:
    """Sign in through the login form and wait for the board.

    A bare /board shows the person's own department until they choose otherwise; the tests
    see every department (chosen once, so it is remembered for later visits to /board)
    unless ``all_departments`` is False.
    """
    await page.goto("/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("form.form button[type=submit]")
    if all_departments and urlparse(page.url).path == "/board":
        await page.request.get("/board?department=all")
        await page.reload()


# Each text node of the visible elements matching the selector: does it run over two lines?
_BROKEN_TEXTS_JS = """selector => [...document.querySelectorAll(selector)]
    .filter(el => el.offsetParent !== null && el.textContent.trim())
    .filter(el => {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()]
          .filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) return true;
      }
      return false;
    }).map(el => el.textContent.trim())"""


async def texts_broken_over_lines(page: Any, selector: str) -> list[str]:
    """The texts of the visible ``selector`` elements that wrap inside themselves: a button or
    a column head squeezed on a phone into 中/文 or "Mark / read"."""
    return list(await page.evaluate(_BROKEN_TEXTS_JS, selector))


def screenshot_path(name: str) -> Path:
    """Where to save a screenshot (outside the repository), one per backend."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    backend = "sqlite" if get_settings().is_sqlite else "postgresql"
    return SCREENSHOTS / f"{name}-{backend}.png"


class HeldRead:
    """The board's first read of the pending column, answered by the server at once but
    handed to the page only on ``release`` (later reads pass); ``reads`` lists them all."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.reads: list[str] = []

    async def route(self, route: Any) -> None:
        self.reads.append(route.request.url)
        if len(self.reads) > 1:
            await route.continue_()
            return
        answer = await route.fetch()  # the server reads the column now
        self.asked.set()
        await self.release.wait()
        await route.fulfill(response=answer)


async def hold_first_pending_read(page: Any) -> HeldRead:
    """Ask for a re-read of the pending column and hold its answer (see :class:`HeldRead`)."""
    held = HeldRead()
    await page.route("**/board/columns/pending*", held.route)
    await page.evaluate("htmx.trigger(document.getElementById('column-pending'), 'kefu-refresh')")
    await asyncio.wait_for(held.asked.wait(), 10)
    return held


def has_class(name: str) -> re.Pattern[str]:
    """A class-attribute pattern: the element has ``name`` among its classes."""
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")
