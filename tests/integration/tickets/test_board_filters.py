"""Board filters, alone and combined, through the URL; the SLA filter agrees with the cards."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from models.base import utcnow
from models.db import unit_of_work
from models.enums import CustomerLevel, Priority, RequestType, TicketStatus, Urgency
from models.services.sla.deadlines import SlaState
from models.services.tickets import board, commands
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import actor, make_ticket, version_of

pytestmark = pytest.mark.usefixtures("reference")

CARD_ID = re.compile(r'id="card-(\d+)"')


@pytest.fixture
async def desk(db: Any, reference: dict[str, int]) -> dict[str, int]:
    """A small desk: departments, types, levels, priorities, states, an assignee, Chinese."""
    t = {
        "printer": await make_ticket(
            db,
            reference,
            text="打印机无法连接网络，急！",
            customer_name="王芳",
            urgency=Urgency.URGENT,
            assignee="agent",
        ),
        "invoice": await make_ticket(
            db,
            reference,
            text="请问发票如何开具？",
            customer_name="北京云帆科技有限公司",
            level=CustomerLevel.VIP,
            status=TicketStatus.IN_PROGRESS,
        ),
        "refund": await make_ticket(
            db,
            reference,
            text="退货退款一直没有到账",
            customer_name="李强",
            department="AFTER",
            request_type=RequestType.AFTER_SALES,
            level=CustomerLevel.STRATEGIC,
            status=TicketStatus.AWAITING_CONFIRMATION,
        ),
        "complaint": await make_ticket(
            db,
            reference,
            text="The courier was rude. 快递员态度很差。",
            customer_name="Emma Smith",
            department="CARE",
            request_type=RequestType.COMPLAINT,
            urgency=Urgency.LOW,
            status=TicketStatus.CLOSED,
        ),
        "percent": await make_ticket(
            db,
            reference,
            text="折扣100%_不生效",
            customer_name="张伟",
            department=None,
            request_type=None,
        ),
    }
    # The agent collaborates on the complaint (so "mine" includes it).
    lead = await actor(db, "lead")
    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:
        await commands.add_collaborator(
            session,
            lead,
            t["complaint"],
            agent.user_id or 0,
            expected_version=await version_of(db, t["complaint"]),
        )
    return t


async def board_ids(client: Any, query: str) -> set[int]:
    response = await client.get(f"/board?{query}")
    assert response.status_code == 200
    return {int(i) for i in CARD_ID.findall(response.text)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Every department, chosen explicitly (a bare /board is the agent's own department).
        ("department=all", {"printer", "invoice", "refund", "complaint", "percent"}),
        ("mine=1", {"printer", "complaint"}),
        ("department={SUPPORT}", {"printer", "invoice"}),
        ("department={AFTER}", {"refund"}),
        ("department=none", {"percent"}),
        ("type=complaint", {"complaint"}),
        ("type=consultation", {"printer", "invoice"}),
        ("priority=urgent", {"printer"}),
        ("priority=high", {"invoice", "refund"}),
        ("level=vip", {"invoice"}),
        ("level=strategic", {"refund"}),
        ("q=打印机", {"printer"}),
        ("q=态度", {"complaint"}),
        ("q=courier", {"complaint"}),
        ("q=云帆", {"invoice"}),  # customer name, Chinese substring
        ("q=100%_", {"percent"}),  # LIKE wildcards are literal
        ("q=%", {"percent"}),
        ("q=_", {"percent"}),
        ("q=不存在的内容", set()),
        ("department={SUPPORT}&priority=high", {"invoice"}),
        ("mine=1&type=complaint", {"complaint"}),
        ("mine=1&department={SUPPORT}&priority=urgent&level=normal&q=网络", {"printer"}),
        ("type=after_sales&level=strategic&q=退款", {"refund"}),
        ("type=after_sales&level=vip", set()),
        ("sla=met", {"complaint"}),  # closed well before its deadline
        ("sla=met&type=consultation", set()),
        (
            "priority=bogus&level=nope&sla=x&department=abc",
            {"printer", "invoice", "refund", "complaint", "percent"},
        ),  # ignored, not refused
    ],
)
async def test_filter_combinations(
    client: Any,
    desk: dict[str, int],
    reference: dict[str, int],
    query: str,
    expected: set[str],
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    query = query.format(**{k: v for k, v in reference.items()})
    assert await board_ids(client, query) == {desk[name] for name in expected}


async def test_counts_follow_the_filters_and_the_number_finds_its_ticket(
    client: Any, desk: dict[str, int], db: Any
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/board?priority=high")).text
    assert re.search(r'data-testid="count-in_progress"[^>]*>1<', page)
    assert re.search(r'data-testid="count-awaiting_confirmation"[^>]*>1<', page)
    assert re.search(r'data-testid="count-pending"[^>]*>0<', page)
    async with db.sessionmaker() as session:
        number = (await commands.get(session, desk["refund"])).number
    assert await board_ids(client, f"q={number.lower()}") == {desk["refund"]}
    # The filters survive in the links the page builds (shareable, "load more", matrix).
    page = (await client.get("/board?type=complaint&q=态度")).text
    assert 'href="/board/matrix?type=complaint&amp;q=%E6%80%81%E5%BA%A6"' in page
    assert 'data-query="type=complaint&amp;q=%E6%80%81%E5%BA%A6"' in page


async def test_the_sla_filter_shows_exactly_the_cards_in_that_state(
    db: Any, desk: dict[str, int]
) -> None:
    """At several instants, filtering by an SLA state returns the cards that display it."""
    viewer = await actor(db, "lead")
    instants = [utcnow()]
    async with db.sessionmaker() as session:
        for ticket_id in desk.values():  # halfway, in the last fifth, and past each deadline
            ticket = await commands.get(session, ticket_id)
            for due in (ticket.first_response_due, ticket.resolution_due):
                if due is not None:
                    allowance = due - ticket.created_at
                    instants += [
                        ticket.created_at + allowance * 0.5,
                        ticket.created_at + allowance * 0.9,
                        due + timedelta(hours=1),
                    ]
    seen_states: set[SlaState] = set()
    async with db.sessionmaker() as session:
        for now in instants:
            everything = await board.load_board(session, viewer, board.BoardFilters(), now=now)
            shown = {c.id: c.sla_state for col in everything for c in col.cards}
            seen_states |= set(shown.values())
            for state in SlaState:
                columns = await board.load_board(
                    session, viewer, board.BoardFilters(sla_state=state), now=now
                )
                ids = {c.id for col in columns for c in col.cards}
                assert ids == {i for i, s in shown.items() if s is state}, (now, state)
                assert sum(col.count for col in columns) == len(ids)
    # The instants cover the interesting states, so the comparison above means something.
    assert {SlaState.OK, SlaState.AT_RISK, SlaState.BREACHED, SlaState.MET} <= seen_states


async def test_mine_is_empty_for_someone_with_no_tickets(client: Any, desk: dict[str, int]) -> None:
    await sign_in(client, "agent.after", "kefu-agent")
    assert await board_ids(client, "mine=1") == set()
    assert await board_ids(client, "mine=0") == set(desk.values())


async def test_the_priority_filter_uses_the_current_priority(
    db: Any, desk: dict[str, int], client: Any
) -> None:
    lead = await actor(db, "lead")
    async with unit_of_work(db) as session:
        await commands.change_priority(
            session,
            lead,
            desk["percent"],
            Priority.URGENT,
            expected_version=await version_of(db, desk["percent"]),
        )
    await sign_in(client, "agent", "kefu-agent")
    assert await board_ids(client, "priority=urgent") == {desk["printer"], desk["percent"]}
