"""Issue 16.1, "drag and drop that always answers": a drop anywhere in a column is a move.

An agent's board shows colleagues' cards (another department's, which the agent may not move)
next to the agent's own. A card released over any of them — a colleague's card, one's own, the
first or last card, a gap, the column header, the empty space below the cards — is moved, or
refused by the server with the reason in a toast; it never silently snaps back. Columns the
state machine refuses are marked while dragging, with the server's reason. Failed moves
(403, 422, a proxy's 5xx, no network) explain themselves in a toast that goes away by itself
and puts the card back where the server says it is.

Real mouse steps in Chromium, on both databases, at 1366 and 1024 pixels wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Route, expect
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import Database, unit_of_work
from models.enums import Channel, TicketStatus
from models.i18n import translations
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.services.tickets.transitions import REFUSALS
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import has_class, screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")
S = TicketStatus
ZH = translations("zh_CN")

# Where in the target column the card is released.
TARGETS = ("colleague", "own", "first", "last", "gap", "header", "below")
SIZES = {"1366": (1366, 900), "1024": (1024, 768)}

# The agent's card walks the whole process, one drop per column.
CHAIN = (S.IN_PROGRESS, S.AWAITING_CONFIRMATION, S.COMPLETED, S.CLOSED)
PATH = {
    S.IN_PROGRESS: (S.IN_PROGRESS,),
    S.AWAITING_CONFIRMATION: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION),
    S.COMPLETED: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION, S.COMPLETED),
    S.CLOSED: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION, S.COMPLETED, S.CLOSED),
}

# The point to release at, computed in the page for a target kind in a column. Cards other
# than the dragged one; "own" and "colleague" prefer a card that is neither first nor last.
DROP_POINT = """
([status, kind, moving, colleagues]) => {
  const col = document.querySelector(`#column-${status}`);
  const cards = [...col.querySelectorAll("li.ticket")].filter(c => c.id !== moving);
  const inner = cards.slice(1, -1);
  const pick = (test) => inner.find(test) || cards.find(test);
  const theirs = (c) => colleagues.includes(Number(c.dataset.id));
  const centre = (el) => {
    const r = el.getBoundingClientRect();
    return {x: r.left + r.width / 2, y: r.top + r.height / 2};
  };
  const points = {
    colleague: () => centre(pick(theirs)),
    own: () => centre(pick(c => !theirs(c))),
    first: () => centre(cards[0]),
    last: () => centre(cards[cards.length - 1]),
    header: () => centre(col.querySelector("h2")),
    gap: () => {
      const a = cards[0].getBoundingClientRect(), b = cards[1].getBoundingClientRect();
      return {x: a.left + a.width / 2, y: (a.bottom + b.top) / 2};
    },
    below: () => {
      const last = cards[cards.length - 1].getBoundingClientRect();
      const bottom = Math.min(col.getBoundingClientRect().bottom, window.innerHeight);
      return {x: last.left + last.width / 2, y: (last.bottom + bottom) / 2};
    },
  };
  const point = points[kind]();
  // On screen and in that column (not under the sticky top bar, not past its end).
  const hit = document.elementFromPoint(point.x, point.y);
  return hit && hit.closest("section") === col ? point : null;
}
"""

# Show the target column (its header too, not under the sticky top bar) and the dragged card
# together: the page at its top, the board scrolled sideways just enough (at 1024 it scrolls).
SHOW_BOTH = """
([cardId, status]) => {
  window.scrollTo(0, 0);
  const board = document.getElementById("board");
  const card = document.getElementById(cardId);
  const show = (el) => {
    const b = board.getBoundingClientRect(), r = el.getBoundingClientRect();
    if (r.right > b.right) { board.scrollLeft += r.right - b.right; }
    else if (r.left < b.left) { board.scrollLeft -= b.left - r.left; }
  };
  show(card);
  show(document.querySelector(`#column-${status}`));
  if (card.getBoundingClientRect().bottom > window.innerHeight) {
    card.scrollIntoView({block: "nearest"});
  }
}
"""


@dataclass
class Seeded:
    mover: int  # the agent's own card that walks through every column
    refused: int  # the agent's own pending card, dropped where it may not go
    colleagues: dict[TicketStatus, list[int]]


async def _actor(db: Database, username: str) -> tuple[Actor, User]:
    async with db.sessionmaker() as s:
        user = await s.scalar(select(User).where(User.username == username))
        assert user is not None
        actor = Actor(
            user_id=user.id, label=username, role=user.role, department_id=user.department_id
        )
        return actor, user


async def _ticket(
    s: Any, text: str, owner: User, status: TicketStatus, lead: Actor, customer: int
) -> Ticket:
    """A ticket of ``owner``'s department, assigned to them, walked to ``status`` by a lead."""
    ticket, _ = await commands.create(
        s,
        SYSTEM,
        commands.TicketInput(
            customer_id=customer,
            description=text,
            channel=Channel.ONLINE_CHAT,
            department_id=owner.department_id,
            assignee_id=owner.id,
        ),
    )
    for step in PATH.get(status, ()):
        ticket = await commands.move(
            s,
            lead,
            ticket.id,
            step,
            expected_version=None,  # the lead's own walk, in one transaction
            resolution="已处理" if step is S.COMPLETED else None,
        )
    return ticket


async def _seed(db: Database) -> Seeded:
    """Agent "agent.after" and a colleague of another department ("agent.tech"): two of the
    colleague's cards between two of the agent's own in every column the mover will visit
    (the layout where Sortable used to refuse a drop over the colleague's cards)."""
    lead, _ = await _actor(db, "lead")
    _, me = await _actor(db, "agent.after")
    _, colleague = await _actor(db, "agent.tech")
    async with unit_of_work(db) as s:
        customer = (await registry.register(s, SYSTEM, registry.CustomerInput(name="落点客户"))).id
        mover = await _ticket(s, "走完全程的工单", me, S.PENDING, lead, customer)
        refused = await _ticket(s, "被拒绝的拖放", me, S.PENDING, lead, customer)
        colleagues: dict[TicketStatus, list[int]] = {}
        for status in (S.PENDING, *CHAIN):
            # Created in board order (same priority: by deadline, then id), so in every
            # target column the colleague's cards sit between two of the agent's own.
            if status is not S.PENDING:
                await _ticket(s, "自己的工单（上）", me, status, lead, customer)
            colleagues[status] = [
                (await _ticket(s, f"同事的工单{i}", colleague, status, lead, customer)).id
                for i in range(1 if status is S.PENDING else 2)
            ]
            if status is not S.PENDING:
                await _ticket(s, "自己的工单（下）", me, status, lead, customer)
    return Seeded(mover.id, refused.id, colleagues)


async def _row(db: Database, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _audit_count(db: Database, ticket_id: int) -> int:
    async with db.sessionmaker() as s:
        found = await s.scalars(select(AuditEvent.id).where(AuditEvent.ticket_id == ticket_id))
        return len(found.all())


async def _drag(
    page: Any,
    ticket_id: int,
    status: str,
    kind: str,
    colleagues: list[int],
    while_dragging: Any = None,
) -> None:
    """Press on the card, move in small steps to the target point, release.

    ``while_dragging`` (an async callable) runs with the button still down, over the target.
    Starts once the board has no read on its way (the re-reads after the previous move), as a
    person starts a drag on the card they see, not on one being replaced.
    """
    await expect(page.locator("#board .htmx-request")).to_have_count(0)
    await page.evaluate(SHOW_BOTH, [f"card-{ticket_id}", status])
    start = await page.locator(f"#card-{ticket_id} .card-title").bounding_box()
    assert start is not None
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    await page.mouse.move(x0 + 5, y0 + 5, steps=3)  # past Sortable's drag threshold
    # The point is computed once the drag has begun: the placeholder no longer counts.
    point = await page.evaluate(DROP_POINT, [status, kind, f"card-{ticket_id}", colleagues])
    assert point is not None, f"no {kind} point in {status}"
    x1, y1 = point["x"], point["y"]
    assert 0 < x1 < page.viewport_size["width"] and 0 < y1 < page.viewport_size["height"]
    await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    await page.mouse.move(x1, y1, steps=4)
    await page.mouse.move(x1 + 1, y1 + 1)
    if while_dragging is not None:
        await while_dragging()
    await page.mouse.up()


async def _open_board(new_page: Any, size: str, locale: str = "zh-CN") -> Any:
    page = await new_page(locale)
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    await sign_in(page, "agent.after", "kefu-agent")
    await expect(page.locator("[data-testid=board]")).to_be_visible()
    return page


def _toast(page: Any) -> Any:
    return page.locator("#flash .flash-error[role=alert]")


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("kind", TARGETS)
async def test_a_drop_on_any_target_moves_the_card_or_says_why_not(
    db: Database, new_page: Any, size: str, kind: str
) -> None:
    seeded = await _seed(db)
    page = await _open_board(new_page, size)
    theirs = [i for ids in seeded.colleagues.values() for i in ids]
    shown = page.locator(", ".join(f"#card-{i}:not([data-can-move])" for i in theirs))
    await expect(shown).to_have_count(len(theirs))  # colleagues' cards: shown, not movable
    # Only the agent's own cards offer to be picked up.
    await expect(page.locator(f"#card-{theirs[0]}")).not_to_have_css("cursor", "grab")
    await expect(page.locator(f"#card-{seeded.mover}")).to_have_css("cursor", "grab")

    # Refused: a pending card over "awaiting confirmation". While dragging, the column is
    # marked refused with the state machine's reason; on release the server says it again.
    refused = await _row(db, seeded.refused)
    audits = await _audit_count(db, refused.id)
    reason = ZH.gettext(REFUSALS[S.PENDING])
    target = page.locator("[data-testid=column-awaiting_confirmation]")

    async def shows_refusal() -> None:
        await expect(target).to_have_class(has_class("drop-no"))
        await expect(target.locator(".drop-reason")).to_have_text(reason)
        await expect(page.locator("[data-testid=column-in_progress]")).to_have_class(
            has_class("drop-ok")
        )

    await _drag(page, refused.id, "awaiting_confirmation", kind, theirs, shows_refusal)
    await expect(_toast(page)).to_contain_text(reason)
    await expect(page.locator(f"[data-testid=column-pending] #card-{refused.id}")).to_be_visible()
    await expect(target.locator(f"#card-{refused.id}")).to_have_count(0)
    await expect(page.locator(".drop-reason")).to_have_count(0)
    after = await _row(db, refused.id)
    assert (after.status, after.version) == (S.PENDING, refused.version)
    assert await _audit_count(db, refused.id) == audits
    await page.locator("#flash .flash-close").click()
    await expect(_toast(page)).to_have_count(0)

    # Allowed: the agent's card walks every column, released over the same kind of target.
    mover = seeded.mover
    for status in CHAIN:
        await _drag(page, mover, status.value, kind, theirs)
        if status is S.COMPLETED:
            dialog = page.locator("[data-testid=resolution-dialog]")
            await expect(dialog).to_be_visible()
            await dialog.locator("[data-testid=resolution-text]").fill("更换了配件，客户确认")
            await dialog.locator("[data-testid=resolution-submit]").click()
        moved = page.locator(f"[data-testid=column-{status.value}] #card-{mover}")
        await expect(moved).to_have_attribute("data-status", status.value)
        await expect(_toast(page)).to_have_count(0)
        assert (await _row(db, mover)).status is status
    if kind == "colleague":
        await page.screenshot(path=screenshot_path(f"drop-{kind}-{size}"))

    await page.reload()
    await expect(page.locator(f"[data-testid=column-closed] #card-{mover}")).to_be_visible()
    await expect(page.locator(f"[data-testid=column-pending] #card-{refused.id}")).to_be_visible()


# --- every kind of failure explains itself ----------------------------------------------------


async def _refuse_with_502(route: Route) -> None:
    await route.fulfill(status=502, body="Bad Gateway", content_type="text/plain")


async def _no_network(route: Route) -> None:
    await route.abort("internetdisconnected")


async def _blank_resolution(route: Route) -> None:
    """The browser sends the move with its resolution emptied: the server's own 422."""
    body = (route.request.post_data or "").split("&")
    body = ["resolution=" if part.startswith("resolution=") else part for part in body]
    await route.continue_(post_data="&".join(body))


FAILURES = {
    # kind: (source state, target column, route handler, locale, expected text (msgid))
    "403-lead-only": (
        S.COMPLETED,
        S.IN_PROGRESS,
        None,
        "zh-CN",
        "Only a lead may reopen a ticket.",
    ),
    "422-invalid": (
        S.AWAITING_CONFIRMATION,
        S.COMPLETED,
        _blank_resolution,
        "zh-CN",
        "Please correct the highlighted fields.",
    ),
    "502-proxy": (
        S.IN_PROGRESS,
        S.AWAITING_CONFIRMATION,
        _refuse_with_502,
        "zh-CN",
        "The move failed (%(status)s). The card is back where it was; please try again.",
    ),
    "network-en": (
        S.IN_PROGRESS,
        S.AWAITING_CONFIRMATION,
        _no_network,
        "en",
        "The move could not reach the server. Check the connection and try again.",
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failed_move_explains_itself_and_the_card_returns(
    db: Database, new_page: Any, failure: str
) -> None:
    source, target, handler, locale, msgid = FAILURES[failure]
    lead, _ = await _actor(db, "lead")
    _, me = await _actor(db, "agent.after")
    _, colleague = await _actor(db, "agent.tech")
    async with unit_of_work(db) as s:
        customer = (await registry.register(s, SYSTEM, registry.CustomerInput(name="失败客户"))).id
        ticket = await _ticket(s, "这次移动会失败", me, source, lead, customer)
        theirs = await _ticket(s, "同事在目标列的工单", colleague, target, lead, customer)
    ticket = await _row(db, ticket.id)
    audits = await _audit_count(db, ticket.id)

    page = await _open_board(new_page, "1366", locale)
    if handler is not None:
        await page.route("**/board/move*", handler)
    text = msgid if locale == "en" else ZH.gettext(msgid)
    text = text.replace("%(status)s", "502")

    await _drag(page, ticket.id, target.value, "colleague", [theirs.id])
    if target is S.COMPLETED:
        dialog = page.locator("[data-testid=resolution-dialog]")
        await dialog.locator("[data-testid=resolution-text]").fill("会被清空的处理结果")
        await dialog.locator("[data-testid=resolution-submit]").click()

    toast = _toast(page)
    await expect(toast).to_contain_text(text)
    # Back where the server says it is, with the version it has.
    home = page.locator(f"[data-testid=column-{source.value}] #card-{ticket.id}")
    await expect(home).to_be_visible()
    await expect(home).to_have_attribute("data-version", str(ticket.version))
    await expect(
        page.locator(f"[data-testid=column-{target.value}] #card-{ticket.id}")
    ).to_have_count(0)
    await page.screenshot(path=screenshot_path(f"drop-failed-{failure}"))
    after = await _row(db, ticket.id)
    assert (after.status, after.version) == (source, ticket.version)
    assert await _audit_count(db, ticket.id) == audits

    await expect(page.locator(f"#card-{ticket.id}.is-moving")).to_have_count(0)
    if failure == "network-en":  # the toast leaves by itself (after 6 s on the board)…
        await expect(toast).to_have_count(0, timeout=20_000)
    else:  # …or at once with its ×
        await toast.locator(".flash-close").click()
        await expect(toast).to_have_count(0)
