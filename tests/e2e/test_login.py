"""Signing in through the real login form, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_wrong_password_is_refused_in_chinese_then_the_right_one_opens_the_board(
    page: Any,
) -> None:
    await page.goto("/login")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.locator("h1").inner_text() == "登录客服系统"
    await page.screenshot(path=screenshot_path("login"), full_page=True)

    await sign_in(page, "lead", "not-the-password")
    assert page.url.endswith("/login")
    error = page.locator(".flash-error[role=alert]")
    assert (await error.inner_text()).strip() == "用户名或密码错误。"
    # The username is kept, the password is not.
    assert await page.input_value("input[name=username]") == "lead"
    assert await page.input_value("input[name=password]") == ""

    await sign_in(page, "lead", "kefu-lead")
    assert page.url.endswith("/board")
    assert await page.locator("[data-testid=board]").is_visible()
    title = page.locator("[data-testid=column-pending] h2")
    assert (await title.inner_text()).startswith("待处理")
    assert (await page.locator("[data-testid=count-pending]").inner_text()).strip() == "0"
    assert await page.locator(".whoami").count() == 1


async def test_signing_out_locks_the_board_again(page: Any) -> None:
    await sign_in(page, "agent", "kefu-agent")
    assert page.url.endswith("/board")
    async with page.expect_navigation():
        await page.click("form[action='/logout'] button")
    assert "/login" in page.url
    await page.goto("/board")
    assert "/login?next=" in page.url
