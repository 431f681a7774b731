"""The department matrix: departments × states, coloured cells, links to the filtered board."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest

from models.base import utcnow
from models.enums import TicketStatus, Urgency
from models.services.tickets import board
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import actor, make_ticket

pytestmark = pytest.mark.usefixtures("reference")


def cell(page: str, department: str, status: str) -> str:
    found = re.search(rf'data-testid="cell-{department}-{status}">(.*?)</td>', page, re.S)
    assert found, (department, status)
    return found.group(1)


async def test_matrix_counts_colours_and_links(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    support, tech = reference["SUPPORT"], reference["TECH"]
    await make_ticket(db, reference)
    await make_ticket(db, reference, urgency=Urgency.URGENT)
    await make_ticket(db, reference, status=TicketStatus.IN_PROGRESS)
    await make_ticket(db, reference, department="TECH", status=TicketStatus.CLOSED)
    await make_ticket(db, reference, department=None, request_type=None)
    await sign_in(client, "lead", "kefu-lead")
    page = (await client.get("/board/matrix")).text

    pending = cell(page, str(support), "pending")
    assert ">2<" in pending and "1 单紧急/高" in pending
    assert f'href="/board?department={support}#column-pending"' in html.unescape(pending)
    assert 'class="cell tone-pressing"' in page.split(f'cell-{support}-pending"')[0][-40:]
    assert ">1<" in cell(page, str(support), "in_progress")
    assert ">1<" in cell(page, str(tech), "closed")
    # Finished work is never alarming, whatever its history.
    assert 'class="cell tone-calm"' in page.split(f'cell-{tech}-closed"')[0][-40:]
    assert ">0<" in cell(page, str(tech), "pending")
    assert ">1<" in cell(page, "none", "pending")  # not routed yet
    assert "/board?department=none#column-pending" in html.unescape(cell(page, "none", "pending"))


async def test_matrix_marks_overdue_cells_and_links_to_them(
    db: Any, reference: dict[str, int]
) -> None:
    await make_ticket(db, reference)
    viewer = await actor(db, "lead")
    later = utcnow() + timedelta(days=30)  # every open deadline has passed by then
    async with db.sessionmaker() as session:
        rows = await board.matrix(session, viewer, board.BoardFilters(), now=later)
    support = next(r for r in rows if r.department and r.department.id == reference["SUPPORT"])
    pending = support.cells[0]
    assert pending.status is TicketStatus.PENDING
    assert (pending.count, pending.overdue, pending.tone) == (1, 1, "overdue")
    assert "sla=breached" in pending.overdue_link
    assert all(c.tone == "empty" for c in support.cells[1:])
    assert not any(r.department is None for r in rows)  # no unrouted row when none exist


async def test_matrix_keeps_the_other_filters(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    await make_ticket(db, reference, urgency=Urgency.URGENT)
    await make_ticket(db, reference, urgency=Urgency.LOW)
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/board/matrix?priority=low")).text
    support = cell(page, str(reference["SUPPORT"]), "pending")
    assert ">1<" in support
    assert "priority=low" in html.unescape(support)
