"""The kept board counts always equal a count of the tickets themselves.

Random creates, moves (reopening done work included), type, priority and department changes,
merges, bulk moves, first responses, deadline extensions, a savepoint rolled back and a
transaction that fails go through the services; after each step the kept figures (folded or
not) are compared with the tickets counted one by one in Python, and the board's column counts
and the department matrix with the same figures counted in SQL over the tickets — the matrix at
several instants, so open work falls past its deadline earlier today, on earlier days and not
yet.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from models.base import utcnow
from models.db import unit_of_work
from models.enums import Priority, RequestType, TicketStatus
from models.services.common.errors import DomainError
from models.services.tickets import board, bulk, commands, write
from models.services.tickets import counts as kept
from models.services.tickets.transitions import TRANSITIONS
from models.settings import get_settings
from models.ticket import Ticket
from models.ticket_count import TicketCount, TicketCountChange, finished_late
from tests.integration.tickets.test_board_helpers import actor, make_ticket

DONE = (TicketStatus.COMPLETED, TicketStatus.CLOSED)


async def recounted(db: Any) -> dict[tuple[int | None, TicketStatus], kept.Figures]:
    """The figures counted ticket by ticket (the oracle)."""
    async with db.sessionmaker() as s:
        tickets = (await s.scalars(select(Ticket).where(Ticket.merged_into_id.is_(None)))).all()
    n: Counter[tuple[int | None, TicketStatus]] = Counter()
    hot: Counter[tuple[int | None, TicketStatus]] = Counter()
    late: Counter[tuple[int | None, TicketStatus]] = Counter()
    for t in tickets:
        key = (t.department_id, TicketStatus(t.status))
        n[key] += 1
        hot[key] += t.priority in (Priority.URGENT, Priority.HIGH)
        late[key] += finished_late(
            TicketStatus(t.status), t.resolution_due, t.resolved_at, t.closed_at
        )
    return {key: kept.Figures(n[key], hot[key], late[key]) for key in n}


def figures_of(matrix: list[board.MatrixRow]) -> list[Any]:
    """A matrix's figures (its links carry the filters)."""
    return [
        (row.department, [(c.status, c.count, c.overdue, c.pressing, c.tone) for c in row.cells])
        for row in matrix
    ]


# The matrix is compared at these instants from now: nothing due yet, first responses due
# earlier today or yesterday, resolution deadlines days and weeks ago.
LATER = [
    timedelta(0),
    timedelta(hours=3),
    timedelta(hours=30),
    timedelta(days=4),
    timedelta(days=40),
]


async def check(db: Any, lead: Any, reference: dict[str, int]) -> None:
    expected = await recounted(db)
    async with db.sessionmaker() as s:
        assert await kept.figures(s) == expected
        for filters in (
            board.BoardFilters(),
            board.BoardFilters(department_id=reference["SUPPORT"]),
            board.BoardFilters(unrouted=True),
            board.BoardFilters(request_type=RequestType.COMPLAINT),
            board.BoardFilters(priority=Priority.HIGH),
        ):
            # The same filters plus one the counts are not keyed on, which matches every
            # ticket here (a text every ticket holds), count the tickets themselves.
            counted = board.BoardFilters(**{**filters.__dict__, "q": "工单"})
            assert await board.counts(s, lead, filters, now=utcnow()) == await board.counts(
                s, lead, counted, now=utcnow()
            ), filters
            for later in LATER:
                now = utcnow() + later
                kept_matrix = await board.matrix(s, lead, filters, now=now)
                counted_matrix = await board.matrix(s, lead, counted, now=now)
                assert figures_of(kept_matrix) == figures_of(counted_matrix), (filters, later)


@pytest.mark.parametrize("seed", [7, 2026])
async def test_kept_counts_equal_a_count_of_the_tickets(
    db: Any, reference: dict[str, int], seed: int
) -> None:
    rng = random.Random(seed)
    lead = await actor(db, "lead")
    ids = [
        await make_ticket(
            db,
            reference,
            text=f"工单 {i}",
            department=rng.choice(["SUPPORT", None, "AFTER"]),
            status=rng.choice(list(TicketStatus)),
            request_type=rng.choice([None, *RequestType]),
        )
        for i in range(8)
    ]
    await check(db, lead, reference)
    departments = [None, *reference.values()]
    for step in range(30):
        op = rng.choice(
            [
                "create",
                "move",
                "move",
                "type",
                "priority",
                "department",
                "merge",
                "bulk",
                "respond",
                "extend",
                "savepoint",
                "fails",
                "fold",
            ]
        )
        async with db.sessionmaker() as s:
            live = (
                await s.scalars(
                    select(Ticket).where(Ticket.id.in_(ids), Ticket.merged_into_id.is_(None))
                )
            ).all()
        ticket = rng.choice(live)
        status = TicketStatus(ticket.status)
        targets = [t for (src, t) in TRANSITIONS if src is status]

        async def move_on(s: Any, ticket_id: int = ticket.id, targets: Any = targets) -> None:
            await commands.move(
                s,
                lead,
                ticket_id,
                rng.choice(targets),
                expected_version=None,
                resolution="已为客户解决。",
            )

        try:
            async with unit_of_work(db) as s:
                if op == "create":
                    ids.append(await make_ticket(db, reference, text=f"工单 new {step}"))
                elif op == "move" and targets:
                    await move_on(s)
                elif op == "type":
                    await commands.change_type(
                        s, lead, ticket.id, rng.choice(list(RequestType)), expected_version=None
                    )
                elif op == "priority":
                    await commands.change_priority(
                        s, lead, ticket.id, rng.choice(list(Priority)), expected_version=None
                    )
                elif op == "department":
                    row = await commands.get(s, ticket.id)
                    async with write.change(s, lead, row) as edit:
                        edit.set("department_id", rng.choice(departments))
                elif op == "merge" and len(live) > 2:
                    duplicate, primary = rng.sample(
                        [t for t in live if t.status != TicketStatus.CLOSED], 2
                    )
                    await commands.merge(
                        s, lead, duplicate.id, primary.id, other_customer_confirmed=True
                    )
                elif op == "bulk":
                    chosen = rng.sample([t.id for t in live], min(4, len(live)))
                    await bulk.apply(
                        s,
                        lead,
                        chosen,
                        bulk.BulkAction(bulk.BulkKind.MOVE, status=TicketStatus.IN_PROGRESS),
                    )
                elif op == "respond":
                    row = await commands.get(s, ticket.id)
                    async with write.change(s, lead, row) as edit:
                        edit.set("first_responded_at", None if row.first_responded_at else utcnow())
                elif op == "extend":
                    row = await commands.get(s, ticket.id)
                    async with write.change(s, lead, row) as edit:
                        days = rng.choice([-20, -2, 1, 3])  # a past deadline too
                        edit.set("extension_seconds", row.extension_seconds + days * 86400)
                elif op == "savepoint" and targets:
                    with pytest.raises(RuntimeError):
                        async with s.begin_nested():
                            await move_on(s)
                            raise RuntimeError("changed my mind")
                elif op == "fails" and targets:
                    await move_on(s)
                    raise RuntimeError("the request failed after the move")
                elif op == "fold":
                    await kept.fold(s)
        except (DomainError, RuntimeError, ValueError):
            pass
        await check(db, lead, reference)
    async with unit_of_work(db) as s:
        assert await kept.fold(s) > 0
    async with db.sessionmaker() as s:
        assert await s.scalar(select(TicketCountChange.id).limit(1)) is None
        assert await s.scalar(select(TicketCount.n).limit(1)) is not None
    await check(db, lead, reference)
    async with unit_of_work(db) as s:
        await kept.rebuild(s)
    await check(db, lead, reference)


async def test_a_ticket_finished_after_its_deadline_is_counted_late(
    db: Any, reference: dict[str, int]
) -> None:
    lead = await actor(db, "lead")
    ticket_id = await make_ticket(
        db, reference, text="工单 late", status=TicketStatus.AWAITING_CONFIRMATION
    )
    async with unit_of_work(db) as s:
        row = await commands.get(s, ticket_id)
        async with write.change(s, lead, row) as edit:
            edit.set("extension_seconds", -10 * 24 * 3600)  # its deadline now lies in the past
        assert row.resolution_due is not None and row.resolution_due < utcnow() - timedelta(days=1)
        await commands.move(
            s, lead, ticket_id, TicketStatus.COMPLETED, expected_version=None, resolution="好了"
        )
    async with db.sessionmaker() as s:
        found = await kept.figures(s, statuses=[TicketStatus.COMPLETED])
    assert found == {(reference["SUPPORT"], TicketStatus.COMPLETED): kept.Figures(1, 0, 1)}
    await check(db, lead, reference)


async def test_kefu_db_recount_repairs_counts_after_tickets_were_edited_in_sql(
    db: Any, reference: dict[str, int]
) -> None:
    lead = await actor(db, "lead")
    for text in ("工单 甲", "工单 乙"):
        await make_ticket(db, reference, text=text, status=TicketStatus.IN_PROGRESS)
    async with unit_of_work(db) as s:  # a bulk statement: no ORM flush, no kept difference
        await s.execute(update(Ticket).values(status=TicketStatus.CLOSED, closed_at=utcnow()))
    async with db.sessionmaker() as s:
        assert await kept.figures(s) != await recounted(db)

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", "db", "recount"],
        env={**os.environ, "KEFU_DATABASE_URL": get_settings().database_url},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(Path(__file__).parents[3]),
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "board counts rebuilt" in done.stdout
    await check(db, lead, reference)
