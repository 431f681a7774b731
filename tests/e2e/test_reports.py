"""A lead opens the problem summary after new inquiries: the figures come at once, the most
frequent problems follow in place (working them out is the slow part), and are shown at once
on the next visit. In a real browser, in zh-CN at 1366 px and in English at 390 px."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, RequestType
from models.services.admin import users
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.user import User
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

WORDED = ("快递显示已签收但没收到", "快递显示已签收，我没收到包裹", "快递已签收可是没收到")


async def test_the_summary_shows_its_figures_first_and_its_topics_right_after(
    db: Database, redis: Any, new_page: Any
) -> None:
    system = Actor.system("e2e")
    async with unit_of_work(db) as s:
        person = await s.scalar(select(User).where(User.username == "lead"))
        assert person is not None
        lead = users.actor_for(person)
        customer = await registry.register(
            s, system, registry.CustomerInput(name="王芳", phone="13900001111")
        )
        for text in WORDED:
            ticket, _ = await commands.create(
                s,
                system,
                commands.TicketInput(
                    customer_id=customer.id, description=text, channel=Channel.PHONE
                ),
            )
            await commands.change_type(
                s, lead, ticket.id, RequestType.PROBLEM, expected_version=None
            )
    for locale, width in (("zh-CN", 1366), ("en", 390)):
        page = await new_page(locale)
        await page.set_viewport_size({"width": width, "height": 900})
        await sign_in(page, "lead", "kefu-lead")
        await page.goto("/reports/")
        topics = page.locator(".topic-grid")
        label = topics.locator(".topic-label").first
        await expect(label).to_contain_text("收到")
        await expect(page.locator("[data-testid=topics-loading]")).to_have_count(0)
        await expect(topics.locator(".topic-count").first).to_contain_text("3")
        heading = "问题汇总" if locale == "zh-CN" else "Problem summary"
        await expect(page.locator("h1")).to_contain_text(heading)
        await page.screenshot(path=screenshot_path(f"reports-summary-{width}"), full_page=True)
        # Known now: the next visit's page carries them itself.
        response = await page.request.get("/reports/")
        assert "topic-label" in await response.text()
