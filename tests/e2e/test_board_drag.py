"""Drag and drop on the board with real mouse events: a move persists and reaches other boards
live; a move the state machine refuses snaps back with a localized message."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import Database, unit_of_work
from models.enums import Channel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import has_class, hold_first_pending_read, screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")

# Counts the ``ready`` messages of the page's live stream: the server sends one after it has
# subscribed to the event channel, so a page that saw it will hear every later change.
SSE_READY_PROBE = """
(() => {
  const Native = window.EventSource;
  window.__sseReady = 0;
  window.__sseSources = [];
  window.EventSource = class extends Native {
    constructor(url, options) {
      super(url, options);
      window.__sseSources.push(this);
      this.addEventListener("ready", () => { window.__sseReady += 1; });
    }
  };
})();
"""


async def _pending_tickets(db: Database, *texts: str) -> list[Ticket]:
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="拖拽客户"))
        made = []
        for text in texts:
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer.id, description=text, channel=Channel.ONLINE_CHAT
                ),
            )
            made.append(ticket)
        return made


async def _row(db: Database, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _audit_count(db: Database, ticket_id: int) -> int:
    async with db.sessionmaker() as s:
        return len(
            (await s.scalars(select(AuditEvent.id).where(AuditEvent.ticket_id == ticket_id))).all()
        )


async def _drag(page: Any, card: Any, target_status: str, pressed: Any = None) -> None:
    """Press on the card's title, move in small steps into the target column, release.

    Real mouse events (SortableJS listens to pointer/drag events; ``drag_to`` jumps straight
    to the drop and never lets Sortable see the card cross the columns). ``pressed`` (an
    async callable) runs once the button is down, before the pointer moves.
    """
    handle = card.locator(".card-title")
    await handle.scroll_into_view_if_needed()
    start = await handle.bounding_box()
    target = page.locator(f"[data-testid=column-{target_status}] ol.cards")
    end = await target.bounding_box()
    assert start is not None and end is not None
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 30)
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    if pressed is not None:
        await pressed()
    await page.mouse.move(x0 + 5, y0 + 5, steps=5)  # past Sortable's drag threshold
    await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=10)
    await page.mouse.move(x1, y1, steps=10)
    await page.mouse.move(x1 + 2, y1 + 2, steps=3)
    await page.mouse.up()


async def _column_of(page: Any, ticket_id: int) -> str:
    return str(
        await page.locator(f"#card-{ticket_id}").evaluate(
            "c => c.closest('section.column').dataset.status"
        )
    )


async def test_dragged_card_moves_persists_and_reaches_another_board_live(
    db: Database, new_page: Any
) -> None:
    ticket, other = await _pending_tickets(db, "拖到处理中：打印机无法连接", "留在待处理的工单")

    # A colleague's board is open (and listening) before the move.
    watcher = await new_page()
    await watcher.add_init_script(SSE_READY_PROBE)
    await sign_in(watcher, "agent", "kefu-agent")
    await watcher.wait_for_function("() => window.__sseReady > 0")
    await expect(watcher.locator(f"[data-testid=column-pending] #card-{ticket.id}")).to_be_visible()
    await watcher.evaluate("window.__sameDocument = true")  # gone if the page reloaded

    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    card = page.locator(f"[data-testid=column-pending] #card-{ticket.id}")
    await expect(card).to_be_visible()
    await page.screenshot(path=screenshot_path("drag-before"))

    await _drag(page, card, "in_progress")

    moved = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(moved).to_be_visible()
    # The server's re-rendered card (not just Sortable's DOM move): the new state and version.
    await expect(moved).to_have_attribute("data-status", "in_progress")
    await expect(page.locator("[data-testid=count-in_progress]")).to_have_text("1")
    await expect(page.locator("[data-testid=count-pending]")).to_have_text("1")
    await expect(page.locator("#flash .flash-error")).to_have_count(0)
    await page.screenshot(path=screenshot_path("drag-after"))

    row = await _row(db, ticket.id)
    assert row.status is TicketStatus.IN_PROGRESS
    assert (await _row(db, other.id)).status is TicketStatus.PENDING

    # The colleague's board shows it without a reload.
    await expect(
        watcher.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    ).to_be_visible()
    await expect(watcher.locator(f"[data-testid=column-pending] #card-{ticket.id}")).to_have_count(
        0
    )
    await expect(watcher.locator("[data-testid=count-in_progress]")).to_have_text("1")
    assert await watcher.evaluate("window.__sameDocument === true")

    await page.reload()
    assert await _column_of(page, ticket.id) == "in_progress"
    assert await _column_of(page, other.id) == "pending"


# Counts the page's answered reads of the pending column (swapped in or not).
COUNT_PENDING_READS = """
(() => {
  window.__pendingReads = 0;
  document.addEventListener("htmx:afterRequest", (evt) => {
    const path = (evt.detail.pathInfo && evt.detail.pathInfo.requestPath) || "";
    if (path.includes("/board/columns/pending")) { window.__pendingReads += 1; }
  });
})();
"""


async def test_a_column_read_answered_while_a_card_is_pressed_does_not_take_the_card(
    db: Database, new_page: Any
) -> None:
    """A refresh of the card's column (a live event, the re-read after a refused move) that
    arrives between the press and the start of the drag would replace the pressed card: the
    drag would then go nowhere, silently. It waits until the press ends, then is read again."""
    ticket, other = await _pending_tickets(db, "按下时列被刷新的工单", "按下后只是点开的工单")
    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.evaluate(COUNT_PENDING_READS)
    card = page.locator(f"[data-testid=column-pending] #card-{ticket.id}")
    await expect(card).to_be_visible()

    held = await hold_first_pending_read(page)

    async def answer_while_pressed() -> None:
        await expect(card).to_have_class(has_class("card-chosen"))
        held.release.set()
        await page.wait_for_function("() => window.__pendingReads >= 1")

    await _drag(page, card, "in_progress", answer_while_pressed)

    moved = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(moved).to_have_attribute("data-status", "in_progress")
    await expect(page.locator("#flash .flash-error")).to_have_count(0)
    assert (await _row(db, ticket.id)).status is TicketStatus.IN_PROGRESS
    # The read that waited is asked for again once the move is saved: the column as it is.
    await page.wait_for_function("() => window.__pendingReads >= 2")
    await expect(page.locator(f"#card-{ticket.id}")).to_have_count(1)
    await expect(page.locator("[data-testid=count-pending]")).to_have_text("1")
    assert len(held.reads) >= 2, held.reads

    # A press that ends without a drag (a click) lets the read that waited through too.
    await page.unroute("**/board/columns/pending*")
    held = await hold_first_pending_read(page)
    other_card = page.locator(f"#card-{other.id}")
    title = await other_card.locator(".card-title").bounding_box()
    assert title is not None
    await page.mouse.move(title["x"] + 10, title["y"] + title["height"] / 2)
    await page.mouse.down()
    await expect(other_card).to_have_class(has_class("card-chosen"))
    held.release.set()
    await page.wait_for_function("() => window.__pendingReads >= 3")
    await page.mouse.up()
    await page.wait_for_function("() => window.__pendingReads >= 4")
    assert len(held.reads) == 2, held.reads
    await expect(page.locator(f"[data-testid=column-pending] #card-{other.id}")).to_have_count(1)


async def test_a_refused_drop_snaps_back_with_a_localized_message(
    db: Database, new_page: Any
) -> None:
    (ticket,) = await _pending_tickets(db, "不能直接关闭的工单")
    before = await _row(db, ticket.id)
    audits = await _audit_count(db, ticket.id)

    page = await new_page()
    await sign_in(page, "lead", "kefu-lead")
    card = page.locator(f"[data-testid=column-pending] #card-{ticket.id}")
    await expect(card).to_be_visible()

    await _drag(page, card, "closed")  # pending → closed: the state machine refuses it

    flash = page.locator("#flash .flash-error[role=alert]")
    await expect(flash).to_contain_text("待处理的工单只能转入处理中")
    await expect(page.locator(f"[data-testid=column-pending] #card-{ticket.id}")).to_be_visible()
    await expect(page.locator(f"[data-testid=column-closed] #card-{ticket.id}")).to_have_count(0)
    await expect(page.locator("[data-testid=count-pending]")).to_have_text("1")
    await expect(page.locator("[data-testid=count-closed]")).to_have_text("0")
    await page.screenshot(path=screenshot_path("drag-refused"))

    after = await _row(db, ticket.id)
    assert (after.status, after.version) == (TicketStatus.PENDING, before.version)
    assert await _audit_count(db, ticket.id) == audits

    await page.reload()
    assert await _column_of(page, ticket.id) == "pending"


async def test_a_stale_drop_snaps_back_to_where_the_card_really_is(
    db: Database, new_page: Any
) -> None:
    """Someone took the ticket after this board was drawn: the drop is refused (409), the
    card shows the other person's move, and nothing of the refused move is written."""
    (ticket,) = await _pending_tickets(db, "两人同时拖动的工单")
    page = await new_page()
    await page.add_init_script(SSE_READY_PROBE)
    await sign_in(page, "lead", "kefu-lead")
    await page.wait_for_function("() => window.__sseReady > 0")
    card = page.locator(f"[data-testid=column-pending] #card-{ticket.id}")
    await expect(card).to_be_visible()
    # This board stops hearing live events, so it still shows the card as pending.
    await page.evaluate("window.__sseSources.forEach(source => source.close())")

    async with unit_of_work(db) as s:
        user = await s.scalar(select(User).where(User.username == "agent"))
        assert user is not None
        agent = Actor(
            user_id=user.id, label=user.username, role=Role.AGENT, department_id=user.department_id
        )
        await commands.move(
            s, agent, ticket.id, TicketStatus.IN_PROGRESS, expected_version=ticket.version
        )
    taken = await _row(db, ticket.id)
    audits = await _audit_count(db, ticket.id)
    await expect(card).to_have_attribute("data-version", str(ticket.version))  # still stale

    await _drag(page, card, "in_progress")

    flash = page.locator("#flash .flash-error[role=alert]")
    await expect(flash).to_contain_text(f"{ticket.number} 已被他人修改")
    fresh = page.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
    await expect(fresh).to_have_attribute("data-version", str(taken.version))
    await expect(fresh.locator(".assignee")).to_have_text(user.display_name)
    await expect(page.locator(f"[data-testid=column-pending] #card-{ticket.id}")).to_have_count(0)
    await page.screenshot(path=screenshot_path("drag-stale"))

    after = await _row(db, ticket.id)
    assert (after.status, after.version, after.assignee_id) == (
        TicketStatus.IN_PROGRESS,
        taken.version,
        user.id,
    )
    assert await _audit_count(db, ticket.id) == audits
