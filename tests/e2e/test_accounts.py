"""Staff accounts in a real browser: deactivation bounces an open board; TOTP sign-in."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from playwright.async_api import expect

from models.services.admin import twofactor
from tests.e2e.conftest import screenshot_path, sign_in, texts_broken_over_lines

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_deactivating_a_user_bounces_their_open_board_to_the_login(new_page: Any) -> None:
    agent = await new_page()
    await sign_in(agent, "agent", "kefu-agent")
    assert agent.url.endswith("/board")

    admin = await new_page()
    await sign_in(admin, "admin", "kefu-admin")
    await admin.goto("/admin/users")
    assert await admin.locator("tr[data-user=agent]").is_visible()
    await admin.screenshot(path=screenshot_path("admin-users"), full_page=True)
    async with admin.expect_navigation():
        await admin.click("tr[data-user=agent] a")
    admin.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    await admin.click("[data-testid=deactivate]")
    status = admin.locator("[data-testid=user-status]")
    await status.locator("[data-testid=activate]").wait_for()
    assert "已停用" in await status.inner_text()

    # The agent's next action, in the board they still have open, lands on the login page.
    async with agent.expect_navigation():
        await agent.click("nav a[href='/customers']")
    assert "/login" in agent.url
    assert await agent.locator("input[name=password]").is_visible()


async def test_totp_enrolment_then_sign_in_with_a_code(page: Any) -> None:
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/account")
    async with page.expect_navigation():
        await page.click("a[href='/account/2fa']")
    assert await page.locator(".qr svg").is_visible(), "the QR code is drawn by the server"
    secret = (await page.locator("[data-testid=totp-secret]").inner_text()).strip()
    await page.screenshot(path=screenshot_path("2fa-enrol"), full_page=True)

    await page.fill("input[name=code]", "000000")
    async with page.expect_navigation():
        await page.click("form.form button[type=submit]")
    assert "验证码不正确" in await page.locator(".field-error").inner_text()

    await page.fill("input[name=code]", pyotp.TOTP(secret).now())
    async with page.expect_navigation():
        await page.click("form.form button[type=submit]")
    codes = page.locator("[data-testid=recovery-codes] li")
    assert await codes.count() == twofactor.RECOVERY_CODES

    async with page.expect_navigation():
        await page.click("form[action='/logout'] button")
    await sign_in(page, "lead", "kefu-lead")
    assert page.url.endswith("/login/code"), "the password alone does not sign in"
    # The next step's code: the current one was spent on enrolment.
    await page.fill("input[name=code]", pyotp.TOTP(secret).at(time.time() + 30))
    async with page.expect_navigation():
        await page.click("form.form button[type=submit]")
    assert page.url.endswith("/board")
    assert await page.locator("[data-testid=board]").is_visible()


async def test_the_sign_in_page_names_the_demo_logins_on_a_demo_install(
    page: Any, new_page: Any
) -> None:
    await page.goto("/login")
    demo = page.locator("[data-testid=demo-logins]")
    assert await demo.is_visible()
    text = await demo.inner_text()
    assert "kefu-admin" in text and "演示" in text
    await page.screenshot(path=screenshot_path("login-demo"), full_page=True)
    # On a phone each password stays on one line ("kefu-" over "admin" reads as two things).
    english = await new_page("en")
    await english.set_viewport_size({"width": 390, "height": 844})
    await english.goto("/login")
    await expect(english.locator("[data-testid=demo-logins]")).to_contain_text("kefu-admin")
    assert await texts_broken_over_lines(english, "[data-testid=demo-logins] td") == []
