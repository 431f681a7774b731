"""The board and the reports read what they show off indexes, at any number of tickets.

Speed itself is measured in bench/; these tests pin the plans that make it: SQLite (which
keeps no statistics unless ANALYZE runs) must read the done columns in index order instead of
sorting them, the column counts and the matrix off the kept counts when they can (and the open
work that fell due today off the deadline indexes), and otherwise off the covering index.
PostgreSQL chooses its plans from statistics (on a handful of test rows it rightly scans the
table), so there the tests only check that the same indexes exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, text

from models.enums import TicketStatus
from models.services.reports import summary
from models.services.tickets import board
from tests.integration.tickets.test_board_helpers import actor, make_ticket

BOARD_INDEXES = {
    "ix_tickets_board",
    "ix_tickets_closed_order",
    "ix_tickets_completed_order",
    "ix_tickets_matrix",
}


async def _plans(db: Any, call: Any) -> list[tuple[str, str]]:
    """Each statement ``call`` ran, with SQLite's plan for it."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.sessionmaker() as session:
            await call(session)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    plans = []
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        for statement, parameters in seen:
            cursor = await raw.driver_connection.execute(  # type: ignore[union-attr]
                "EXPLAIN QUERY PLAN " + statement, parameters
            )
            plan = " | ".join(str(row[-1]) for row in await cursor.fetchall())
            plans.append((statement, plan))
    return plans


async def test_the_board_and_reports_use_their_indexes(
    db: Any, reference: dict[str, int], backend: str
) -> None:
    for status in (TicketStatus.CLOSED, TicketStatus.COMPLETED, TicketStatus.PENDING):
        await make_ticket(db, reference, text=f"工单 {status.value}", status=status)
    if backend != "sqlite":
        async with db.engine.connect() as conn:
            names = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("tickets")}
            )
            (partial,) = (
                await conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tickets_matrix'")
                )
            ).one()
        assert names >= BOARD_INDEXES and "WHERE (merged_into_id IS NULL)" in partial
        return
    async with db.engine.connect() as conn:
        partial_indexes = set(
            (
                await conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                    " AND sql LIKE '%WHERE merged_into_id IS NULL'"
                )
            )
            .scalars()
            .all()
        )
    assert partial_indexes == BOARD_INDEXES
    # Plans without statistics, as a database that never ran ANALYZE has them.
    async with db.engine.begin() as conn:
        if (
            await conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).first():
            await conn.exec_driver_sql("DELETE FROM sqlite_stat1")
    await db.engine.dispose()  # connections load statistics when they open
    lead = await actor(db, "lead")

    async def load(session: Any) -> None:
        await board.load_board(session, lead, board.BoardFilters())
        await board.matrix(session, lead, board.BoardFilters())
        # Filters the kept counts are not keyed on count the tickets themselves.
        await board.counts(session, lead, board.BoardFilters(mine=True))
        await board.matrix(session, lead, board.BoardFilters(mine=True))

    plans = await _plans(db, load)
    column_plans = [p for s, p in plans if "LIMIT" in s and "tickets.status = " in s]
    assert len(column_plans) == 5
    for plan in column_plans:
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # read in order, never sorted
    assert any("ix_tickets_closed_order" in p for p in column_plans)
    assert any("ix_tickets_completed_order" in p for p in column_plans)
    kept_counts = [s for s, _ in plans if "ticket_counts" in s]
    assert len(kept_counts) == 2, kept_counts  # the unfiltered board's counts and matrix
    # The open work past its deadline today: off the two deadline indexes.
    (today,) = [p for s, p in plans if "first_response_due >=" in s]
    assert "ix_tickets_first_response_due" in today and "ix_tickets_resolution_due" in today
    counts, matrix = [
        p for s, p in plans if "GROUP BY tickets" in s and "first_response_due >=" not in s
    ]
    assert any(name in counts for name in BOARD_INDEXES), counts  # a partial (board) index
    assert "ix_tickets_matrix" in matrix, matrix

    # And with statistics, as after `kefu demo` or a maintenance ANALYZE: a full index beside
    # the partial ones once won (a narrower (department_id, status) one for the matrix, the
    # board's own for the counts) and cost a table read per ticket.
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await db.engine.dispose()
    analyzed = await _plans(db, load)
    # (Today's deadlines are not pinned here: on these few rows the statistics rightly prefer
    # reading the table; on 100,000 they pick the two deadline indexes.)
    counts, matrix = [
        p for s, p in analyzed if "GROUP BY tickets" in s and "first_response_due >=" not in s
    ]
    assert any(name in counts for name in BOARD_INDEXES), counts
    assert "ix_tickets_matrix" in matrix, matrix

    period = summary.parse_period({}, today=summary.today_local(), tz="Asia/Shanghai")
    cohorts = await _plans(db, lambda session: summary.period_figures(session, period))
    assert cohorts and all("ix_tickets_merged_into_id" not in p for _, p in cohorts), cohorts
    assert any("ix_tickets_created_at" in p for _, p in cohorts), cohorts
