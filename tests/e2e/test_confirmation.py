"""Issue 15 items 2 and 3 in a real browser: the customer answers the proposed solution on
their tracking page ("未解决" with a reason sends it back to 处理中; "已解决" completes it and
the survey is filled right there), and staff copy the survey link from the drawer."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, FollowUpMethod, Role, TicketStatus
from models.followup import FollowUp
from models.services.common.actor import Actor
from models.services.tickets import commands, intake
from models.survey import Survey
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")
PROPOSAL = "已为您重新发送激活邮件，请查收后点击邮件中的链接完成激活。"
REASON = "还是没有收到激活邮件，垃圾箱里也没有。"


async def _portal_ticket(
    db: Database, reference: dict[str, int], *targets: TicketStatus
) -> tuple[int, str]:
    """A portal inquiry assigned to the agent, who proposed a solution visible to the
    customer; then taken through ``targets``."""
    async with unit_of_work(db) as s:
        agent = await s.scalar(select(User).where(User.username == "agent"))
        assert agent is not None
        result = await intake.register_inquiry(
            s,
            SYSTEM,
            intake.InquiryInput(
                description="账号一直收不到激活邮件。",
                channel=Channel.PORTAL.value,
                name="周先生",
                phone="13800138333",
                allowed_channels=(Channel.PORTAL,),
                with_tracking_link=True,
            ),
        )
        ticket = await commands.route_new(
            s, SYSTEM, result.ticket, department_id=reference["SUPPORT"]
        )
        as_agent = Actor(
            user_id=agent.id, label="agent", role=Role.AGENT, department_id=agent.department_id
        )
        await commands.assign(s, as_agent, ticket.id, agent.id, expected_version=None)
        await commands.move(s, as_agent, ticket.id, TicketStatus.IN_PROGRESS, expected_version=None)
        await commands.add_follow_up(
            s,
            as_agent,
            ticket.id,
            commands.FollowUpInput(
                method=FollowUpMethod.ONLINE_CHAT, discussed=PROPOSAL, visible_to_customer=True
            ),
        )
        for target in targets:
            await commands.move(
                s, as_agent, ticket.id, target, expected_version=None, resolution=PROPOSAL
            )
    assert result.tracking_token
    return ticket.id, result.tracking_token


async def _row(db: Database, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        return row


async def _survey(db: Database, ticket_id: int) -> Survey | None:
    async with db.sessionmaker() as s:
        return await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))


async def test_not_solved_with_a_reason_sends_the_ticket_back_to_work(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    ticket_id, token = await _portal_ticket(db, reference, TicketStatus.AWAITING_CONFIRMATION)
    await page.goto(f"/portal/t/{token}")
    await expect(page.locator(".status-pill")).to_have_text("待确认")
    await expect(page.locator("[data-testid=proposed-solution]")).to_have_text(PROPOSAL)
    await expect(page.locator("[data-testid=confirm-not-solved]")).to_have_text("未解决")
    await page.fill("[data-testid=confirm-reason]", REASON)
    await page.click("[data-testid=confirm-not-solved]")

    await expect(page.locator(".status-pill")).to_have_text("处理中")
    await expect(page.locator("#thread")).to_contain_text(REASON)
    await expect(page.locator("[data-testid=confirm]")).to_have_count(0)
    await page.screenshot(path=screenshot_path("confirm-not-solved"))
    row = await _row(db, ticket_id)
    assert row.status is TicketStatus.IN_PROGRESS
    assert row.customer_replied_at is not None
    async with db.sessionmaker() as s:
        last = await s.scalar(
            select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.id.desc())
        )
    assert last is not None and last.by_customer and last.discussed == REASON


async def test_solved_completes_it_and_the_survey_is_filled_on_the_page(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    ticket_id, token = await _portal_ticket(db, reference, TicketStatus.AWAITING_CONFIRMATION)
    await page.goto(f"/portal/t/{token}")
    await expect(page.locator("[data-testid=confirm-solved]")).to_have_text("已解决")
    await page.click("[data-testid=confirm-solved]")

    await expect(page.locator(".status-pill")).to_have_text("已完成")
    form = page.locator("[data-testid=tracking-survey]")
    await expect(form).to_be_visible()
    for name, score in (("speed", "5"), ("solution", "4"), ("attitude", "3")):
        await form.locator(f"input[name={name}][value='{score}']").check(force=True)
    await form.locator("textarea[name=comment]").fill("处理得很快")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator("main")).to_contain_text("感谢")

    row = await _row(db, ticket_id)
    assert row.status is TicketStatus.COMPLETED
    survey = await _survey(db, ticket_id)
    assert survey is not None and survey.submitted_at is not None
    assert (survey.speed_score, survey.solution_score, survey.attitude_score) == (5, 4, 3)
    assert survey.recorded_by_id is None
    # Back on the tracking page: thanked, no form any more.
    await page.goto(f"/portal/t/{token}")
    await expect(page.locator("[data-testid=survey-answered]")).to_be_visible()
    await expect(page.locator("[data-testid=tracking-survey]")).to_have_count(0)


async def test_staff_copy_the_survey_link_from_the_drawer(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket_id, _ = await _portal_ticket(
        db, reference, TicketStatus.AWAITING_CONFIRMATION, TicketStatus.COMPLETED
    )
    agent = await new_page()
    await agent.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(agent, "agent", "kefu-agent")
    await agent.goto(f"/tickets/{ticket_id}")
    button = agent.locator("[data-testid=copy-survey-link]")
    await expect(button).to_have_text("复制满意度链接")
    await button.click()

    field = agent.locator("[data-testid=survey-link-url]")
    await expect(field).to_have_value(re.compile(r"/survey/[A-Za-z0-9_-]+$"))
    await expect(agent.locator("[data-copied]")).to_be_visible()
    link = await field.input_value()
    copied = await agent.evaluate("() => navigator.clipboard.readText()")
    assert copied == link
    await agent.screenshot(path=screenshot_path("survey-link-copied"))

    # The customer opens the link they were sent (its path: the link names the configured
    # base URL, not this test server) and sees the survey.
    customer = await new_page()
    await customer.goto(urlparse(link).path)
    await expect(customer.locator("[data-testid=survey-form]")).to_be_visible()
