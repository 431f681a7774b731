"""A customer writes on the tracking page of a completed ticket: in a real browser, the
assignee's open board shows the card back in progress marked 客户新回复, live, and the bell
rings; opening the drawer clears the mark."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.tickets import commands, intake
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import screenshot_path, sign_in, texts_broken_over_lines
from tests.e2e.test_board_drag import SSE_READY_PROBE

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")
REFUND = "银行那边说没有收到这笔退款，麻烦再查一下！"


async def _completed_portal_ticket(db: Database, reference: dict[str, int]) -> tuple[int, str]:
    """A portal inquiry with its tracking link, assigned to the agent, taken to completed."""
    async with unit_of_work(db) as s:
        agent = await s.scalar(select(User).where(User.username == "agent"))
        lead = await s.scalar(select(User).where(User.username == "lead"))
        assert agent is not None and lead is not None
        result = await intake.register_inquiry(
            s,
            SYSTEM,
            intake.InquiryInput(
                description="我申请的退款还没有到账，请帮忙查询。",
                channel=Channel.PORTAL.value,
                name="林小姐",
                phone="13800138222",
                allowed_channels=(Channel.PORTAL,),
                with_tracking_link=True,
            ),
        )
        ticket = await commands.route_new(
            s, SYSTEM, result.ticket, department_id=reference["SUPPORT"]
        )
        as_lead = Actor(
            user_id=lead.id, label="lead", role=Role.LEAD, department_id=lead.department_id
        )
        # The agent takes it themself: an assignment by someone else would ring their bell.
        as_agent = Actor(
            user_id=agent.id, label="agent", role=Role.AGENT, department_id=agent.department_id
        )
        await commands.assign(s, as_agent, ticket.id, agent.id, expected_version=None)
        for target in (
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
        ):
            await commands.move(
                s, as_lead, ticket.id, target, expected_version=None, resolution="已退款。"
            )
    assert result.tracking_token
    return ticket.id, result.tracking_token


async def _row(db: Database, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        return row


async def test_a_customer_reply_reaches_the_assignee_live(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket_id, token = await _completed_portal_ticket(db, reference)

    # The assignee's board is open and listening before the customer writes.
    agent = await new_page()
    await agent.add_init_script(SSE_READY_PROBE)
    await sign_in(agent, "agent", "kefu-agent")
    await agent.wait_for_function("() => window.__sseReady > 0")
    card = agent.locator(f"#card-{ticket_id}")
    await expect(agent.locator(f"[data-testid=column-completed] #card-{ticket_id}")).to_be_visible()
    await expect(card.locator("[data-testid=customer-replied]")).to_have_count(0)
    await expect(agent.locator("[data-testid=bell-count]")).to_have_count(0)
    await agent.evaluate("window.__sameDocument = true")  # gone if the page reloaded

    # The customer, in another browser context, writes on their tracking page.
    customer = await new_page()
    await customer.goto(f"/portal/t/{token}")
    await customer.fill("[data-testid=info-text]", REFUND)
    await customer.click("[data-testid=info-send]")
    await expect(customer.locator("#thread")).to_contain_text(REFUND)

    # Live on the assignee's board: back in progress, marked, and the bell rings.
    moved = agent.locator(f"[data-testid=column-in_progress] #card-{ticket_id}")
    await expect(moved).to_be_visible()
    await expect(moved.locator("[data-testid=customer-replied]")).to_have_text("客户新回复")
    await expect(agent.locator("[data-testid=bell-count]")).to_have_text("1")
    assert await agent.evaluate("window.__sameDocument === true")
    await agent.screenshot(path=screenshot_path("customer-reply-marked"))

    # The bell's list names the ticket.
    await agent.goto("/notifications")
    number = (await _row(db, ticket_id)).number
    await expect(agent.locator("main")).to_contain_text(number)
    await expect(agent.locator("main")).to_contain_text(REFUND)
    # On a phone "标为已读" stays one line beside the text (it stood one character per line).
    await agent.set_viewport_size({"width": 390, "height": 844})
    await expect(agent.locator(".notification button").first).to_be_visible()
    assert await texts_broken_over_lines(agent, ".notification button") == []
    await agent.set_viewport_size({"width": 1440, "height": 900})

    # Opening the drawer shows the reply as new once and clears the mark.
    await agent.goto("/board")
    await agent.click(f"[data-testid=open-{ticket_id}]")
    await expect(agent.locator("[data-testid=drawer-customer-replied]")).to_be_visible()
    await expect(agent.locator("[data-testid=timeline]")).to_contain_text(
        "客户回复，工单已重新打开"
    )
    await expect(card.locator("[data-testid=customer-replied]")).to_have_count(0)
    row = await _row(db, ticket_id)
    assert row.customer_replied_at is None and row.status is TicketStatus.IN_PROGRESS

    # The customer's page now says it is being worked on again.
    await customer.reload()
    await expect(customer.locator(".status-pill")).to_have_text("处理中")
