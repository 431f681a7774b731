"""The kanban board's read side: columns, counts and card view-models.

Cards carry precomputed display facts (SLA state, age, level flags) so templates never branch
on raw rows. Columns list their first cards by priority rank (priority, then customer level),
then deadline; counts come from one grouped, indexed query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.base import utcnow
from models.customer import Customer
from models.enums import (
    CustomerLevel,
    Priority,
    RequestType,
    TicketStatus,
    TypeSource,
)
from models.services import sla
from models.services.actor import Actor
from models.services.deadlines import SlaState
from models.services.transitions import ORDER, targets
from models.ticket import Ticket
from models.user import User

PAGE_SIZE = 25


@dataclass(frozen=True)
class BoardFilters:
    mine: bool = False
    department_id: int | None = None
    request_type: RequestType | None = None
    priority: Priority | None = None
    sla_state: SlaState | None = None
    level: CustomerLevel | None = None
    q: str = ""

    def query_string(self) -> str:
        """The filters as URL parameters (shareable links, "load more")."""
        from urllib.parse import urlencode

        params = {
            "mine": "1" if self.mine else "",
            "department": str(self.department_id or ""),
            "type": str(self.request_type or ""),
            "priority": str(self.priority or ""),
            "sla": str(self.sla_state or ""),
            "level": str(self.level or ""),
            "q": self.q,
        }
        return urlencode({k: v for k, v in params.items() if v})


@dataclass(frozen=True)
class Card:
    id: int
    number: str
    version: int
    title: str
    status: TicketStatus
    customer_name: str
    customer_level: CustomerLevel
    is_key_customer: bool
    request_type: RequestType | None
    type_source: TypeSource | None
    type_confidence: float | None
    priority: Priority
    sla_state: SlaState
    sla_remaining_seconds: float | None
    assignee_name: str | None
    age_seconds: float
    is_repeat: bool
    overdue: bool
    moves: tuple[TicketStatus, ...]


@dataclass
class Column:
    status: TicketStatus
    count: int
    cards: list[Card] = field(default_factory=list)
    next_offset: int | None = None


def _filtered(stmt: Select, actor: Actor, filters: BoardFilters, now: datetime) -> Select:
    if filters.mine and actor.user_id is not None:
        stmt = stmt.where(Ticket.assignee_id == actor.user_id)
    if filters.department_id:
        stmt = stmt.where(Ticket.department_id == filters.department_id)
    if filters.request_type:
        stmt = stmt.where(Ticket.request_type == filters.request_type)
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.level:
        stmt = stmt.where(Customer.level == filters.level)
    if filters.sla_state is SlaState.BREACHED:
        stmt = stmt.where(Ticket.status.in_(sla.OPEN_STATES), Ticket.paused_since.is_(None),
                          Ticket.resolution_due < now)
    elif filters.sla_state is SlaState.OK:
        stmt = stmt.where(or_(Ticket.resolution_due >= now, Ticket.paused_since.is_not(None)))
    q = filters.q.strip()
    if q:
        # Substring match works for Chinese text without a tokenizer.
        stmt = stmt.where(or_(
            Ticket.number == q.upper(),
            Ticket.description.contains(q, autoescape=True),
            Ticket.title.contains(q, autoescape=True),
            Customer.name.contains(q, autoescape=True),
            Customer.number == q.upper(),
        ))
    return stmt


def _card(ticket: Ticket, customer: Customer, assignee: str | None, actor: Actor,
          now: datetime) -> Card:
    state = sla.card_state(ticket, now)
    level = CustomerLevel(customer.level)
    return Card(
        id=ticket.id, number=ticket.number, version=ticket.version, title=ticket.title,
        status=TicketStatus(ticket.status), customer_name=customer.name, customer_level=level,
        is_key_customer=level is not CustomerLevel.NORMAL,
        request_type=ticket.request_type, type_source=ticket.type_source,
        type_confidence=ticket.type_confidence, priority=Priority(ticket.priority),
        sla_state=state.state,
        sla_remaining_seconds=state.remaining.total_seconds() if state.remaining else None,
        assignee_name=assignee, age_seconds=(now - ticket.created_at).total_seconds(),
        is_repeat=ticket.is_repeat, overdue=ticket.overdue_since is not None,
        moves=tuple(targets(TicketStatus(ticket.status), actor)),
    )


async def column_cards(
    session: AsyncSession, actor: Actor, status: TicketStatus, filters: BoardFilters,
    *, offset: int = 0, limit: int = PAGE_SIZE, now: datetime | None = None,
) -> tuple[list[Card], int | None]:
    """One page of a column; the second value is the next page's offset, if any."""
    now = now or utcnow()
    assignee = aliased(User)
    stmt = (
        select(Ticket, Customer, assignee.display_name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(Ticket.status == status)
    )
    stmt = _filtered(stmt, actor, filters, now)
    stmt = stmt.order_by(Ticket.priority_rank, Ticket.resolution_due, Ticket.id)
    rows = (await session.execute(stmt.offset(offset).limit(limit + 1))).all()
    cards = [_card(t, c, a, actor, now) for t, c, a in rows[:limit]]
    return cards, (offset + limit if len(rows) > limit else None)


async def load_board(
    session: AsyncSession, actor: Actor, filters: BoardFilters, *, now: datetime | None = None
) -> list[Column]:
    """Every column with its count and first page of cards."""
    now = now or utcnow()
    count_stmt = (
        select(Ticket.status, func.count())
        .join(Customer, Customer.id == Ticket.customer_id)
        .group_by(Ticket.status)
    )
    counts = dict((await session.execute(_filtered(count_stmt, actor, filters, now))).all())
    columns = []
    for status in ORDER:
        cards, next_offset = await column_cards(session, actor, status, filters, now=now)
        columns.append(Column(status, int(counts.get(status, 0)), cards, next_offset))
    return columns


async def card(session: AsyncSession, actor: Actor, ticket_id: int) -> Card | None:
    assignee = aliased(User)
    row = (await session.execute(
        select(Ticket, Customer, assignee.display_name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(Ticket.id == ticket_id)
    )).first()
    return _card(row[0], row[1], row[2], actor, utcnow()) if row else None
