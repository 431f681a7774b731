"""Switching the interface language in a real browser: Chinese by default, English, back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def _switch(page: Any, language_name: str) -> None:
    async with page.expect_navigation():
        await page.click(f".lang-switch button:has-text('{language_name}')")


async def test_switch_from_chinese_to_english_and_back(page: Any) -> None:
    await sign_in(page, "agent", "kefu-agent")
    nav = page.locator("nav.nav")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert "看板" in await nav.inner_text()
    assert (await page.locator("[data-testid=column-pending] h2").inner_text()).startswith("待处理")

    await _switch(page, "English")
    assert page.url.endswith("/board")  # stays on the same page
    assert await page.get_attribute("html", "lang") == "en"
    assert "Board" in await nav.inner_text() and "看板" not in await nav.inner_text()
    assert (await page.locator("[data-testid=column-pending] h2").inner_text()).startswith(
        "Pending"
    )
    assert await page.get_attribute(".lang-switch button[value=en]", "aria-pressed") == "true"

    await page.reload()  # the choice sticks
    assert await page.get_attribute("html", "lang") == "en"

    await _switch(page, "中文")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert "看板" in await nav.inner_text()
    assert (await page.locator("[data-testid=column-pending] h2").inner_text()).startswith("待处理")


async def test_an_english_browser_gets_english_before_signing_in(new_page: Any) -> None:
    page = await new_page(locale="en-US")
    await page.goto("/login")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.locator("h1").inner_text() == "Sign in to Kefu"
