"""Auto-assignment in the browser: the duty switch in the top bar, the lead's settings form
(a refused cap, then a saved one) and who is on duty."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.assignment_settings import AssignmentSettings
from models.db import Database, unit_of_work
from models.user import User
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_a_lead_goes_on_duty_and_turns_auto_assignment_on(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    async with unit_of_work(db) as s:
        lead = await s.scalar(select(User).where(User.username == "lead"))
        assert lead is not None
        lead.on_duty = False
    await sign_in(page, "lead", "kefu-lead")
    duty = page.locator("[data-testid=duty]")
    await expect(duty.locator("[data-testid=duty-state]")).to_have_text("已下班")
    await duty.locator("[data-testid=duty-toggle]").click()
    await expect(page.locator("[data-testid=duty-state]")).to_have_text("上班中")

    await page.goto("/admin/assignment")
    section = page.locator("[data-testid=assignment-SUPPORT]")
    await expect(section.locator("[data-testid=on-duty-list]")).to_contain_text("陈主管")
    await section.locator("input[name=enabled]").check()
    await section.locator("select[name=strategy]").select_option("least_open")
    await section.locator("input[name=cap]").fill("0")
    await section.locator("button[type=submit]").click()
    await expect(page.locator("#flash")).to_contain_text("请输入1到200之间的整数")
    async with db.sessionmaker() as s:
        assert await s.scalar(select(AssignmentSettings)) is None

    await section.locator("input[name=cap]").fill("3")
    await section.locator("button[type=submit]").click()
    section = page.locator("[data-testid=assignment-SUPPORT]")
    await expect(section).to_contain_text("自动分派设置已保存")
    await page.screenshot(path=screenshot_path("auto-assignment-settings"))
    async with db.sessionmaker() as s:
        row = await s.scalar(select(AssignmentSettings))
        on = await s.scalar(select(User.on_duty).where(User.username == "lead"))
    assert row is not None and (row.enabled, row.strategy, row.cap) == (True, "least_open", 3)
    assert on is True
    # Another department is shown read-only to this lead.
    await expect(page.locator("[data-testid=assignment-TECH] form")).to_have_count(0)
