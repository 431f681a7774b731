"""Drill: 50 concurrent, conflicting moves of the same cards — no lost update, ever.

Each attempt runs in its own session (the service drill) or its own HTTP request (the board's
``POST /board/move``), all started together with ``asyncio.gather``. Whatever the interleaving:

* a card's final version is its starting version plus the number of moves that succeeded;
* there is exactly one ``move`` audit event per successful move;
* every refused attempt is a Conflict (409 over HTTP) — never a 500, never a silent overwrite.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import Database, unit_of_work
from models.enums import Channel, Role, TicketStatus
from models.services.common.actor import Actor
from models.services.common.errors import Conflict
from models.services.customers import registry
from models.services.tickets import commands
from models.user import User
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("drill")
CARDS = 5
ATTEMPTS = 50
FLIP = {
    TicketStatus.IN_PROGRESS: TicketStatus.AWAITING_CONFIRMATION,
    TicketStatus.AWAITING_CONFIRMATION: TicketStatus.IN_PROGRESS,
}


async def _lead(session: Any) -> Actor:
    user = await session.scalar(select(User).where(User.username == "lead"))
    return Actor(
        user_id=user.id, label=user.username, role=Role.LEAD, department_id=user.department_id
    )


async def _cards(db: Database, status: TicketStatus) -> dict[int, int]:
    """CARDS tickets brought to ``status``; returns {ticket id: version}."""
    ids = []
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="演练客户"))
        for n in range(CARDS):
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer.id, description=f"并发演练 {n}", channel=Channel.PHONE
                ),
            )
            ids.append(ticket.id)
    if status is not TicketStatus.PENDING:
        for ticket_id in ids:
            async with unit_of_work(db) as s:
                seen = await commands.get(s, ticket_id)
                await commands.move(
                    s, await _lead(s), ticket_id, status, expected_version=seen.version
                )
    return await _versions(db, ids)


async def _versions(db: Database, ids: list[int]) -> dict[int, int]:
    async with db.sessionmaker() as s:
        return {i: (await commands.get(s, i)).version for i in ids}


async def _states(db: Database, ids: list[int]) -> dict[int, TicketStatus]:
    async with db.sessionmaker() as s:
        return {i: TicketStatus((await commands.get(s, i)).status) for i in ids}


async def _move_events(db: Database) -> Counter[int]:
    async with db.sessionmaker() as s:
        rows = await s.execute(
            select(AuditEvent.ticket_id, func.count())
            .where(AuditEvent.action == "move")
            .group_by(AuditEvent.ticket_id)
        )
        return Counter({ticket_id: n for ticket_id, n in rows.all()})


def _check(
    start: dict[int, int],
    end: dict[int, int],
    wins: Counter[int],
    before: Counter[int],
    after: Counter[int],
) -> None:
    for ticket_id in start:
        assert end[ticket_id] == start[ticket_id] + wins[ticket_id], (
            f"card {ticket_id}: version {start[ticket_id]} → {end[ticket_id]} "
            f"after {wins[ticket_id]} successful moves"
        )
        assert after[ticket_id] - before[ticket_id] == wins[ticket_id], ticket_id


async def test_stale_version_race_has_one_winner_per_card(db: Database) -> None:
    """Everyone saw version v and drags the card at once: one wins, the rest are told."""
    start = await _cards(db, TicketStatus.PENDING)
    ids = list(start)
    before = await _move_events(db)

    async def attempt(n: int) -> tuple[int, str]:
        ticket_id = ids[n % CARDS]
        try:
            async with unit_of_work(db) as s:
                await commands.move(
                    s,
                    await _lead(s),
                    ticket_id,
                    TicketStatus.IN_PROGRESS,
                    expected_version=start[ticket_id],
                )
        except Conflict:
            return ticket_id, "conflict"
        except Exception as exc:  # anything else is a failed drill
            return ticket_id, f"{type(exc).__name__}: {exc}"
        return ticket_id, "moved"

    results = await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)))
    outcomes = Counter(outcome for _, outcome in results)
    assert set(outcomes) <= {"moved", "conflict"}, outcomes
    wins = Counter(ticket_id for ticket_id, outcome in results if outcome == "moved")
    assert wins == Counter(dict.fromkeys(ids, 1))
    assert outcomes["conflict"] == ATTEMPTS - CARDS
    _check(start, await _versions(db, ids), wins, before, await _move_events(db))
    assert set((await _states(db, ids)).values()) == {TicketStatus.IN_PROGRESS}


async def test_read_then_move_race_loses_no_update(db: Database) -> None:
    """Each attempt looks at the card, then flips it; interleavings decide who wins."""
    start = await _cards(db, TicketStatus.IN_PROGRESS)
    ids = list(start)
    before = await _move_events(db)
    rng = random.Random(8)

    async def attempt(n: int) -> tuple[int, str]:
        ticket_id = ids[n % CARDS]
        async with db.sessionmaker() as s:
            seen = await commands.get(s, ticket_id)
            version, status = seen.version, TicketStatus(seen.status)
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)  # a person's think time, in scheduler turns
        try:
            async with unit_of_work(db) as s:
                await commands.move(
                    s, await _lead(s), ticket_id, FLIP[status], expected_version=version
                )
        except Conflict:
            return ticket_id, "conflict"
        except Exception as exc:
            return ticket_id, f"{type(exc).__name__}: {exc}"
        return ticket_id, "moved"

    results = await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)))
    outcomes = Counter(outcome for _, outcome in results)
    assert set(outcomes) <= {"moved", "conflict"}, outcomes
    wins = Counter(ticket_id for ticket_id, outcome in results if outcome == "moved")
    assert all(wins[i] >= 1 for i in ids)  # the first attempt at each card cannot lose
    _check(start, await _versions(db, ids), wins, before, await _move_events(db))
    # Each success flipped the card once: parity of the wins gives the final column.
    states = await _states(db, ids)
    for ticket_id in ids:
        flipped = wins[ticket_id] % 2 == 1
        expected = TicketStatus.AWAITING_CONFIRMATION if flipped else TicketStatus.IN_PROGRESS
        assert states[ticket_id] is expected, ticket_id


async def test_board_move_endpoint_answers_409_to_every_loser(db: Database, client: Any) -> None:
    """The same race through the board's own endpoint, as htmx posts it after a drop."""
    start = await _cards(db, TicketStatus.PENDING)
    ids = list(start)
    before = await _move_events(db)
    await sign_in(client, "lead", "kefu-lead")
    token = client.cookies.get("kefu_csrf")

    async def attempt(n: int) -> tuple[int, int]:
        ticket_id = ids[n % CARDS]
        response = await client.post(
            "/board/move",
            data={
                "ticket_id": str(ticket_id),
                "version": str(start[ticket_id]),
                "status": TicketStatus.IN_PROGRESS.value,
            },
            headers={"hx-request": "true", "x-csrftoken": token},
        )
        return ticket_id, response.status_code

    results = await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)))
    statuses = Counter(status for _, status in results)
    assert set(statuses) <= {200, 409}, statuses
    wins = Counter(ticket_id for ticket_id, status in results if status == 200)
    assert wins == Counter(dict.fromkeys(ids, 1))
    assert statuses[409] == ATTEMPTS - CARDS
    _check(start, await _versions(db, ids), wins, before, await _move_events(db))
