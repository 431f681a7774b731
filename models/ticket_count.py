"""Kept board counts: how many tickets are on the boards per department, state, priority,
request type, "finished late" and the day open work falls due, so a column count or a matrix
cell is a sum over a few hundred rows instead of a count over every ticket (a million, on a
large installation).

Only the open work past its deadline depends on the clock: ``ticket_due_counts`` keeps the
open work whose clock runs per UTC day its deadline falls on (a separate table, so the counts
every board and move reads stay a few hundred rows), the work due before today is a sum of
those and only today's part is counted over the tickets (through the deadline indexes).

Every flush that inserts, changes or deletes a :class:`~models.ticket.Ticket` through the ORM
— the one write path, ticket registration, merges — appends the difference it makes to
``ticket_count_changes``, in the same transaction (so a rolled-back transaction or savepoint
takes its difference with it). Appending never waits for another transaction: two agents
moving cards of the same department and state write two rows, not one row twice, so counting
adds no lock and no deadlock to the write path. ``models.services.tickets.counts`` folds the
appended rows into ``ticket_counts`` (a worker job, every minute) and reads the sum of both;
statements that write tickets in bulk (the demo fill) rebuild the counts instead.

A merged duplicate is on no board and is not counted.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Integer, String, event, insert, inspect
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from models.base import Base
from models.enums import Priority, TicketStatus
from models.ticket import Ticket

DONE = frozenset({TicketStatus.COMPLETED, TicketStatus.CLOSED})
NO_DEPARTMENT = 0  # the key of tickets not routed yet (department ids start at 1)
NO_TYPE = ""  # the key of tickets not classified yet
NOT_RUNNING = 0  # the due day of work with no running clock (done, paused or no deadline)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class CountKey(NamedTuple):
    department_key: int
    status: TicketStatus
    priority: Priority
    request_type: str
    late: bool  # finished after the resolution deadline (done states only)
    due_day: int  # open, running work: the UTC day (since 1970-01-01) its card's deadline is on

    def counted(self) -> tuple[int, TicketStatus, Priority, str, bool]:
        """The key in ``ticket_counts``."""
        return (self.department_key, self.status, self.priority, self.request_type, self.late)

    def due(self) -> tuple[int, TicketStatus, Priority, str, int] | None:
        """The key in ``ticket_due_counts`` (None: no running clock)."""
        if self.due_day == NOT_RUNNING:
            return None
        return (self.department_key, self.status, self.priority, self.request_type, self.due_day)


COUNT_COLUMNS = ("department_key", "status", "priority", "request_type", "late")
DUE_COLUMNS = ("department_key", "status", "priority", "request_type", "due_day")


class _FoldedKey:
    """The key columns both folded tables start with (and their count)."""

    department_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[TicketStatus] = mapped_column(primary_key=True)
    priority: Mapped[Priority] = mapped_column(primary_key=True)
    request_type: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TicketCount(_FoldedKey, Base):
    """The folded counts: one row per key that has (or had) tickets."""

    __tablename__ = "ticket_counts"

    late: Mapped[bool] = mapped_column(Boolean, primary_key=True)


class TicketDueCount(_FoldedKey, Base):
    """The folded counts of open work whose clock runs, by the UTC day it falls due."""

    __tablename__ = "ticket_due_counts"

    due_day: Mapped[int] = mapped_column(Integer, primary_key=True)


class TicketCountChange(Base):
    """A difference not folded yet (+n or -n tickets under a key; folded into both tables)."""

    __tablename__ = "ticket_count_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_key: Mapped[int] = mapped_column(Integer)
    status: Mapped[TicketStatus] = mapped_column()
    priority: Mapped[Priority] = mapped_column()
    request_type: Mapped[str] = mapped_column(String(24))
    late: Mapped[bool] = mapped_column(Boolean)
    due_day: Mapped[int] = mapped_column(Integer, server_default="0")
    n: Mapped[int] = mapped_column(Integer)


def finished_late(
    status: TicketStatus,
    resolution_due: datetime | None,
    resolved_at: datetime | None,
    closed_at: datetime | None,
) -> bool:
    """A done ticket finished after its resolution deadline (the board's "breached" for done
    work; a done ticket with no finishing instant, which the write path never leaves, counts
    as late)."""
    if status not in DONE or resolution_due is None:
        return False
    done_at = resolved_at or closed_at
    return done_at is None or done_at > resolution_due


def utc_day(instant: datetime) -> int:
    """The UTC day an instant falls on, counted from 1970-01-01 (day 0)."""
    return (instant - EPOCH) // DAY


def running_due(
    status: TicketStatus,
    paused_since: datetime | None,
    first_responded_at: datetime | None,
    first_response_due: datetime | None,
    resolution_due: datetime | None,
) -> datetime | None:
    """The deadline a card's clock runs to (``sla.policy.card_state`` reads it too): none for
    done or paused work; the first response while unanswered, if it is the sooner."""
    if status in DONE or paused_since is not None:
        return None
    if first_responded_at is None and first_response_due is not None:
        return min(first_response_due, resolution_due) if resolution_due else first_response_due
    return resolution_due


def count_key(values: dict[str, Any]) -> CountKey | None:
    """The key a ticket with these column values is counted under (None: merged, uncounted)."""
    if values["merged_into_id"] is not None:
        return None
    status = TicketStatus(values["status"])
    due = running_due(
        status,
        values["paused_since"],
        values["first_responded_at"],
        values["first_response_due"],
        values["resolution_due"],
    )
    return CountKey(
        values["department_id"] or NO_DEPARTMENT,
        status,
        Priority(values["priority"]),
        str(values["request_type"] or NO_TYPE),
        finished_late(status, values["resolution_due"], values["resolved_at"], values["closed_at"]),
        utc_day(due) if due else NOT_RUNNING,
    )


KEY_COLUMNS = (
    "merged_into_id",
    "status",
    "department_id",
    "priority",
    "request_type",
    "resolution_due",
    "resolved_at",
    "closed_at",
    "paused_since",
    "first_responded_at",
    "first_response_due",
)


def _values(ticket: Ticket, *, before: bool) -> dict[str, Any]:
    state = inspect(ticket)
    values = {}
    for name in KEY_COLUMNS:
        added, unchanged, deleted = state.attrs[name].history
        if before:
            values[name] = deleted[0] if deleted else (unchanged[0] if unchanged else None)
        else:
            values[name] = added[0] if added else (unchanged[0] if unchanged else None)
    return values


def _changed(ticket: Ticket) -> bool:
    state = inspect(ticket)
    return any(state.attrs[name].history.has_changes() for name in KEY_COLUMNS)


@event.listens_for(Session, "after_flush")
def _append_changes(session: Session, _flush: UOWTransaction) -> None:
    diff: Counter[CountKey] = Counter()
    for obj in session.new:
        if isinstance(obj, Ticket) and (key := count_key(_values(obj, before=False))):
            diff[key] += 1
    for obj in session.dirty:
        if isinstance(obj, Ticket) and _changed(obj):
            old, new = count_key(_values(obj, before=True)), count_key(_values(obj, before=False))
            if old != new:
                if old:
                    diff[old] -= 1
                if new:
                    diff[new] += 1
    for obj in session.deleted:
        if isinstance(obj, Ticket) and (key := count_key(_values(obj, before=True))):
            diff[key] -= 1
    rows = [{**key._asdict(), "n": n} for key, n in sorted(diff.items()) if n]
    if rows:
        session.connection().execute(insert(TicketCountChange), rows)
