"""A form submitted twice is one inquiry, in a real browser: the portal form sent, Back,
sent again; a double click on submit; the same for the staff intake form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from models.db import Database
from models.ticket import Ticket
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

TEXT = "快递显示已签收，但我没有收到包裹，麻烦查一下。"


async def tickets(db: Database) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)


async def fill_portal(page: Any) -> None:
    await page.fill("input[name=name]", "王先生")
    await page.fill("input[name=phone]", "13912340000")
    await page.fill("#description", TEXT)


async def test_portal_back_and_submit_again_is_one_inquiry(db: Database, page: Any) -> None:
    await page.goto("/portal")
    await fill_portal(page)
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("#portal-form button[type=submit]")
    first_url = page.url
    assert await tickets(db) == 1
    await page.go_back()
    await page.wait_for_selector("#portal-form")
    if not await page.input_value("#description"):
        await fill_portal(page)  # the page came back empty: the customer types it again
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("#portal-form button[type=submit]")
    assert await tickets(db) == 1
    assert page.url.split("?")[0] == first_url.split("?")[0]
    await expect(page.locator(".created-note h1")).to_contain_text("我们已收到过这条咨询")


async def test_portal_double_click_is_one_inquiry(db: Database, page: Any) -> None:
    await page.goto("/portal")
    await fill_portal(page)
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.dblclick("#portal-form button[type=submit]")
    assert await tickets(db) == 1


async def test_intake_double_click_and_the_form_again_are_one_ticket(
    db: Database, page: Any
) -> None:
    async def fill() -> None:
        await page.fill("input[name=name]", "赵女士")
        await page.fill("input[name=phone]", "13912340001")
        await page.fill("textarea[name=description]", TEXT)

    await sign_in(page, "agent", "kefu-agent")
    await page.goto("/intake")
    await fill()
    await page.dblclick("#intake-form button[type=submit]")
    await expect(page.locator("body")).to_contain_text("TASK")
    assert await tickets(db) == 1
    # The form opened again (a fresh key) and the same inquiry typed again.
    await page.goto("/intake")
    await fill()
    await page.click("#intake-form button[type=submit]")
    await expect(page.locator("body")).to_contain_text("该咨询已登记过")
    assert await tickets(db) == 1
