"""A board that fits the day: SLA badges only on open work; filters that apply on change;
done columns collapsed to their newest cards with "show more"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from models.base import utcnow
from models.enums import TicketStatus
from models.services.sla import policy
from models.services.tickets import board
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import actor, make_ticket, version_of
from tests.integration.tickets.test_board_moves import post_move

pytestmark = pytest.mark.usefixtures("reference")


def card_html(page: str, ticket_id: int) -> str:
    """The markup of one card on a rendered board."""
    found = re.search(rf'<li class="[^"]*"\s+id="card-{ticket_id}".*?</li>', page, re.S)
    assert found, ticket_id
    return found.group(0)


@pytest.fixture
async def one_per_state(db: Any, reference: dict[str, int]) -> dict[TicketStatus, int]:
    return {
        status: await make_ticket(db, reference, text=f"状态 {status.value} 的工单", status=status)
        for status in TicketStatus
    }


async def test_only_open_cards_carry_an_sla_badge_even_long_past_the_deadline(
    db: Any, one_per_state: dict[TicketStatus, int]
) -> None:
    viewer = await actor(db, "lead")
    late = utcnow() + timedelta(days=60)  # every deadline has passed
    async with db.sessionmaker() as session:
        columns = await board.load_board(session, viewer, board.BoardFilters(), now=late)
    cards = {c.status: c for col in columns for c in col.cards}
    for status, card in cards.items():
        assert card.sla_shown is (status in policy.OPEN_STATES), status
    assert cards[TicketStatus.PENDING].sla_state.value == "breached"


async def test_a_closed_card_shows_no_sla_badge_on_the_page(
    client: Any, one_per_state: dict[TicketStatus, int]
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    page = (await client.get("/board")).text
    for status, ticket_id in one_per_state.items():
        html = card_html(page, ticket_id)
        shown = 'data-testid="sla"' in html
        assert shown is (status in policy.OPEN_STATES), status
        assert (" sla-" in html.split(">", 1)[0]) is shown, status  # nor the card's colour
    # The card fragment a live refresh reads agrees.
    closed = one_per_state[TicketStatus.CLOSED]
    fragment = (await client.get(f"/board/cards/{closed}")).text
    assert f'id="card-{closed}"' in fragment and 'data-testid="sla"' not in fragment


async def test_the_filter_bar_applies_on_change_and_keeps_its_no_js_button(
    client: Any, one_per_state: dict[TicketStatus, int]
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/board?type=consultation")).text
    form = re.search(r'<form class="filters".*?>', page, re.S)
    assert form
    bar = form.group(0)
    assert 'method="get" action="/board"' in bar  # works without JavaScript
    assert 'hx-get="/board"' in bar and 'hx-push-url="true"' in bar  # and on change, as a link
    assert 'hx-trigger="change, submit, input delay:400ms from:#filter-q"' in bar
    assert 'hx-select="#board"' in bar and 'hx-target="#board"' in bar
    assert '<button type="submit">' in page
    # The links that depend on the filters are swapped with the board. "Clear" asks for every
    # department explicitly (a bare /board restores the person's remembered board).
    assert re.search(
        r'id="filter-links".*?href="/board\?department=all".*?/board/matrix\?type=consultation',
        page,
        re.S,
    )
    # An htmx request for a filtered board (what the form sends) renders the filtered board.
    response = await client.get("/board?mine=1", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="board"' in response.text and 'data-query="mine=1"' in response.text


async def test_the_matrix_filter_bar_refreshes_the_matrix(client: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    page = (await client.get("/board/matrix")).text
    assert 'hx-get="/board/matrix"' in page and 'hx-select="#matrix"' in page
    assert 'id="matrix"' in page


@pytest.fixture
async def history(
    db: Any, reference: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> dict[str, list[int]]:
    """Five closed tickets (closed in creation order), four pending, one completed; the done
    columns show three cards a page."""
    monkeypatch.setattr(board, "DONE_PAGE_SIZE", 3)
    return {
        "closed": [
            await make_ticket(db, reference, text=f"工单 已关闭 {i}", status=TicketStatus.CLOSED)
            for i in range(5)
        ],
        "pending": [await make_ticket(db, reference, text=f"工单 待处理 {i}") for i in range(4)],
        "completed": [
            await make_ticket(db, reference, text="已完成", status=TicketStatus.COMPLETED)
        ],
    }


@pytest.mark.parametrize("q", ["", "工单"])  # the per-column path and the one-pass path
async def test_done_columns_show_their_newest_cards_first_and_a_page_at_a_time(
    db: Any, history: dict[str, list[int]], q: str
) -> None:
    viewer = await actor(db, "lead")
    filters = board.BoardFilters(q=q)
    async with db.sessionmaker() as session:
        columns = {c.status: c for c in await board.load_board(session, viewer, filters)}
        closed = columns[TicketStatus.CLOSED]
        assert closed.collapsed and closed.count == 5
        assert [c.id for c in closed.cards] == history["closed"][::-1][:3]  # newest first
        assert closed.next_offset == 3
        rest, after = await board.column_cards(
            session, viewer, TicketStatus.CLOSED, filters, offset=closed.next_offset
        )
        assert [c.id for c in rest] == history["closed"][::-1][3:] and after is None
        pending = columns[TicketStatus.PENDING]  # open work is not collapsed
        assert not pending.collapsed and pending.next_offset is None
        assert {c.id for c in pending.cards} == set(history["pending"])


async def test_show_more_loads_the_next_page_of_a_collapsed_column(
    client: Any, history: dict[str, list[int]]
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    page = (await client.get("/board?department=all")).text  # every department, explicitly
    assert 'data-testid="show-more-closed"' in page
    assert 'hx-get="/board/columns/closed/more?offset=3&department=all"' in page
    assert (
        'data-testid="show-more-pending"' not in page and 'data-testid="more-pending"' not in page
    )
    assert re.search(r'data-testid="count-closed"[^>]*>5<', page)
    more = await client.get("/board/columns/closed/more?offset=3", headers={"HX-Request": "true"})
    assert more.status_code == 200
    assert [int(i) for i in re.findall(r'id="card-(\d+)"', more.text)] == history["closed"][1::-1]
    assert "show-more-closed" not in more.text
    # The button is a real button, labelled in the person's language.
    assert "显示更多" in page
    # A bad offset is a clear 4xx, never a 500.
    bad = await client.get("/board/columns/closed/more?offset=abc", headers={"HX-Request": "true"})
    assert 400 <= bad.status_code < 500


async def test_a_drop_on_a_collapsed_column_lands_on_its_first_page(
    client: Any, db: Any, history: dict[str, list[int]]
) -> None:
    done = history["completed"][0]
    await sign_in(client, "lead", "kefu-lead")
    response = await post_move(client, done, "closed", await version_of(db, done))
    assert response.status_code == 200
    assert re.search(r'data-testid="count-closed"[^>]*>6<', response.text)
    column = (await client.get("/board/columns/closed")).text  # as any board re-reads it
    ids = [int(i) for i in re.findall(r'id="card-(\d+)"', column)]
    assert ids[0] == done and len(ids) == 3  # the newest closed card, on the collapsed page
