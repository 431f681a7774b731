"""Sign-in throttling as a person sees it: a clear message in their language, no hint of
whether the account exists, and the right password refused too until the wait is over."""

from __future__ import annotations

from typing import Any

import pytest

from models.settings import get_settings
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_too_many_wrong_passwords_show_when_to_try_again(new_page: Any) -> None:
    page = await new_page()
    for _ in range(get_settings().sign_in_max_failures):
        await sign_in(page, "lead", "not-the-password")
        error = page.locator(".flash-error[role=alert]")
        assert (await error.inner_text()).strip() == "用户名或密码错误。"

    await sign_in(page, "lead", "kefu-lead")
    assert page.url.endswith("/login")
    error = page.locator(".flash-error[role=alert]")
    assert (await error.inner_text()).strip() == "登录失败次数过多，请在 15 分钟后再试。"
    assert await page.input_value("input[name=username]") == "lead"
    await page.screenshot(path=screenshot_path("sign-in-throttled"), full_page=True)
    await page.goto("/board")
    assert "/login?next=" in page.url, "not signed in"

    english = await new_page(locale="en")
    for _ in range(get_settings().sign_in_max_failures):
        await sign_in(english, "no-such-person", "whatever-1")
    await sign_in(english, "no-such-person", "whatever-1")
    error = english.locator(".flash-error[role=alert]")
    assert (await error.inner_text()).strip() == (
        "Too many failed sign-in attempts. Please try again in 15 minutes."
    )
