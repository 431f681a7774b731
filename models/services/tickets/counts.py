"""The kept board counts (see :mod:`models.ticket_count`): read, fold, rebuild.

A column count or a matrix cell is a sum over the folded counts plus the changes appended since
the last fold — a few hundred rows whatever the number of tickets. Filters the counts are not
keyed on (mine, customer level, SLA state, text) still count the tickets themselves
(:func:`models.services.tickets.board.counts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from models.enums import Priority, RequestType, TicketStatus
from models.ticket import Ticket
from models.ticket_count import (
    DONE,
    NO_DEPARTMENT,
    NO_TYPE,
    CountKey,
    TicketCount,
    TicketCountChange,
)

PRESSING = (Priority.URGENT, Priority.HIGH)


@dataclass(frozen=True)
class Figures:
    """One department's tickets in one state."""

    count: int
    pressing: int  # urgent or high priority
    finished_late: int  # done after the resolution deadline (done states only)


async def figures(
    session: AsyncSession,
    *,
    statuses: Sequence[TicketStatus] | None = None,
    department_id: int | None = None,
    unrouted: bool = False,
    request_type: RequestType | None = None,
    priority: Priority | None = None,
) -> dict[tuple[int | None, TicketStatus], Figures]:
    """Tickets on the boards per (department id or None, state) under the keyed filters."""
    parts = []
    for table in (TicketCount, TicketCountChange):
        part = select(table.department_key, table.status, table.priority, table.late, table.n)
        if statuses is not None:
            part = part.where(table.status.in_(statuses))
        if unrouted:
            part = part.where(table.department_key == NO_DEPARTMENT)
        elif department_id:
            part = part.where(table.department_key == department_id)
        if request_type:
            part = part.where(table.request_type == str(request_type))
        if priority:
            part = part.where(table.priority == priority)
        parts.append(part)
    both = union_all(*parts).subquery()
    stmt = select(
        both.c.department_key,
        both.c.status,
        func.sum(both.c.n),
        func.sum(case((both.c.priority.in_(PRESSING), both.c.n), else_=0)),
        func.sum(case((both.c.late, both.c.n), else_=0)),
    ).group_by(both.c.department_key, both.c.status)
    found = {}
    for dept, status, n, hot, late in (await session.execute(stmt)).all():
        if n:
            key = (None if dept == NO_DEPARTMENT else int(dept), TicketStatus(status))
            found[key] = Figures(int(n), int(hot or 0), int(late or 0))
    return found


async def by_state(
    session: AsyncSession,
    statuses: Sequence[TicketStatus],
    *,
    department_id: int | None = None,
    unrouted: bool = False,
    request_type: RequestType | None = None,
    priority: Priority | None = None,
) -> dict[TicketStatus, int]:
    """Tickets on the boards per state (every department, or the one asked for)."""
    totals: Counter[TicketStatus] = Counter()
    found = await figures(
        session,
        statuses=statuses,
        department_id=department_id,
        unrouted=unrouted,
        request_type=request_type,
        priority=priority,
    )
    for (_, status), entry in found.items():
        totals[status] += entry.count
    return {status: totals[status] for status in statuses}


def _upsert(session: AsyncSession) -> type[sqlite.Insert] | type[postgresql.Insert]:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.Insert if dialect == "postgresql" else sqlite.Insert


async def fold(session: AsyncSession) -> int:
    """Fold the appended changes into the counts; returns how many changes were folded.

    The changes are deleted and returned by one statement, so two folds at once (two workers)
    never fold the same change twice; each key's row is then upserted, in key order."""
    table = TicketCountChange
    returned = await session.execute(
        delete(table).returning(
            table.department_key,
            table.status,
            table.priority,
            table.request_type,
            table.late,
            table.n,
        )
    )
    diff: Counter[CountKey] = Counter()
    folded = 0
    for dept, status, priority, request_type, late, n in returned.all():
        diff[CountKey(dept, TicketStatus(status), Priority(priority), request_type, late)] += n
        folded += 1
    upsert = _upsert(session)
    for key, n in sorted(diff.items()):
        if not n:
            continue
        stmt = upsert(TicketCount).values(**key._asdict(), n=n)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(CountKey._fields),
            set_={"n": TicketCount.n + literal_column(str(int(n)))},
        )
        await session.execute(stmt)
    return folded


def late_clause() -> ColumnElement[bool]:
    """SQL for :func:`models.ticket_count.finished_late`."""
    done_at = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    return and_(
        Ticket.status.in_(DONE),
        Ticket.resolution_due.is_not(None),
        or_(done_at.is_(None), done_at > Ticket.resolution_due),
    )


def recount() -> Insert:
    """The statement that counts every ticket into an empty ``ticket_counts`` (one grouped
    read of the board index; the migration that added the counts runs it too)."""
    dept = func.coalesce(Ticket.department_id, NO_DEPARTMENT)
    kind = func.coalesce(type_coerce(Ticket.request_type, String), NO_TYPE)
    late = case((late_clause(), True), else_=False)
    grouped = (
        select(dept, Ticket.status, Ticket.priority, kind, late, func.count())
        .where(Ticket.merged_into_id.is_(None))
        .group_by(dept, Ticket.status, Ticket.priority, kind, late)
    )
    return insert(TicketCount).from_select([*CountKey._fields, "n"], grouped)


async def rebuild(session: AsyncSession) -> None:
    """Count every ticket again (after statements that wrote tickets in bulk)."""
    await session.execute(delete(TicketCountChange))
    await session.execute(delete(TicketCount))
    await session.execute(recount())
