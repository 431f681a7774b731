"""The satisfaction survey in a real browser: rate, comment, thanks; the link works once."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands, surveys
from models.survey import Survey
from models.user import User
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")
COMMENT = "客服回复很快，问题当天就解决了"


async def _completed_ticket_with_survey(db: Database) -> tuple[int, str, str]:
    """A ticket taken, handled and completed by the lead; completing it issues the survey."""
    async with unit_of_work(db) as s:
        user = await s.scalar(select(User).where(User.username == "lead"))
        assert user is not None
        lead = Actor(
            user_id=user.id, label=user.username, role=Role.LEAD, department_id=user.department_id
        )
        customer = await registry.register(
            s, SYSTEM, registry.CustomerInput(name="满意度客户", phone="13700000000")
        )
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer.id,
                description="发票抬头开错了，需要重开",
                channel=Channel.PHONE,
            ),
        )
        for target in (
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
        ):
            await commands.move(
                s,
                lead,
                ticket.id,
                target,
                expected_version=None,
                resolution="已为您重开发票并发送到邮箱",
            )
        ticket_id, number = ticket.id, ticket.number
    async with db.sessionmaker() as s:
        link = await surveys.link_for_ticket(s, ticket_id)
    assert link is not None and link.startswith("/survey/")
    return ticket_id, number, link


async def test_customer_rates_the_service_once(db: Database, page: Any) -> None:
    ticket_id, number, link = await _completed_ticket_with_survey(db)

    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("我们做得怎么样？")
    await expect(page.locator(".survey-intro")).to_contain_text(number)
    legends = await page.locator("fieldset.scale legend").all_inner_texts()
    assert legends == ["响应速度", "解决方案", "服务态度"]
    # Big tap targets across the card, the scale's meaning underneath.
    options = await page.locator(".scale-options").first.bounding_box()
    ends = await page.locator(".scale-ends").first.bounding_box()
    card = await page.locator("section.survey").bounding_box()
    assert options is not None and ends is not None and card is not None
    assert ends["y"] >= options["y"] + options["height"] - 1
    assert options["width"] > card["width"] * 0.8

    for name, score in (("speed", 5), ("solution", 4), ("attitude", 3)):
        await page.locator(f"input[name={name}][value='{score}']").check()
    await page.fill("textarea[name=comment]", COMMENT)
    await page.screenshot(path=screenshot_path("survey-form"), full_page=True)
    async with page.expect_navigation():
        await page.click("button.survey-submit")

    await expect(page.locator(".survey-done h1")).to_have_text("感谢您的反馈！")
    await page.screenshot(path=screenshot_path("survey-thanks"), full_page=True)

    async with db.sessionmaker() as s:
        row = await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    assert row is not None and row.submitted_at is not None
    assert (row.speed_score, row.solution_score, row.attitude_score) == (5, 4, 3)
    assert row.comment == COMMENT
    assert row.suggestion is None and row.contact is None

    # The link is single-use: opening it again says so, and offers no form.
    response = await page.goto(link)
    assert response is not None and response.status == 409
    await expect(page.locator(".survey-done h1")).to_have_text("该问卷已经提交过了，感谢您的参与！")
    await expect(page.locator("form.survey-form")).to_have_count(0)
    async with db.sessionmaker() as s:
        again = await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    assert again is not None and again.submitted_at == row.submitted_at
