"""Two people, one card: one wins, the other gets 409 and nothing is lost or overwritten."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import Priority, TicketStatus
from models.services.common.errors import Conflict
from models.services.tickets import commands
from models.settings import get_settings
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import (
    actor,
    htmx,
    make_ticket,
    status_of,
    version_of,
)
from web.app import create_app

pytestmark = pytest.mark.usefixtures("reference")

BASE = "http://testserver.local"


async def audit_actions(db: Any, ticket_id: int, action: str) -> list[str]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent.actor_label).where(
                AuditEvent.ticket_id == ticket_id, AuditEvent.action == action
            )
        )
        return list(rows.all())


async def test_two_browsers_move_the_same_card_one_gets_409(
    db: Any, redis: Any, reference: dict[str, int]
) -> None:
    """Two web processes (two app instances), two signed-in people, one card."""
    ticket_id = await make_ticket(db, reference, status=TicketStatus.IN_PROGRESS)
    seen = await version_of(db, ticket_id)  # both boards show this version
    async with (
        AsyncTestClient(app=create_app(get_settings()), base_url=BASE) as first,
        AsyncTestClient(app=create_app(get_settings()), base_url=BASE) as second,
    ):
        await sign_in(first, "agent", "kefu-agent")
        await sign_in(second, "lead", "kefu-lead")
        assert f'data-version="{seen}"' in (await second.get("/board")).text

        won = await first.post(
            "/board/move",
            data={"ticket_id": ticket_id, "version": seen, "status": "awaiting_confirmation"},
            headers=htmx(first.cookies.get("kefu_csrf")),
        )
        assert won.status_code == 200, won.text

        lost = await second.post(
            "/board/move",
            data={
                "ticket_id": ticket_id,
                "version": seen,
                "status": "awaiting_confirmation",
            },
            headers=htmx(second.cookies.get("kefu_csrf")),
        )
        assert lost.status_code == 409
        assert "已被他人修改" in lost.text

        # The loser's board re-reads the card: it shows the winner's change and new version.
        card = (await second.get(f"/board/cards/{ticket_id}")).text
        assert 'data-status="awaiting_confirmation"' in card
        assert f'data-version="{await version_of(db, ticket_id)}"' in card

    assert await status_of(db, ticket_id) is TicketStatus.AWAITING_CONFIRMATION
    assert await audit_actions(db, ticket_id, "move") == ["admin", "agent"]


async def test_a_stale_edit_after_a_move_is_refused_then_both_changes_survive(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    """A drawer edit made on an old version loses nothing: it is refused, redone, kept."""
    ticket_id = await make_ticket(db, reference)
    seen = await version_of(db, ticket_id)
    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:  # someone else takes the ticket meanwhile
        await commands.move(
            session, agent, ticket_id, TicketStatus.IN_PROGRESS, expected_version=seen
        )

    await sign_in(client, "lead", "kefu-lead")
    token = client.cookies.get("kefu_csrf")
    stale = await client.post(
        f"/tickets/{ticket_id}/priority",
        data={"priority": "urgent", "version": seen},
        headers=htmx(token),
    )
    assert stale.status_code == 409
    async with db.sessionmaker() as session:
        ticket = await commands.get(session, ticket_id)
        assert ticket.priority is Priority.MEDIUM
        assert ticket.status is TicketStatus.IN_PROGRESS

    fresh = await client.post(
        f"/tickets/{ticket_id}/priority",
        data={"priority": "urgent", "version": await version_of(db, ticket_id)},
        headers=htmx(token),
    )
    assert fresh.status_code == 200, fresh.text
    async with db.sessionmaker() as session:
        ticket = await commands.get(session, ticket_id)
        assert ticket.priority is Priority.URGENT
        assert ticket.status is TicketStatus.IN_PROGRESS
        assert ticket.assignee_id == agent.user_id


async def test_interleaved_service_calls_the_second_writer_gets_a_conflict(
    db: Any, reference: dict[str, int]
) -> None:
    """A reads, B reads, A writes (uncommitted), B writes (blocks), A commits, B conflicts."""
    ticket_id = await make_ticket(db, reference)
    seen = await version_of(db, ticket_id)
    agent = await actor(db, "agent")
    lead = await actor(db, "lead")

    async with unit_of_work(db) as session_a:
        await commands.move(
            session_a, agent, ticket_id, TicketStatus.IN_PROGRESS, expected_version=seen
        )

        async def second_writer() -> None:
            async with unit_of_work(db) as session_b:
                await commands.change_priority(
                    session_b, lead, ticket_id, Priority.URGENT, expected_version=seen
                )

        task = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)  # let B read the old version and reach its write
        assert not task.done()  # B waits for A's row lock (PostgreSQL) or write lock (SQLite)
    # A committed; B's UPDATE … WHERE version = seen now matches nothing.
    with pytest.raises(Conflict):
        await asyncio.wait_for(task, timeout=30)

    async with db.sessionmaker() as session:
        ticket = await commands.get(session, ticket_id)
        assert ticket.status is TicketStatus.IN_PROGRESS
        assert ticket.priority is Priority.MEDIUM
    for action in ("change", "deadline", "move"):
        assert "lead" not in await audit_actions(db, ticket_id, action)


async def test_many_concurrent_moves_exactly_one_wins(db: Any, reference: dict[str, int]) -> None:
    ticket_id = await make_ticket(db, reference)
    seen = await version_of(db, ticket_id)
    movers = [await actor(db, name) for name in ("agent", "lead", "admin", "agent.emma")]

    async def attempt(who: Any) -> str:
        try:
            async with unit_of_work(db) as session:
                await commands.move(
                    session, who, ticket_id, TicketStatus.IN_PROGRESS, expected_version=seen
                )
        except Conflict:
            return "conflict"
        return "moved"

    outcomes = await asyncio.gather(*(attempt(m) for m in movers * 2))
    assert outcomes.count("moved") == 1
    assert outcomes.count("conflict") == len(outcomes) - 1
    assert len(await audit_actions(db, ticket_id, "move")) == 1
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.ticket_id == ticket_id, AuditEvent.action == "assign")
        )
    assert count == 1
