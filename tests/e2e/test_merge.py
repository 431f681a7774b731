"""Merging a duplicate in the drawer, in a real browser: the number typed, a confirmation
naming both tickets, the primary's drawer after; the duplicate leaves the board and its
number opens the primary with a notice."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.ticket import Ticket
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")


async def two_tickets(db: Database) -> tuple[Ticket, Ticket]:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s, SYSTEM, registry.CustomerInput(name="周女士", phone="13800001111")
        )
        made = []
        for text in ("退款还没有到账。", "我的退款到现在还没到账！"):
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer.id, description=text, channel=Channel.ONLINE_CHAT
                ),
            )
            made.append(ticket)
    return made[0], made[1]


async def test_the_drawer_merges_a_duplicate_into_its_primary(db: Database, page: Any) -> None:
    primary, dup = await two_tickets(db)
    await sign_in(page, "lead", "kefu-lead")
    await expect(page.locator(f"#card-{dup.id}")).to_have_count(1)
    await page.click(f"[data-testid=open-{dup.id}]")
    drawer = page.locator("[data-testid=drawer]")
    merge_form = drawer.locator("[data-testid=form-merge]")
    # Into itself: refused, in Chinese, nothing merged.
    await merge_form.locator("input[name=number]").fill(dup.number)
    await merge_form.locator("button[type=submit]").click()
    await expect(page.locator("#flash")).to_contain_text("工单不能合并到自身")
    await merge_form.locator("input[name=number]").fill(primary.number)
    await merge_form.locator("button[type=submit]").click()
    confirm = drawer.locator("[data-testid=merge-confirm]")
    await expect(confirm).to_contain_text(f"将 {dup.number} 合并到 {primary.number}")
    await page.screenshot(path=screenshot_path("merge-confirm"), full_page=True)
    await confirm.locator("button[type=submit]").click()
    await expect(drawer.locator("#drawer-title")).to_contain_text(primary.number)
    await expect(drawer).to_contain_text(f"由 {dup.number} 合并而来")
    # The duplicate left the board; its number opens the primary, with the notice.
    await page.goto("/board")
    await expect(page.locator(f"#card-{primary.id}")).to_have_count(1)
    await expect(page.locator(f"#card-{dup.id}")).to_have_count(0)
    await page.goto(f"/tickets/{dup.id}")
    await expect(page.locator("[data-testid=merged-notice]")).to_contain_text(
        f"{dup.number} 已合并到 {primary.number}"
    )
