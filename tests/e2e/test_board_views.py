"""A board that fits the day, in a real browser: state tabs on a phone, keyboard shortcuts,
bulk actions (assign, merge, and a move that is refused for some tickets), the default board."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import TicketStatus
from models.services.demo import seed
from models.services.tickets import board
from models.services.tickets.board import BoardFilters
from models.ticket import Ticket
from tests.e2e.conftest import screenshot_path, sign_in, texts_broken_over_lines
from tests.integration.tickets.test_board_helpers import actor, make_ticket
from tests.integration.tickets.test_board_views import same_customer_ticket

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def open_board(new_page: Any, username: str, password: str, **kw: Any) -> Any:
    page = await new_page(kw.get("locale", "zh-CN"))
    if "width" in kw:
        await page.set_viewport_size({"width": kw["width"], "height": kw.get("height", 844)})
    await sign_in(page, username, password, all_departments=kw.get("all_departments", True))
    if kw.get("path"):
        await page.goto(kw["path"])
    await expect(page.locator("[data-testid=board]")).to_be_visible()
    return page


async def test_phone_state_tabs_show_one_column_with_counts(db: Database, new_page: Any) -> None:
    async with unit_of_work(db) as session:
        await seed.fill(session, tickets=300)
    admin = await actor(db, "admin")
    async with db.sessionmaker() as session:
        counts = await board.counts(session, admin, BoardFilters())
    page = await open_board(new_page, "admin", "kefu-admin", width=390)
    tabs = page.locator("[data-testid=state-tabs]")
    await expect(tabs).to_be_visible()
    for status, n in counts.items():
        tab = page.locator(f"[data-testid=tab-{status.value}] [data-tab-count]")
        await expect(tab).to_have_text(str(n))
    # One column at a time: pending first, the others hidden; the page stays short.
    await expect(page.locator("[data-testid=column-pending]")).to_be_visible()
    await expect(page.locator("[data-testid=column-closed]")).to_be_hidden()
    await page.screenshot(path=screenshot_path("board-phone-390-zh"), full_page=True)
    height = await page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 4000, height

    await page.click("[data-testid=tab-closed]")
    await expect(page.locator("[data-testid=column-closed]")).to_be_visible()
    await expect(page.locator("[data-testid=column-pending]")).to_be_hidden()
    assert "state=closed" in await page.evaluate("() => location.hash")
    await expect(page.locator("[data-testid=tab-closed]")).to_have_attribute(
        "aria-selected", "true"
    )
    # The tab is in the address: a reload keeps it.
    await page.reload()
    await expect(page.locator("[data-testid=column-closed]")).to_be_visible()
    await expect(page.locator("[data-testid=column-pending]")).to_be_hidden()
    # On a phone a card moves through its "move to…" menu, not by dragging.
    await page.click("[data-testid=tab-pending]")
    first = page.locator("[data-testid=column-pending] li.ticket").first
    await expect(first.locator("details.move-menu summary")).to_be_visible()
    assert await page.evaluate(
        "() => document.querySelector('#column-pending ol.cards').kefuSortable.option('disabled')"
    )
    # The demo's team view is a chip above the board.
    await expect(page.locator("[data-testid='view-我的逾期VIP']")).to_be_visible()

    english = await open_board(new_page, "admin", "kefu-admin", width=390, locale="en")
    await expect(english.locator("[data-testid=tab-in_progress]")).to_contain_text("In progress")
    # The header's items wrap as whole items on a phone: no word breaks inside itself ("中文"
    # once stood as 中 over 文, "Sign out" over two lines).
    await expect(english.locator("#bell")).to_be_visible()
    broken = await texts_broken_over_lines(english, ".topbar-right a, .topbar-right button")
    assert broken == [], broken
    # A long display name may be cut with an ellipsis; its tooltip keeps it whole.
    title = await english.locator(".whoami").get_attribute("title")
    assert title is not None and title.startswith("系统管理员 Admin · "), title
    await english.screenshot(path=screenshot_path("board-phone-390-en"), full_page=True)
    # A table on a phone scrolls sideways: no head and no short Chinese value ("个人", "已发布")
    # squeezed into one character per line.
    for path in ("/customers", "/kb", "/admin/users"):
        await page.goto(path)
        await expect(page.locator("main .table").first).to_be_visible()
        assert await texts_broken_over_lines(page, "main .table th") == [], path
        short = [t for t in await texts_broken_over_lines(page, "main .table td") if len(t) <= 4]
        assert short == [], (path, short)
    # The SLA targets fit a phone: label, minutes and "business hours" side by side, the
    # "≈ 1d 3h" under the minutes (the note row once stretched the table to 950 px).
    await page.goto("/admin/sla")
    scroll, client = await page.eval_on_selector(
        "table.sla-targets", "t => [t.scrollWidth, t.clientWidth]"
    )
    assert scroll <= client + 1, (scroll, client)
    wide = await open_board(new_page, "admin", "kefu-admin", width=1366, height=900)
    await expect(wide.locator("[data-testid=state-tabs]")).to_be_hidden()
    await expect(wide.locator("[data-testid=column-closed]")).to_be_visible()
    await wide.screenshot(path=screenshot_path("board-desktop-1366-zh"))
    # On a desktop "≈ 2h 0m" beside a target stays whole ("≈ 2h" over "0m" before).
    await english.set_viewport_size({"width": 1366, "height": 900})
    await english.goto("/admin/sla")
    assert await texts_broken_over_lines(english, ".sla-targets span.hint") == []


async def test_keyboard_shortcuts_move_open_assign_and_help(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ids = [await make_ticket(db, reference, text=f"键盘工单{i}") for i in range(3)]
    page = await open_board(new_page, "agent", "kefu-agent")
    order = await page.eval_on_selector_all("#board li.ticket", "els => els.map(e => e.id)")
    assert sorted(order) == sorted(f"card-{i}" for i in ids)

    def focused() -> Any:
        return page.evaluate("() => document.activeElement && document.activeElement.id")

    await page.keyboard.press("j")
    assert await focused() == order[0]
    ring = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert ring != "none"  # a visible focus ring
    await page.keyboard.press("j")
    assert await focused() == order[1]
    await page.keyboard.press("k")
    assert await focused() == order[0]

    # a: assigned to me (the card re-renders with my name and keeps the focus).
    first = int(order[0].split("-")[1])
    await page.keyboard.press("a")
    await expect(page.locator(f"#{order[0]} .assignee")).to_contain_text("王小明")
    async with db.sessionmaker() as session:
        row = await session.get(Ticket, first)
        me = await actor(db, "agent")
        assert row is not None and row.assignee_id == me.user_id

    # Enter opens the drawer on the focused card.
    await page.locator(f"#{order[0]}").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(f"#drawer article[data-ticket-id='{first}']")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#drawer .ticket-drawer")).to_have_count(0)

    # r: the drawer with the cursor in the follow-up field.
    await page.locator(f"#{order[1]}").focus()
    await page.keyboard.press("r")
    await expect(page.locator("#drawer textarea[name=discussed]")).to_be_focused()
    await page.keyboard.type("jk")  # typed text, not shortcuts
    await expect(page.locator("#drawer textarea[name=discussed]")).to_have_value("jk")
    await page.click("[data-close-drawer]")

    # ? opens the help; typing in the search box is not a shortcut.
    await page.locator(f"#{order[0]}").focus()
    await page.keyboard.press("?")
    help_dialog = page.locator("[data-testid=shortcuts-help]")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("下一张 / 上一张卡片")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
    await page.focus("#filter-q")
    await page.keyboard.press("j")
    assert await focused() == "filter-q"


async def test_help_in_english(db: Database, new_page: Any) -> None:
    page = await open_board(new_page, "agent", "kefu-agent", locale="en")
    await page.keyboard.press("?")
    await expect(page.locator("[data-testid=shortcuts-help]")).to_contain_text(
        "Next / previous card"
    )


async def test_bulk_assign_on_the_board(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ids = [await make_ticket(db, reference, text=f"批量分配{i}") for i in range(3)]
    emma = await actor(db, "agent.emma")
    page = await open_board(new_page, "lead", "kefu-lead")
    await page.click("[data-testid=select-mode]")
    await expect(page.locator("[data-testid=bulk-bar]")).to_be_visible()
    await page.check(f"[data-testid=select-{ids[0]}]")
    await page.check(f"[data-testid=select-{ids[1]}]")
    await expect(page.locator("[data-bulk-count]")).to_have_text("2")
    await page.select_option("[data-testid=bulk-action]", "assign")
    await page.select_option("[data-testid=bulk-assignee]", str(emma.user_id))
    await page.screenshot(path=screenshot_path("board-bulk-1366-zh"))
    await page.click("[data-testid=bulk-apply]")
    summary = page.locator("[data-testid=bulk-summary]")
    await expect(summary).to_have_attribute("data-done", "2")
    await expect(page.locator(f"#card-{ids[0]} .assignee")).to_contain_text("Emma")
    await expect(page.locator(f"#card-{ids[1]} .assignee")).to_contain_text("Emma")
    await expect(page.locator(f"#card-{ids[2]} .assignee")).not_to_contain_text("Emma")
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))).all()
        assigned = {r.id for r in rows if r.assignee_id == emma.user_id}
    assert assigned == {ids[0], ids[1]}


async def test_a_mixed_bulk_move_reports_each_ticket(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    pending = await make_ticket(db, reference, text="可以开始处理")
    closed = await make_ticket(db, reference, text="已经关闭了", status=TicketStatus.CLOSED)
    page = await open_board(new_page, "agent", "kefu-agent", locale="en")
    await page.click("[data-testid=select-mode]")
    await page.check(f"[data-testid=select-{pending}]")
    await page.check(f"[data-testid=select-{closed}]")
    await page.select_option("[data-testid=bulk-action]", "move")
    await page.select_option("[data-testid=bulk-status]", "in_progress")
    await page.click("[data-testid=bulk-apply]")
    summary = page.locator("[data-testid=bulk-summary]")
    await expect(summary).to_have_attribute("data-refused", "1")
    await expect(page.locator(f"[data-testid=bulk-outcome-{closed}]")).to_contain_text(
        "Only a lead may reopen a ticket."
    )
    await expect(page.locator(f"[data-testid=bulk-outcome-{pending}]")).to_contain_text("done")
    await expect(page.locator(f"[data-testid=column-in_progress] #card-{pending}")).to_be_visible()
    await expect(page.locator(f"[data-testid=column-closed] #card-{closed}")).to_be_visible()
    await page.screenshot(path=screenshot_path("board-bulk-result-1366-en"))


async def test_the_default_board_and_all_departments(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    mine = await make_ticket(db, reference, text="本部门的工单")
    other = await make_ticket(db, reference, text="售后部的工单", department="AFTER")
    page = await open_board(new_page, "agent", "kefu-agent", all_departments=False)
    await expect(page.locator(f"#card-{mine}")).to_be_visible()
    await expect(page.locator(f"#card-{other}")).to_have_count(0)
    await page.select_option("form.filters select[name=department]", "all")
    await expect(page.locator(f"#card-{other}")).to_be_visible()
    await page.wait_for_function("() => location.search.includes('department=all')")
    # Opening /board again shows the board as the person left it.
    await page.goto("/board")
    await expect(page.locator(f"#card-{other}")).to_be_visible()
    # Saving it as a view adds a chip.
    await page.click("[data-testid=save-view]")
    await page.fill("[data-testid=view-name]", "全部待处理")
    async with page.expect_navigation():
        await page.click("[data-testid=save-view-submit]")
    await expect(page.locator("[data-testid='view-全部待处理']")).to_be_visible()


async def test_bulk_merge_on_the_board(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    primary = await make_ticket(db, reference, text="退款还没到账")
    dup = await same_customer_ticket(db, primary, "退款还没到账（又提交了一次）")
    async with db.sessionmaker() as session:
        number = (await session.get(Ticket, primary)).number  # type: ignore[union-attr]
    page = await open_board(new_page, "lead", "kefu-lead")
    await page.click("[data-testid=select-mode]")
    await page.check(f"[data-testid=select-{dup}]")
    await page.select_option("[data-testid=bulk-action]", "merge")
    await expect(page.locator("[data-testid=bulk-primary]")).to_be_visible()
    await page.fill("[data-testid=bulk-primary]", number)
    await page.click("[data-testid=bulk-apply]")
    await expect(page.locator("[data-testid=bulk-summary]")).to_have_attribute("data-done", "1")
    async with db.sessionmaker() as session:
        row = await session.get(Ticket, dup)
        assert row is not None and row.merged_into_id == primary
