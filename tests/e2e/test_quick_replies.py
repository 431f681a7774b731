"""Quick replies (快捷回复) and macros (宏) in a real browser: typing "/" in the drawer's
follow-up box opens the list, choosing a reply inserts its text with this ticket's customer
name; a macro from the drawer's menu moves the ticket and records its reply, and a refused
one leaves the drawer as it was with the reason in the flash area."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Priority, TicketStatus
from models.followup import FollowUp
from models.macro import Macro
from models.quick_reply import QuickReply
from models.services.replies import starter
from models.ticket import Ticket
from tests.e2e.conftest import screenshot_path, sign_in
from tests.integration.sla.test_sla_helpers import make_ticket, move

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def _ticket_in_progress(db: Database, reference: dict[str, int]) -> Ticket:
    async with unit_of_work(db) as s:
        await starter.seed_starter(s)
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS)
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, tid)
        assert row is not None
        return row


async def test_slash_opens_quick_replies_and_inserts_the_filled_text(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket = await _ticket_in_progress(db, reference)
    page = await new_page()
    await page.set_viewport_size({"width": 1366, "height": 900})
    await sign_in(page, "agent", "kefu-agent")
    await page.goto(f"/tickets/{ticket.id}")
    box = page.locator("textarea[name=discussed]")
    await box.click()
    await box.press_sequentially("已电话联系。/退款")
    popup = page.locator("[data-testid=quick-reply-popup]").first
    await expect(popup).to_be_visible()
    await expect(popup.locator("[role=option]")).to_have_count(1)
    await expect(popup.locator("[role=option]").first).to_contain_text("退款进度")
    await page.screenshot(path=screenshot_path("quick-replies-popup-zh-1366"))
    await box.press("Enter")
    await expect(popup).to_be_hidden()
    await expect(box).to_have_value(re.compile("^已电话联系。李娜您好，您在工单 " + ticket.number))
    value = await box.input_value()
    assert "{{" not in value and "/退款" not in value and "王小明" in value

    # The keyboard moves through several matches; Esc closes without inserting.
    await box.fill("")
    await box.press_sequentially("/")
    await expect(popup.locator("[role=option]")).to_have_count(8)
    await box.press("ArrowDown")
    await expect(popup.locator("[aria-selected=true]")).to_have_count(1)
    await expect(popup.locator("[role=option]").nth(1)).to_have_attribute("aria-selected", "true")
    await box.press("Escape")
    await expect(popup).to_be_hidden()
    assert await box.input_value() == "/"

    # The mouse picks one too, and each use is counted.
    await box.press_sequentially("wl")
    await expect(popup.locator("[role=option]")).to_have_count(1)
    await expect(popup.locator("[role=option]")).to_contain_text("物流查询")
    await popup.locator("[role=option]").first.click()
    await expect(box).to_have_value(re.compile("^李娜您好，您的包裹已发出"))
    async with db.sessionmaker() as s:
        used = dict((await s.execute(select(QuickReply.title, QuickReply.usage_count))).all())
    assert used["退款进度"] == 1 and used["物流查询"] == 1

    # Narrow screen, English.
    page_en = await new_page("en-US")
    await page_en.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page_en, "agent", "kefu-agent")
    await page_en.goto(f"/tickets/{ticket.id}")
    box_en = page_en.locator("textarea[name=discussed]")
    await box_en.click()
    await box_en.press_sequentially("/sorry")
    await expect(
        page_en.locator("[data-testid=quick-reply-popup] [role=option]").first
    ).to_contain_text("Apology")
    await page_en.screenshot(path=screenshot_path("quick-replies-popup-en-390"))
    await box_en.press("Enter")
    await expect(box_en).to_have_value(re.compile("^Dear 李娜, we are sorry"))


async def test_a_macro_from_the_drawer_applies_all_or_nothing(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ticket = await _ticket_in_progress(db, reference)
    page = await new_page()
    await page.set_viewport_size({"width": 1366, "height": 900})
    await sign_in(page, "agent", "kefu-agent")
    await page.goto(f"/tickets/{ticket.id}")
    await page.locator("[data-testid=macro-menu] summary").click()
    button = page.locator("[data-testid=macro-apply]", has_text="已解决待确认")
    await expect(button).to_be_visible()
    await button.scroll_into_view_if_needed()
    await page.screenshot(path=screenshot_path("macro-menu-zh-1366"))
    await button.click()

    await expect(page.locator("[data-testid=drawer-status]")).to_have_text("待确认")
    await expect(page.locator("[data-testid=timeline]")).to_contain_text(
        f"李娜您好，您的问题（{ticket.number}）已处理完毕"
    )
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, ticket.id)
        assert row is not None and row.status is TicketStatus.AWAITING_CONFIRMATION
        replies = list(await s.scalars(select(FollowUp).where(FollowUp.ticket_id == ticket.id)))
        assert [f.visible_to_customer for f in replies] == [True]

    # Escalating is allowed in any state; the same "resolved" macro again is refused whole.
    # (A 409 from the drawer reloads it, as for any refused drawer edit.)
    await page.locator("[data-testid=macro-menu] summary").click()
    async with page.expect_response(lambda r: r.url.endswith(f"/tickets/{ticket.id}")):
        await page.locator("[data-testid=macro-apply]", has_text="已解决待确认").click()
    flash = page.locator("#flash")
    await expect(flash).to_contain_text("已解决待确认")
    await expect(flash).to_contain_text("状态")
    await page.screenshot(path=screenshot_path("macro-refused-zh-1366"))
    await expect(page.locator("[data-testid=drawer-status]")).to_have_text("待确认")
    async with db.sessionmaker() as s:
        assert (
            len(list(await s.scalars(select(FollowUp).where(FollowUp.ticket_id == ticket.id)))) == 1
        )
        counts = dict((await s.execute(select(Macro.name, Macro.usage_count))).all())
    assert counts["已解决待确认"] == 1

    # The refused macro reloads the drawer (and a live refresh may follow): a menu opened
    # while it reloads is replaced closed, so open it again until the button can be pressed.
    for attempt in range(5):
        await page.locator("[data-testid=macro-menu] summary").click()
        try:
            await page.locator("[data-testid=macro-apply]", has_text="升级投诉").click(timeout=3000)
            break
        except PlaywrightTimeout:
            assert attempt < 4, "the macro menu never stayed open"
    await expect(page.locator("[data-testid=timeline]")).to_contain_text("已升级为投诉处理")
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, ticket.id)
        assert row is not None and row.priority is Priority.URGENT


async def test_the_replies_page_at_both_widths_and_languages(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    async with unit_of_work(db) as s:
        await starter.seed_starter(s)
    for locale, width in (("zh-CN", 1366), ("en-US", 390), ("zh-CN", 390), ("en-US", 1366)):
        page = await new_page(locale)
        await page.set_viewport_size({"width": width, "height": 900})
        await sign_in(page, "lead", "kefu-lead")
        await page.goto("/replies")
        await expect(page.locator("[data-testid=replies] tbody tr")).to_have_count(8)
        tag = "zh" if locale == "zh-CN" else "en"
        await page.screenshot(path=screenshot_path(f"replies-{tag}-{width}"), full_page=True)
        await page.goto("/replies?tab=macros")
        await expect(page.locator("[data-testid=macros] tbody tr")).to_have_count(2)
        await page.screenshot(path=screenshot_path(f"macros-{tag}-{width}"), full_page=True)
    # A lead adds a team reply through the form; an unknown variable is shown on the field.
    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/replies/new?scope=team")
    form = page.locator("[data-testid=reply-form]")
    await form.locator("input[name=title]").fill("发票")
    await form.locator("textarea[name=body]").fill("{{客户姓名}}您好，发票 {{invoice}} 已开具。")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#flash")).to_contain_text("未知变量 {{invoice}}")
    await page.screenshot(path=screenshot_path("reply-unknown-variable-zh-1366"))
    await form.locator("textarea[name=body]").fill("{{客户姓名}}您好，发票已开具。")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=replies]")).to_contain_text("发票")
