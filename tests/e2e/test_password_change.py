"""Changing a password in a real browser: on /account, and after an admin's reset."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

NEW_PASSWORD = "Moon-river-8127"
REFUSED = "用户名或密码错误。"


async def change_password(page: Any, current: str, new: str, confirm: str | None = None) -> None:
    form = page.locator("form[action='/account/password']")
    await form.locator("input[name=current]").fill(current)
    await form.locator("input[name=new]").fill(new)
    await form.locator("input[name=confirm]").fill(new if confirm is None else confirm)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()


async def sign_out(page: Any) -> None:
    async with page.expect_navigation():
        await page.click("form[action='/logout'] button")
    assert "/login" in page.url


async def test_an_agent_changes_their_password_then_only_the_new_one_signs_in(page: Any) -> None:
    await sign_in(page, "agent", "kefu-agent")
    assert page.url.endswith("/board")
    await page.goto("/account")

    # Too short: refused inline on the field, in Chinese, and nothing changes.
    await change_password(page, "kefu-agent", "short1")
    error = page.locator("form[action='/account/password'] .field-error[data-field=new]")
    assert await error.inner_text() == "至少使用 10 个字符。"
    assert await page.locator("input[name=new]").get_attribute("aria-invalid") == "true"
    assert "请修改标出的字段" in await page.locator(".flash-error").inner_text()

    # Long enough but on the list of well-known passwords.
    await change_password(page, "kefu-agent", "1234567890")
    assert await error.inner_text() == "该密码过于常见，请另选一个。"
    await page.screenshot(path=screenshot_path("account-password-refused"), full_page=True)

    await change_password(page, "kefu-agent", NEW_PASSWORD)
    assert await page.locator(".flash-success").inner_text() == "密码已修改。"
    assert await page.locator(".field-error").count() == 0
    await sign_out(page)

    await sign_in(page, "agent", NEW_PASSWORD)
    assert page.url.endswith("/board")
    assert await page.locator("[data-testid=board]").is_visible()
    await sign_out(page)

    await sign_in(page, "agent", "kefu-agent")
    assert "/login" in page.url
    assert await page.locator(".flash-error").inner_text() == REFUSED
    assert await page.locator("form[action='/logout']").count() == 0


async def test_after_an_admins_reset_the_agent_must_choose_a_new_password(new_page: Any) -> None:
    admin = await new_page()
    await sign_in(admin, "admin", "kefu-admin")
    await admin.goto("/admin/users")
    async with admin.expect_navigation():
        await admin.click("tr[data-user=agent] a")
    admin.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    await admin.click("[data-testid=reset-password]")
    temporary = admin.locator("[data-testid=temporary-password]")
    await temporary.wait_for()
    password = await temporary.input_value()
    assert len(password) == 19
    status = await admin.locator("[data-testid=user-status]").inner_text()
    assert "下次登录时必须设置新密码" in status

    agent = await new_page()
    await sign_in(agent, "agent", "kefu-agent")  # the old password stopped working at once
    assert await agent.locator(".flash-error").inner_text() == REFUSED

    await sign_in(agent, "agent", password)
    await agent.wait_for_load_state()
    assert agent.url.endswith("/account/password")
    must_change = agent.locator("[data-testid=must-change]")
    assert await must_change.inner_text() == "您的密码已被重置，请设置新密码后继续。"
    # The gated page loads nothing the gate would redirect (the bell, the live board): each
    # such redirect used to reload the page, over and over.
    assert await agent.locator("#bell").count() == 0
    assert await agent.locator("body[sse-connect]").count() == 0
    # Every other page leads back here until a new password is chosen.
    await agent.goto("/board")
    assert agent.url.endswith("/account/password")
    await agent.screenshot(path=screenshot_path("account-must-change"), full_page=True)

    await change_password(agent, password, NEW_PASSWORD, confirm="Moon-river-8128")
    error = agent.locator(".field-error[data-field=confirm]")
    assert await error.inner_text() == "两次输入的密码不一致。"

    await change_password(agent, password, NEW_PASSWORD)
    assert agent.url.endswith("/board")
    assert await agent.locator("[data-testid=board]").is_visible()
    await sign_out(agent)
    await sign_in(agent, "agent", password)
    assert await agent.locator(".flash-error").inner_text() == REFUSED
    await sign_in(agent, "agent", NEW_PASSWORD)
    assert agent.url.endswith("/board")
