"""The core of the one write path for a ticket (used only by :mod:`.commands`).

Every command changes a ticket inside :func:`change`, which

* refuses a stale version — :func:`stale` is the one place a lost race becomes a
  :class:`Conflict`, whether the caller's version is seen to be old up front or the UPDATE
  matches nothing at the flush;
* lets the command set fields through :meth:`Change.set`, which audits each audited field
  that actually changed (:data:`AUDITED`);
* recomputes the priority rank and the SLA deadlines, auditing each deadline that moved;
* flushes — the version moves only if a column changed — and records one board event;
* rewrites the ticket's search index rows when a searched field (title, description, order
  number) changed, in the same transaction.

Nothing changed: no audit entry, no version bump, no board event.

The SLA tick is a bulk job; its two flag columns go through :func:`mark_overdue` and
:func:`reschedule_sla` here, which update many rows per statement (see their docstrings for
why they leave the version alone). The "customer replied" mark is cleared by
:func:`clear_customer_reply`, which leaves the version alone for the same reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from models.base import utcnow
from models.customer import Customer
from models.db import record_event
from models.enums import CustomerLevel, Priority
from models.services.common import audit, search
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict, NotFound
from models.services.common.priority import priority_rank
from models.services.sla import policy
from models.ticket import Ticket

DEADLINE_FIELDS = ("first_response_due", "acknowledge_due", "resolution_due")

AUDITED = frozenset(
    {
        "status",
        "assignee_id",
        "priority",
        "request_type",
        "type_source",
        "urgency",
        "department_id",
        "acknowledged_at",
        "overdue_since",
        "overdue_reason",
        *DEADLINE_FIELDS,
    }
)
"""The fields a person reads in the ticket's timeline; each change is one audit entry.

The other columns are bookkeeping that follows from these (rank, reminder instant, next SLA
check, the timestamps beside a move, the model's confidence) and is not audited on its own.
"""

STALE = N_("%(number)s was changed by someone else; it now shows their change.")

_ACTIONS = {"status": "move", "assignee_id": "assign", "overdue_reason": "overdue_reason"}


def stale(number: str, current: Ticket | None = None) -> Conflict:
    """The Conflict every write path raises for a lost race on a ticket."""
    return Conflict(STALE, number=number, current=current)


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise stale(ticket.number, ticket)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _action(field: str, after: Any) -> str:
    if field in DEADLINE_FIELDS:
        return "deadline"
    if field == "acknowledged_at":
        return "acknowledge" if after is not None else "change"
    return _ACTIONS.get(field, "change")


class Change:
    """The changes one command makes to one ticket (see :func:`change`)."""

    def __init__(self, session: AsyncSession, actor: Actor, ticket: Ticket, now: datetime):
        self.session = session
        self.actor = actor
        self.ticket = ticket
        self.now = now
        self.touched = False
        self.announce = False
        self.event = "ticket.updated"
        self.payload: dict[str, Any] = {}

    def set(self, field: str, value: Any) -> bool:
        """Set one column; an audited field that really changes gets its audit entry."""
        before = getattr(self.ticket, field)
        if before == value:
            return False
        if field in AUDITED:
            audit.record(
                self.session,
                self.actor,
                entity_type="ticket",
                entity_id=self.ticket.id,
                ticket_id=self.ticket.id,
                action=_action(field, value),
                field=field,
                before=_plain(before),
                after=_plain(value),
            )
        setattr(self.ticket, field, value)
        return True

    def touch(self) -> None:
        """The ticket changed outside its own columns (collaborators, a customer's reply):
        its version moves all the same, so open forms see the change."""
        self.touched = True

    def notify(self, event: str | None = None, **payload: Any) -> None:
        """Name the board event (and its extra payload); with no column change, still send it."""
        self.announce = True
        if event:
            self.event = event
        self.payload.update(payload)


async def customer_level(session: AsyncSession, ticket: Ticket) -> CustomerLevel:
    """The level the ticket's SLA targets and rank follow (its customer may not be loaded:
    a ticket just registered in this transaction)."""
    if "customer" not in inspect(ticket).unloaded:
        return CustomerLevel(ticket.customer.level)
    with session.no_autoflush:
        customer = await session.get(Customer, ticket.customer_id)
    if customer is None:
        raise NotFound(N_("Customer not found."))
    return CustomerLevel(customer.level)


@asynccontextmanager
async def change(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
    level: CustomerLevel | None = None,
) -> AsyncIterator[Change]:
    """One change to one ticket; see the module docstring for what it guarantees.

    ``level`` is the customer's level (default: the loaded ``ticket.customer``'s). Autoflush
    may send the UPDATE from any query inside the block, so the whole block turns a lost race
    into :func:`stale`.
    """
    check_version(ticket, expected_version)
    number, version = ticket.number, ticket.version
    if level is None:
        level = await customer_level(session, ticket)
    edit = Change(session, actor, ticket, now or utcnow())
    deadlines = {name: getattr(ticket, name) for name in DEADLINE_FIELDS}
    indexed = search.ticket_fields(ticket)
    try:
        yield edit
        edit.set("priority_rank", priority_rank(Priority(ticket.priority), level))
        await policy.refresh_deadlines(session, ticket, level, now=edit.now)
        for name, old in deadlines.items():
            new = getattr(ticket, name)
            if old != new:
                setattr(ticket, name, old)
                edit.set(name, new)
        if edit.touched:
            ticket.updated_at = edit.now
        await session.flush()
        if search.ticket_fields(ticket) != indexed:
            await search.index_ticket(session, ticket)
    except StaleDataError as exc:
        raise stale(number) from exc
    if ticket.version != version or edit.announce:
        record_event(
            session,
            edit.event,
            ticket_id=ticket.id,
            status=str(ticket.status),
            version=ticket.version,
            **edit.payload,
        )


# --- the SLA tick's bulk flags ------------------------------------------------------------


@dataclass(frozen=True)
class OverdueFlag:
    """A missed deadline the tick found: ticket, the rule that fired, the version it read."""

    ticket_id: int
    rule: str
    version: int


async def mark_overdue(
    session: AsyncSession, actor: Actor, flags: Sequence[OverdueFlag], now: datetime
) -> list[int]:
    """Set ``overdue_since`` on tickets not yet overdue, in one statement per call.

    Each ticket actually flagged gets one audit entry (``overdue``, the missed rule) and one
    board event; a ticket already overdue gets neither. Returns the flagged ticket ids.

    Exempt from the version bump, deliberately: the clock running out is not an edit. Bumping
    the version would make every open card and form for the ticket stale at the instant its
    deadline passes, and refuse the very agent who is finishing it with a 409. Nothing is
    lost by it: a concurrent command's UPDATE only writes the columns it changed, and the one
    command that clears the flag (an approved extension) reads it under the version check.
    """
    first: dict[int, OverdueFlag] = {}
    for flag in flags:
        first.setdefault(flag.ticket_id, flag)
    if not first:
        return []
    table = cast(Table, Ticket.__table__)
    rows = await session.execute(
        update(table)
        .where(table.c.id.in_(list(first)), table.c.overdue_since.is_(None))
        .values(overdue_since=now)
        .returning(table.c.id)
        .execution_options(report_days=False)
    )
    flagged = sorted(row[0] for row in rows)
    for ticket_id in flagged:
        flag = first[ticket_id]
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=ticket_id,
            ticket_id=ticket_id,
            action="overdue",
            field=flag.rule,
            after=now.isoformat(),
        )
        record_event(session, "ticket.updated", ticket_id=ticket_id, version=flag.version)
    return flagged


async def reschedule_sla(session: AsyncSession, updates: list[dict[str, Any]]) -> None:
    """Move each ticket's next SLA check (``sla_next_at``) on, many rows per statement.

    ``updates`` holds ``{"tid": id, "ver": version read, "nxt": instant}``. A ticket whose
    version moved since the tick read it is skipped: the command that changed it refreshed
    its deadlines, which set the next check. Not audited, no version bump, no board event:
    it is the tick's own schedule, shown nowhere and changing nothing a person sees.
    """
    if not updates:
        return
    table = cast(Table, Ticket.__table__)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("tid"), table.c.version == bindparam("ver"))
        .values(sla_next_at=bindparam("nxt"))
        .execution_options(report_days=False)
    )
    await session.execute(stmt, updates)


# --- the "customer replied" mark ----------------------------------------------------------


async def clear_customer_reply(
    session: AsyncSession, ticket_id: int, seen: datetime, *, version: int
) -> bool:
    """Clear the "customer replied" mark a staff member has just seen (``seen``: the mark's
    instant as their drawer read it); returns whether it was cleared.

    A mark set by a later message is left standing: the UPDATE only matches the instant that
    was seen. One board event, so every open board drops the mark; not audited (the mark is
    bookkeeping, the message itself is in the timeline).

    Exempt from the version bump, deliberately, like :func:`mark_overdue`: opening a ticket
    is not an edit. Bumping would turn the drag a colleague is making on the same card — or
    the opener's own card on the board — into a 409 for merely having looked at it. Nothing
    is lost: no command reads the mark to decide anything.
    """
    table = cast(Table, Ticket.__table__)
    rows = await session.execute(
        update(table)
        .where(table.c.id == ticket_id, table.c.customer_replied_at == seen)
        .values(customer_replied_at=None)
        .returning(table.c.id)
        .execution_options(report_days=False)
    )
    if rows.first() is None:
        return False
    record_event(session, "ticket.updated", ticket_id=ticket_id, version=version)
    return True
