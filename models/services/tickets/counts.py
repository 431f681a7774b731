"""The kept board counts (see :mod:`models.ticket_count`): read, fold, rebuild.

A column count or a matrix cell is a sum over the folded counts plus the changes appended since
the last fold — a few hundred rows whatever the number of tickets. The open work past its
deadline is the kept work due before today plus today's part, counted over the tickets that
fall due today. Filters the counts are not keyed on (mine, customer level, SLA state, text)
still count the tickets themselves (:func:`models.services.tickets.board.counts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement

from models.base import UTCDateTime
from models.enums import Priority, RequestType, TicketStatus
from models.services.sla.policy import OPEN_STATES
from models.ticket import Ticket
from models.ticket_count import (
    COUNT_COLUMNS,
    DAY,
    DONE,
    DUE_COLUMNS,
    EPOCH,
    NO_DEPARTMENT,
    NO_TYPE,
    NOT_RUNNING,
    CountKey,
    TicketCount,
    TicketCountChange,
    TicketDueCount,
    utc_day,
)

PRESSING = (Priority.URGENT, Priority.HIGH)


# --- instants in SQL -------------------------------------------------------------------------


class epoch(FunctionElement[float]):
    """Seconds of an instant on a linear scale (only differences are meaningful)."""

    type = Float()
    name = "kefu_epoch"
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"(julianday({compiler.process(element.clauses, **kw)}) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"extract(epoch from {compiler.process(element.clauses, **kw)})"


class day_of(FunctionElement[int]):
    """:func:`models.ticket_count.utc_day` in SQL, exactly (whole days, no float seconds)."""

    type = Integer()
    name = "kefu_utc_day"
    inherit_cache = True


@compiles(day_of, "sqlite")
def _day_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC instants as ISO text: its date part's julian day is exact (n + 0.5).
    value = compiler.process(element.clauses, **kw)
    return f"CAST(julianday(date({value})) - 2440587.5 AS INTEGER)"


@compiles(day_of)
def _day_default(element: Any, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"(CAST(({value} AT TIME ZONE 'UTC') AS DATE) - DATE '1970-01-01')"


def running() -> ColumnElement[bool]:
    """Open work whose clock runs (not waiting for the customer)."""
    return and_(Ticket.status.in_(OPEN_STATES), Ticket.paused_since.is_(None))


def effective_due() -> ColumnElement[Any]:
    """The deadline a card's clock shows: the first response while unanswered, if sooner."""
    first_sooner = and_(
        Ticket.first_responded_at.is_(None),
        Ticket.first_response_due.is_not(None),
        or_(Ticket.resolution_due.is_(None), Ticket.first_response_due < Ticket.resolution_due),
    )
    return case((first_sooner, Ticket.first_response_due), else_=Ticket.resolution_due)


@dataclass(frozen=True)
class Figures:
    """One department's tickets in one state."""

    count: int
    pressing: int  # urgent or high priority
    finished_late: int  # done after the resolution deadline (done states only)


_S = TypeVar("_S", bound=Select)


def _keyed(
    part: _S,
    table: Any,
    *,
    statuses: Sequence[TicketStatus] | None = None,
    department_id: int | None = None,
    unrouted: bool = False,
    request_type: RequestType | None = None,
    priority: Priority | None = None,
) -> _S:
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
    return part


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
    parts = [
        _keyed(
            select(table.department_key, table.status, table.priority, table.late, table.n),
            table,
            statuses=statuses,
            department_id=department_id,
            unrouted=unrouted,
            request_type=request_type,
            priority=priority,
        )
        for table in (TicketCount, TicketCountChange)
    ]
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


async def due_before(
    session: AsyncSession,
    day: int,
    *,
    request_type: RequestType | None = None,
    priority: Priority | None = None,
) -> dict[tuple[int | None, TicketStatus], int]:
    """Open work whose clock runs and whose deadline fell on a UTC day before ``day``, per
    (department id or None, state)."""
    parts = [
        _keyed(
            select(table.department_key, table.status, table.n).where(
                table.due_day != NOT_RUNNING, table.due_day < day
            ),
            table,
            request_type=request_type,
            priority=priority,
        )
        for table in (TicketDueCount, TicketCountChange)
    ]
    both = union_all(*parts).subquery()
    stmt = select(both.c.department_key, both.c.status, func.sum(both.c.n)).group_by(
        both.c.department_key, both.c.status
    )
    return {
        (None if dept == NO_DEPARTMENT else int(dept), TicketStatus(status)): int(n)
        for dept, status, n in (await session.execute(stmt)).all()
        if n
    }


async def overdue_today(
    session: AsyncSession,
    now: datetime,
    *,
    request_type: RequestType | None = None,
    priority: Priority | None = None,
) -> dict[tuple[int | None, TicketStatus], int]:
    """Open work whose deadline fell earlier today (UTC) and before ``now``, per (department id
    or None, state), counted over the tickets due today (read off the two deadline indexes).
    With :func:`due_before` of today: all open work past its deadline."""
    today = utc_day(now)
    start = EPOCH + today * DAY
    since, until = literal(start, UTCDateTime()), literal(now, UTCDateTime())
    due = effective_due()
    late = [running(), due >= since, due < until, Ticket.merged_into_id.is_(None)]
    if request_type:
        late.append(Ticket.request_type == request_type)
    if priority:
        late.append(Ticket.priority == priority)
    # Every ticket with a deadline in that span, off one deadline index each; which of them is
    # open work that ran past its deadline is a condition inside the sum, not the WHERE (asked
    # there, the state led SQLite without statistics to read every open ticket off a
    # state-first index).
    stmt = (
        select(Ticket.department_id, Ticket.status, func.sum(case((and_(*late), 1), else_=0)))
        .where(
            or_(
                and_(Ticket.first_response_due >= since, Ticket.first_response_due < until),
                and_(Ticket.resolution_due >= since, Ticket.resolution_due < until),
            )
        )
        .group_by(Ticket.department_id, Ticket.status)
    )
    return {
        (dept, TicketStatus(status)): int(n)
        for dept, status, n in (await session.execute(stmt)).all()
        if n
    }


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
            table.due_day,
            table.n,
        )
    )
    counted: Counter[tuple[Any, ...]] = Counter()
    due: Counter[tuple[Any, ...]] = Counter()
    folded = 0
    for dept, status, priority, request_type, late, due_day, n in returned.all():
        key = CountKey(dept, TicketStatus(status), Priority(priority), request_type, late, due_day)
        counted[key.counted()] += n
        if (due_key := key.due()) is not None:
            due[due_key] += n
        folded += 1
    upsert = _upsert(session)
    for model, columns, diff in (
        (TicketCount, COUNT_COLUMNS, counted),
        (TicketDueCount, DUE_COLUMNS, due),
    ):
        for values, n in sorted(diff.items()):
            if not n:
                continue
            stmt = upsert(model).values(**dict(zip(columns, values, strict=True)), n=n)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(columns),
                set_={"n": model.n + literal_column(str(int(n)))},
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
    return insert(TicketCount).from_select([*COUNT_COLUMNS, "n"], grouped)


def recount_due() -> Insert:
    """The statement that counts the open work whose clock runs into an empty
    ``ticket_due_counts``, by the UTC day each falls due."""
    dept = func.coalesce(Ticket.department_id, NO_DEPARTMENT)
    kind = func.coalesce(type_coerce(Ticket.request_type, String), NO_TYPE)
    due = effective_due()
    day = day_of(due)
    grouped = (
        select(dept, Ticket.status, Ticket.priority, kind, day, func.count())
        .where(Ticket.merged_into_id.is_(None), running(), due.is_not(None))
        .group_by(dept, Ticket.status, Ticket.priority, kind, day)
    )
    return insert(TicketDueCount).from_select([*DUE_COLUMNS, "n"], grouped)


async def rebuild(session: AsyncSession) -> None:
    """Count every ticket again (after statements that wrote tickets in bulk)."""
    await session.execute(delete(TicketCountChange))
    await session.execute(delete(TicketCount))
    await session.execute(delete(TicketDueCount))
    await session.execute(recount())
    await session.execute(recount_due())
