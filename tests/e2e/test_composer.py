"""In a real browser: the drawer's one composer sends a reply by email (to the loopback SMTP
server) or onto the tracking page, an internal note stays off the tracking page, inline fields
save on change (an invalid value is refused on the field), and two people on one ticket see
each other replying; a reply sent meanwhile holds the second send until confirmed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, Priority
from models.services.common.actor import Actor
from models.services.tickets import commands, intake
from models.ticket import Ticket
from tests.conftest import run_worker_burst
from tests.e2e.conftest import screenshot_path, sign_in
from tests.integration.mail.test_reply_delivery import CUSTOMER, _customer_ticket
from tests.integration.mail_support import make_smtp_mailbox
from tests.integration.sla.test_sla_helpers import make_ticket
from tests.mailservers import free_port, running_smtp

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")


async def _portal_ticket(db: Database, reference: dict[str, int]) -> tuple[int, str]:
    """A portal inquiry with its tracking link, routed to support."""
    async with unit_of_work(db) as s:
        result = await intake.register_inquiry(
            s,
            SYSTEM,
            intake.InquiryInput(
                description="我的包裹三天了还没有发货，请帮忙查询。",
                channel=Channel.PORTAL.value,
                name="林小姐",
                phone="13800138333",
                allowed_channels=(Channel.PORTAL,),
                with_tracking_link=True,
            ),
        )
        ticket = await commands.route_new(
            s, SYSTEM, result.ticket, department_id=reference["SUPPORT"]
        )
    assert result.tracking_token
    return ticket.id, result.tracking_token


async def _row(db: Database, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        row = await s.scalar(select(Ticket).where(Ticket.id == ticket_id))
        assert row is not None
        return row


async def test_a_reply_by_email_reaches_the_smtp_server(
    db: Database, redis: Any, page: Any
) -> None:
    _, ticket_id = await _customer_ticket(db, redis)
    port = free_port()
    await make_smtp_mailbox(db, port)
    await sign_in(page, "lead", "kefu-lead")
    await page.goto(f"/tickets/{ticket_id}")
    composer = page.get_by_test_id("form-composer")
    await expect(composer.get_by_test_id("composer-route")).to_have_text(
        "将通过邮件发送至 h***@customer.example"
    )
    await composer.locator("#composer-body").fill("您好，新的发票已经开具，请查收。")
    await composer.get_by_test_id("composer-record").locator("summary").click()
    await composer.locator("textarea[name=next_step]").fill("三天后回访")
    await composer.get_by_test_id("composer-record").scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshot_path("composer-email-zh-1366")))
    with running_smtp(port=port) as smtp:
        await composer.get_by_test_id("composer-send").click()
        await expect(page.get_by_test_id("reply-delivery")).to_contain_text("排队中")
        await run_worker_burst()
        assert len(smtp.to(CUSTOMER)) == 1
    await page.reload()
    await expect(page.get_by_test_id("reply-delivery")).to_contain_text("已发送")
    await expect(page.get_by_test_id("timeline")).to_contain_text("三天后回访")


async def test_a_portal_reply_is_on_the_tracking_page_and_a_note_is_not(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket_id, token = await _portal_ticket(db, reference)
    lead = await new_page()
    await sign_in(lead, "lead", "kefu-lead")
    await lead.goto(f"/tickets/{ticket_id}")
    composer = lead.get_by_test_id("form-composer")
    await expect(composer.get_by_test_id("composer-route")).to_have_text("客户将在查询页看到此回复")
    await composer.locator("#composer-body").fill("您好，包裹已于今天发出。")
    await composer.get_by_test_id("composer-send").click()
    await expect(lead.get_by_test_id("timeline")).to_contain_text("您好，包裹已于今天发出。")

    composer = lead.get_by_test_id("form-composer")
    await composer.get_by_test_id("kind-note").check()
    await expect(composer.get_by_test_id("composer-route")).to_be_hidden()
    await expect(composer.get_by_test_id("composer-route-note")).to_be_visible()
    await composer.locator("#composer-body").fill("内部备注：仓库说明天补发")
    await lead.screenshot(path=str(screenshot_path("composer-note-zh-1366")))
    await composer.get_by_test_id("composer-send").click()
    await expect(lead.get_by_test_id("timeline")).to_contain_text("仓库说明天补发")

    customer = await new_page()
    await customer.goto(f"/portal/t/{token}")
    await expect(customer.locator("body")).to_contain_text("您好，包裹已于今天发出。")
    await expect(customer.locator("body")).not_to_contain_text("仓库说明天补发")


async def test_inline_fields_save_on_change_and_refuse_on_the_field(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    tid = await make_ticket(db, reference, assignee=None, text="打印机无法连接网络。")
    for locale, saved, refused in (
        ("zh-CN", "已保存", "请选择"),
        ("en", "Saved", "Choose a value"),
    ):
        page = await new_page(locale)
        await sign_in(page, "agent", "kefu-agent")
        await page.goto(f"/tickets/{tid}")
        assign = page.get_by_test_id("form-assign")
        if locale == "zh-CN":
            await expect(assign.locator("select option").first).to_have_text("指派给我")
            await assign.locator("select").select_option("me")
            await expect(page.get_by_test_id("saved-assignee_id")).to_contain_text(saved)
            await expect(page.locator("#drawer-assignee-fact")).to_contain_text("王小明")
        priority = page.get_by_test_id("form-priority").locator("select")
        await priority.select_option("urgent" if locale == "zh-CN" else "high")
        await expect(page.get_by_test_id("saved-priority")).to_contain_text(saved)
        before = (await _row(db, tid)).version
        # A value the server does not know (a stale or tampered page): refused on the field.
        await (
            page.get_by_test_id("form-priority")
            .locator("select")
            .evaluate(
                "s => { const o = document.createElement('option'); o.value = 'sky-high';"
                " o.textContent = '?'; s.append(o); }"
            )
        )
        await page.get_by_test_id("form-priority").locator("select").select_option("sky-high")
        error = page.get_by_test_id("error-priority")
        await expect(error).to_contain_text(refused)
        await expect(page.get_by_test_id("form-priority").locator("select")).to_have_attribute(
            "aria-invalid", "true"
        )
        assert (await _row(db, tid)).version == before
        for width in (1366, 390):
            await page.set_viewport_size({"width": width, "height": 900})
            await page.get_by_test_id("form-priority").scroll_into_view_if_needed()
            await page.screenshot(path=str(screenshot_path(f"inline-{locale}-{width}")))
    row = await _row(db, tid)
    assert row.priority is Priority.HIGH and row.assignee_id is not None


async def test_two_people_on_one_ticket_see_each_other_and_the_held_send(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket_id, _ = await _portal_ticket(db, reference)
    agent = await new_page()
    await sign_in(agent, "agent", "kefu-agent")
    lead = await new_page("en")
    await sign_in(lead, "lead", "kefu-lead")
    await agent.goto(f"/tickets/{ticket_id}")
    await lead.goto(f"/tickets/{ticket_id}")

    await lead.locator("#composer-body").press_sequentially("We are checking with the warehouse")
    notice = agent.get_by_test_id("collision-notice")
    await expect(notice).to_have_text("陈主管 Chen (lead) 正在回复此工单", timeout=15000)
    await expect(lead.get_by_test_id("collision-notice")).to_have_count(0)
    await agent.set_viewport_size({"width": 390, "height": 844})
    await agent.get_by_test_id("composer").scroll_into_view_if_needed()
    await agent.screenshot(path=str(screenshot_path("collision-zh-390")))

    await agent.locator("#composer-body").fill("您好，包裹明天发出。")
    await agent.get_by_test_id("composer-send").click()
    await expect(agent.get_by_test_id("timeline")).to_contain_text("您好，包裹明天发出。")

    await lead.get_by_test_id("composer-send").click()
    held = lead.get_by_test_id("composer-held")
    await expect(held).to_contain_text("王小明 Wang (agent) already replied at")
    await expect(lead.locator("#composer-body")).to_have_value("We are checking with the warehouse")
    await lead.screenshot(path=str(screenshot_path("held-en-1440")))
    await lead.set_viewport_size({"width": 390, "height": 844})
    await held.scroll_into_view_if_needed()
    await lead.screenshot(path=str(screenshot_path("held-en-390")))
    await held.get_by_test_id("send-anyway").click()
    await expect(lead.get_by_test_id("timeline")).to_contain_text(
        "We are checking with the warehouse"
    )
    await expect(lead.get_by_test_id("composer-held")).to_have_count(0)
