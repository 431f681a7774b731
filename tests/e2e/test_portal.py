"""The customer portal in a real browser: answers while typing, submitting, tracking."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.knowledge import kb
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

REFUND_TITLE = "如何申请退货退款"
QUESTION = "我想申请退货退款，请问怎么操作？订单已经签收了"


async def _publish_articles(db: Database) -> int:
    """Two published articles written by the lead through the KB service; returns the match."""
    async with unit_of_work(db) as s:
        user = await s.scalar(select(User).where(User.username == "lead"))
        assert user is not None
        lead = Actor(
            user_id=user.id, label=user.username, role=Role.LEAD, department_id=user.department_id
        )
        refund = await kb.create_article(
            s,
            lead,
            kb.ArticleInput(
                title=REFUND_TITLE,
                body="签收后 7 天内可以申请退货退款：在“我的订单”中选择订单，点击“申请退货退款”，"
                "填写原因并寄回商品。退款在仓库收货后 3 个工作日内原路退回。",
            ),
            publish=True,
        )
        await kb.create_article(
            s,
            lead,
            kb.ArticleInput(
                title="如何修改登录密码",
                body="打开“账号设置”，选择“安全”，点击“修改密码”，输入旧密码和新密码即可。",
            ),
            publish=True,
        )
        return refund.id


async def test_visitor_sees_answers_while_typing_submits_and_tracks_the_inquiry(
    db: Database, page: Any
) -> None:
    refund_id = await _publish_articles(db)

    await page.goto("/portal")
    suggestions = page.locator("#suggestions")
    await expect(suggestions).to_contain_text("开始描述您的问题")
    await expect(suggestions.locator(".suggestion")).to_have_count(0)

    await page.fill("input[name=name]", "李娜")
    await page.fill("input[name=phone]", "13912345678")
    await page.locator("#description").press_sequentially(QUESTION, delay=20)

    # htmx asked for answers while typing: the matching article comes first.
    first = suggestions.locator(".suggestion").first
    await expect(first.locator("h3")).to_have_text(REFUND_TITLE)
    await expect(first.locator("input[name=article_id]")).to_have_value(str(refund_id))
    assert await page.input_value("#description") == QUESTION  # the form was not swapped
    await page.screenshot(path=screenshot_path("portal-suggestions"), full_page=True)

    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("#portal-form button[type=submit]")

    # The receipt: the inquiry number and the tracking link to keep.
    async with db.sessionmaker() as s:
        ticket = await s.scalar(select(Ticket).where(Ticket.description == QUESTION))
    assert ticket is not None
    assert ticket.channel is Channel.PORTAL and ticket.status is TicketStatus.PENDING
    assert "new=1" in page.url
    created = page.locator(".created-note")
    await expect(created).to_contain_text("我们已收到您的咨询")
    await expect(page.locator(".track-head h2")).to_have_text(ticket.number)
    link = await page.input_value(".tracking-link input")
    assert link.startswith("http://127.0.0.1:") and "/portal/t/" in link
    await page.screenshot(path=screenshot_path("portal-receipt"), full_page=True)

    # The link alone opens the tracking page (cookies cleared, like on another device).
    await page.context.clear_cookies()
    await page.goto(link)
    await expect(page.locator(".created-note")).to_have_count(0)
    await expect(page.locator(".track-head h2")).to_have_text(ticket.number)
    await expect(page.locator(".status-pill")).to_have_text("待处理")
    await expect(page.locator(".track-question")).to_have_text(QUESTION)
