"""A board that fits the day, in a real browser: no SLA badge on done work, filters that
apply as soon as they change and live in the address bar, done columns collapsed to their
newest cards."""

from __future__ import annotations

from typing import Any

import pytest

from models.db import Database
from models.enums import TicketStatus
from models.services.tickets.board import DONE_PAGE_SIZE
from tests.e2e.conftest import sign_in
from tests.integration.tickets.test_board_helpers import make_ticket

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


def gone(selector: str) -> str:
    return f"() => document.querySelector('{selector}') === null"


def present(selector: str) -> str:
    return f"() => document.querySelector('{selector}') !== null"


async def test_a_closed_card_has_no_sla_badge_and_an_open_one_has(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    closed = await make_ticket(db, reference, text="已关闭的工单", status=TicketStatus.CLOSED)
    done = await make_ticket(db, reference, text="已完成的工单", status=TicketStatus.COMPLETED)
    open_ = await make_ticket(db, reference, text="处理中的工单", status=TicketStatus.IN_PROGRESS)
    await sign_in(page, "lead", "kefu-lead")
    await page.wait_for_function(present(f"#card-{closed}"))
    assert await page.locator(f"#card-{closed} [data-testid=sla]").count() == 0
    assert await page.locator(f"#card-{done} [data-testid=sla]").count() == 0
    assert await page.locator(f"#card-{open_} [data-testid=sla]").is_visible()


async def test_checking_mine_refreshes_the_board_without_the_filter_button(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    mine = await make_ticket(db, reference, text="分配给我的工单", assignee="agent")
    other = await make_ticket(db, reference, text="打印机卡纸需要上门", customer_name="李强")
    await sign_in(page, "agent", "kefu-agent")
    await page.goto("/board")
    await page.wait_for_function(present(f"#card-{other}"))
    await page.evaluate("() => { window.__samePage = true; }")

    await page.check("form.filters input[name=mine]")
    await page.wait_for_function(gone(f"#card-{other}"))
    assert await page.locator(f"#card-{mine}").is_visible()
    assert await page.evaluate("() => window.__samePage === true")  # no page load: htmx did it
    # The address carries the filters (and the department menu's explicit choice).
    await page.wait_for_function("() => new URLSearchParams(location.search).get('mine') === '1'")
    assert await page.locator("[data-testid=count-pending]").inner_text() == "1"
    assert "mine=1" in (await page.get_attribute("[data-testid=matrix-link]", "href") or "")

    # The address is the filtered board: a reload shows the same.
    await page.reload()
    assert await page.is_checked("form.filters input[name=mine]")
    assert await page.locator(f"#card-{other}").count() == 0
    await page.evaluate("() => { window.__samePage = true; }")

    # Unchecking it and typing a search term (debounced) apply by themselves too.
    await page.uncheck("form.filters input[name=mine]")
    await page.wait_for_function(present(f"#card-{other}"))
    await page.fill("#filter-q", "打印机卡纸")
    await page.wait_for_function(gone(f"#card-{mine}"))
    assert await page.locator(f"#card-{other}").is_visible()
    await page.wait_for_function(
        "() => new URLSearchParams(location.search).get('q') === '打印机卡纸'"
    )
    assert "mine" not in await page.evaluate("() => location.search")
    assert await page.evaluate("() => window.__samePage === true")


async def test_closed_shows_its_newest_cards_and_show_more_loads_the_rest(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    closed = [
        await make_ticket(db, reference, text=f"历史工单 {i}", status=TicketStatus.CLOSED)
        for i in range(DONE_PAGE_SIZE + 2)
    ]
    await sign_in(page, "lead", "kefu-lead")
    cards = page.locator("#column-closed li.ticket")
    await page.wait_for_function(present("#column-closed"))
    assert await cards.count() == DONE_PAGE_SIZE
    assert await page.locator("[data-testid=count-closed]").inner_text() == str(len(closed))
    newest = await cards.evaluate_all("cs => cs.map(c => Number(c.dataset.id))")
    assert newest == closed[::-1][:DONE_PAGE_SIZE]

    await page.click("[data-testid=show-more-closed]")
    await page.wait_for_function(
        f"() => document.querySelectorAll('#column-closed li.ticket').length === {len(closed)}"
    )
    assert await page.locator("[data-testid=show-more-closed]").count() == 0
    every = await cards.evaluate_all("cs => cs.map(c => Number(c.dataset.id))")
    assert every == closed[::-1]
