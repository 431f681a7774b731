"""A lead merges a possible duplicate from its banner in a real browser: the confirmation names
both records, the merge lands on the kept record with the moved ticket in its history, and the
old record's page leads there."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.customer import Customer
from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.tickets import intake
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

PORTAL = Actor.system("portal")


async def _inquiry(db: Database, name: str, description: str) -> None:
    async with unit_of_work(db) as s:
        await intake.register_inquiry(
            s,
            PORTAL,
            intake.InquiryInput(
                description=description,
                channel=Channel.PORTAL.value,
                name=name,
                phone="13800138000",
                allowed_channels=(Channel.PORTAL,),
                match_names=True,
            ),
        )


async def test_a_lead_merges_a_possible_duplicate_from_the_banner(db: Database, page: Any) -> None:
    await _inquiry(db, "王晓明", "退款什么时候到账？")
    await _inquiry(db, "王小明", "发票抬头写错了，请重开。")
    async with db.sessionmaker() as s:
        wang, dup = (await s.scalars(select(Customer).order_by(Customer.id))).all()
    assert dup.duplicate_of_id == wang.id

    await sign_in(page, "lead", "kefu-lead")
    await page.goto(f"/customers/{dup.id}")
    banner = page.locator("[data-testid=duplicate-mark]")
    await expect(banner).to_contain_text("不是同一人")
    await banner.locator("[data-testid=merge-into-duplicate]").click()
    confirm = page.locator("[data-testid=merge-confirm]")
    await expect(confirm).to_contain_text(dup.number)
    await expect(confirm).to_contain_text(wang.number)
    await expect(confirm).to_contain_text("王小明")
    await expect(confirm).to_contain_text("王晓明")
    await page.screenshot(path=screenshot_path("customer-merge-confirm"), full_page=True)
    async with page.expect_navigation(url=f"**/customers/{wang.id}"):
        await confirm.locator("[data-testid=merge-submit]").click()
    await expect(page.locator("h1")).to_have_text("王晓明")
    await expect(page.locator(".history")).to_contain_text("发票抬头写错了")
    await expect(page.locator("[data-testid=duplicate-mark]")).to_have_count(0)
    await page.goto(f"/customers/{dup.id}")
    assert page.url.endswith(f"/customers/{wang.id}")
    await expect(page.locator("h1")).to_have_text("王晓明")
    async with db.sessionmaker() as s:
        merged = await s.get(Customer, dup.id)
    assert merged is not None and merged.merged_into_id == wang.id
