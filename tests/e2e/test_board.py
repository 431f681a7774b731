"""The board in a real browser: hostile text stays text, cards sit in their state's column."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import Channel, CustomerLevel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.demo import seed as demo
from models.services.tickets import commands
from models.user import User
from tests.e2e.conftest import hold_first_pending_read, screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")
IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = "<script>window.__xss=2</script>"
NAME = "<img src=x onerror=window.__xss=3>"


async def _lead(session: Any) -> Actor:
    user = await session.scalar(select(User).where(User.username == "lead"))
    return Actor(
        user_id=user.id, label=user.username, role=Role.LEAD, department_id=user.department_id
    )


async def _ticket(session: Any, customer_id: int, text: str) -> Any:
    ticket, _ = await commands.create(
        session,
        SYSTEM,
        commands.TicketInput(
            customer_id=customer_id, description=text, channel=Channel.ONLINE_CHAT
        ),
    )
    return ticket


async def _move(db: Database, ticket_id: int, target: TicketStatus) -> None:
    """One move by the lead, as the board makes it: with the version the lead saw."""
    async with unit_of_work(db) as s:
        seen = await commands.get(s, ticket_id)
        await commands.move(
            s,
            await _lead(s),
            ticket_id,
            target,
            expected_version=seen.version,
            resolution="已解决" if target is TicketStatus.COMPLETED else None,
        )


async def _no_injection(page: Any) -> None:
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert await page.locator("img[src=x]").count() == 0
    scripts = await page.evaluate(
        "Array.from(document.scripts).filter(s => s.text.includes('__xss')).length"
    )
    assert scripts == 0


async def test_hostile_ticket_text_renders_inert(db: Database, page: Any) -> None:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s,
            SYSTEM,
            registry.CustomerInput(name=NAME, phone="13800000000", level=CustomerLevel.VIP),
        )
        img = await _ticket(s, customer.id, f"{IMG}\n第二行 {SCRIPT}")
        script = await _ticket(s, customer.id, SCRIPT)

    await sign_in(page, "lead", "kefu-lead")
    await page.wait_for_load_state("load")  # images have loaded or failed: onerror has run
    await _no_injection(page)

    img_card = page.locator(f"[data-testid=column-pending] #card-{img.id}")
    script_card = page.locator(f"[data-testid=column-pending] #card-{script.id}")
    assert await img_card.locator(".card-title").inner_text() == IMG
    assert await script_card.locator(".card-title").inner_text() == SCRIPT
    assert NAME in await img_card.locator(".card-customer").inner_text()

    # The full description in the ticket drawer (an htmx swap) is inert too.
    await page.click(f"[data-testid=open-{img.id}]")
    drawer = page.locator("[data-testid=drawer]")
    await drawer.get_by_text(SCRIPT, exact=False).first.wait_for()
    assert IMG in await drawer.inner_text()
    await _no_injection(page)


async def test_cards_sit_in_their_columns_and_stay_there_after_reload(
    db: Database, page: Any
) -> None:
    expected: dict[int, TicketStatus] = {}
    path = [
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
        TicketStatus.CLOSED,
    ]
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="列测试客户"))
        for steps, status in enumerate([TicketStatus.PENDING, *path]):
            ticket = await _ticket(s, customer.id, f"第 {steps} 张：状态 {status.value}")
            expected[ticket.id] = status
        waiting = await _ticket(s, customer.id, "稍后移动到处理中")
        expected[waiting.id] = TicketStatus.PENDING
    for steps, ticket_id in enumerate(list(expected)[:5]):
        for target in path[:steps]:
            await _move(db, ticket_id, target)

    await sign_in(page, "lead", "kefu-lead")

    async def check() -> None:
        for ticket_id, status in expected.items():
            card = page.locator(f"#card-{ticket_id}")
            assert await card.count() == 1, ticket_id
            column = await card.evaluate("c => c.closest('section.column').dataset.status")
            assert column == status.value, (ticket_id, column, status)
        counts = {s.value: 0 for s in TicketStatus}
        for status in expected.values():
            counts[status.value] += 1
        for status, n in counts.items():
            count = page.locator(f"[data-testid=count-{status}]")
            assert (await count.inner_text()).strip() == str(n), status

    await check()
    await page.reload()
    await check()

    # Someone else moves a card (through the same service the board uses); a reload shows it.
    await _move(db, waiting.id, TicketStatus.IN_PROGRESS)
    expected[waiting.id] = TicketStatus.IN_PROGRESS
    await page.reload()
    await check()


async def test_board_screenshot(db: Database, page: Any) -> None:
    """A realistic board for a person to look at (saved outside the repository)."""
    async with unit_of_work(db) as s:
        await demo.fill(s, tickets=120, seed=11, days=20)
    await sign_in(page, "lead", "kefu-lead")
    await page.wait_for_load_state("load")
    assert await page.locator("[data-testid=card]").count() > 0
    await page.screenshot(path=screenshot_path("board"), full_page=False)
    await page.screenshot(path=screenshot_path("board-full"), full_page=True)


async def test_a_board_whose_live_stream_reconnects_re_reads_its_columns(
    db: Database, new_page: Any
) -> None:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s, SYSTEM, registry.CustomerInput(name="重连客户", phone="13900001111")
        )
        ticket = await _ticket(s, customer.id, "断线期间被处理的工单")
    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/board")
    card = page.locator(f"#card-{ticket.id}")
    await expect(card).to_have_attribute("data-status", "pending")
    await expect(page.locator("body")).to_have_attribute("data-live-stream", "open")
    # A colleague moves it while this board's stream is away: no event reaches this board.
    await _move(db, ticket.id, TicketStatus.IN_PROGRESS)
    # The stream opens again (as the SSE extension reports a reconnection): the board re-reads.
    await page.evaluate("htmx.trigger(document.body, 'htmx:sseOpen', {})")
    # (the columns are swapped one by one: for a moment the card may be in both)
    moved = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(moved).to_have_attribute("data-status", "in_progress")
    await expect(page.locator(f"[data-testid=column-pending] #card-{ticket.id}")).to_have_count(0)
    await expect(card).to_have_count(1)


async def test_a_live_event_during_a_column_read_is_not_lost(db: Database, new_page: Any) -> None:
    """A colleague's move announced while this board's read of the column is on its way (read
    by the server before the move) is shown: the column is read again once the first read is
    answered (htmx's own queue would send the second read from the replaced element: never)."""
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="在途刷新客户"))
        ticket = await _ticket(s, customer.id, "读取途中被同事处理的工单")
    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/board")
    card = page.locator(f"#card-{ticket.id}")
    await expect(card).to_have_attribute("data-status", "pending")
    await expect(page.locator("body")).to_have_attribute("data-live-stream", "open")

    held = await hold_first_pending_read(page)
    reads, release = held.reads, held.release

    # A colleague moves it on their board; the server announces the move to this board.
    colleague = await new_page()
    await sign_in(colleague, "lead", "kefu-lead")
    await colleague.goto("/board")
    await colleague.locator(f"#card-{ticket.id} details.move-menu summary").click()
    await colleague.get_by_test_id(f"move-{ticket.id}-in_progress").click()
    await expect(colleague.locator(f"#card-{ticket.id}")).to_have_attribute(
        "data-status", "in_progress"
    )
    # The same live event re-reads both columns: once the target column shows the card, the
    # source column has asked for its re-read too (while its first read is still held).
    moved = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(moved).to_have_count(1)
    await page.wait_for_timeout(500)
    release.set()

    await expect(page.locator(f"#card-{ticket.id}")).to_have_count(1)
    await expect(moved).to_have_attribute("data-status", "in_progress")
    await expect(page.locator("[data-testid=count-pending]")).to_have_text("0")
    assert len(reads) == 2, reads


async def test_a_column_read_before_a_move_is_not_shown_after_it(
    db: Database, new_page: Any
) -> None:
    """A live refresh of the source column, read by the server before the move was saved and
    answered after it, must not put the moved card back there: it is dropped and re-read."""
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="慢刷新客户"))
        ticket = await _ticket(s, customer.id, "刷新与移动交错的工单")
    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/board")
    card = page.locator(f"#card-{ticket.id}")
    await expect(card).to_have_attribute("data-status", "pending")

    held = await hold_first_pending_read(page)
    reads, release = held.reads, held.release

    await card.locator("details.move-menu summary").click()
    await page.get_by_test_id(f"move-{ticket.id}-in_progress").click()
    await expect(card).to_have_attribute("data-status", "in_progress")
    release.set()

    # The stale column is dropped and asked for again, which shows the board as it is.
    for _ in range(100):
        if len(reads) > 1:
            break
        await asyncio.sleep(0.1)
    assert len(reads) > 1, reads
    await expect(page.locator(f"#card-{ticket.id}")).to_have_count(1)
    moved = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(moved).to_have_count(1)
    await expect(page.locator("[data-testid=count-pending]")).to_have_text("0")
