"""The kanban board's read side: columns, counts, cards, the ticket drawer and the matrix.

Cards and the drawer are view-models with precomputed display facts (SLA state and its
label, age, level flags, the moves this person may make), so templates never branch on raw
rows or literal status strings. Columns list their first cards by priority rank (priority,
then customer level), then deadline; counts come from one grouped query on the indexed
status column. The SLA filter is the same rule as the card's SLA state, written in SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import (
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from models.base import UTCDateTime, utcnow
from models.customer import Customer
from models.department import Department
from models.enums import (
    Channel,
    CustomerLevel,
    CustomerType,
    FollowUpMethod,
    Priority,
    RequestType,
    TicketStatus,
    TypeSource,
    Urgency,
)
from models.followup import FollowUp
from models.services.common import audit, delivery, search
from models.services.common.actor import Actor
from models.services.common.delivery import ReplyDelivery
from models.services.common.errors import N_
from models.services.customers import registry
from models.services.sla import policy
from models.services.sla.deadlines import SlaState
from models.services.tickets import assignment, attachments, commands, mentions, surveys
from models.services.tickets import counts as kept
from models.services.tickets.attachments import AttachmentView
from models.services.tickets.transitions import ORDER, TRANSITIONS, refusal, targets
from models.ticket import CLOSED_RECENCY, COMPLETED_RECENCY, Ticket, ticket_collaborators
from models.ticket_count import utc_day
from models.user import User

PAGE_SIZE = 25
# Done work is history: its columns start collapsed to the newest few, and load more on request.
DONE_PAGE_SIZE = 10
_S = TypeVar("_S", bound=Select)
HISTORY_SIZE = 10
AT_RISK_FRACTION = 0.2  # the default of deadlines.sla_state, which the cards use
DONE_STATES = (TicketStatus.COMPLETED, TicketStatus.CLOSED)


def collapsed(status: TicketStatus) -> bool:
    """Whether a column starts collapsed (done work: newest first, a page at a time)."""
    return status in DONE_STATES


def page_size(status: TicketStatus) -> int:
    return DONE_PAGE_SIZE if collapsed(status) else PAGE_SIZE


def _done_recency() -> ColumnElement[Any]:
    """When a done ticket was finished (None for open work, which has no such order)."""
    return case(
        (Ticket.status == TicketStatus.CLOSED, CLOSED_RECENCY),
        (Ticket.status == TicketStatus.COMPLETED, COMPLETED_RECENCY),
        else_=None,
    )


def _column_order() -> tuple[Any, ...]:
    """A column's card order: open work by priority rank then deadline; done work newest first.

    One expression for every column, so the single-pass window ranks them alike.
    """
    return (
        _done_recency().desc(),
        Ticket.priority_rank,
        Ticket.resolution_due,
        Ticket.id,
    )


def column_order(status: TicketStatus) -> tuple[Any, ...]:
    """:func:`_column_order` within one column, without the parts that are constant there:
    what the board indexes on (``ix_tickets_board``, ``ix_tickets_closed_order``,
    ``ix_tickets_completed_order``), so a column's page is read in order, not sorted."""
    rest = (Ticket.priority_rank, Ticket.resolution_due, Ticket.id)
    if status is TicketStatus.CLOSED:
        return (CLOSED_RECENCY.desc(), *rest)
    if status is TicketStatus.COMPLETED:
        return (COMPLETED_RECENCY.desc(), *rest)
    return rest


SLA_LABELS: dict[SlaState, str] = {
    SlaState.NONE: N_("No deadline"),
    SlaState.OK: N_("On track"),
    SlaState.AT_RISK: N_("At risk"),
    SlaState.BREACHED: N_("Breached"),
    SlaState.MET: N_("Met"),
}
# The SLA states a person can filter the board by, in the order the menu lists them.
SLA_FILTERS = (SlaState.OK, SlaState.AT_RISK, SlaState.BREACHED, SlaState.MET)


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows; every field is a URL parameter, so a filtered board is a link."""

    mine: bool = False
    department_id: int | None = None
    unrouted: bool = False
    all_departments: bool = False  # chosen explicitly (not the person's default department)
    request_type: RequestType | None = None
    priority: Priority | None = None
    sla_state: SlaState | None = None
    level: CustomerLevel | None = None
    q: str = ""

    def params(self) -> dict[str, str]:
        department = "none" if self.unrouted else str(self.department_id or "")
        if not department and self.all_departments:
            department = "all"
        params = {
            "mine": "1" if self.mine else "",
            "department": department,
            "type": str(self.request_type or ""),
            "priority": str(self.priority or ""),
            "sla": str(self.sla_state or ""),
            "level": str(self.level or ""),
            "q": self.q,
        }
        return {k: v for k, v in params.items() if v}

    def query_string(self, **override: str) -> str:
        """The filters as URL parameters (shareable links, "load more", live refreshes)."""
        params = {**self.params(), **override}
        return urlencode({k: v for k, v in params.items() if v})

    @property
    def active(self) -> bool:
        """Any filter set (choosing every department explicitly filters nothing)."""
        return bool({k: v for k, v in self.params().items() if (k, v) != ("department", "all")})


def sla_clause(state: SlaState, now: datetime) -> ColumnElement[bool]:
    """SQL for "the card shows this SLA state at ``now``" (mirrors :func:`sla.card_state`)."""
    now_value = literal(now, UTCDateTime())
    is_open = Ticket.status.in_(policy.OPEN_STATES)
    is_done = Ticket.status.in_(DONE_STATES)
    running = kept.running()
    due = kept.effective_due()
    done_at = func.coalesce(Ticket.resolved_at, Ticket.closed_at, now_value)
    left = kept.epoch(due) - kept.epoch(now_value)
    allowance = kept.epoch(due) - kept.epoch(Ticket.created_at)
    at_risk = and_(allowance > 0, left <= allowance * AT_RISK_FRACTION)
    upcoming = and_(running, due.is_not(None), due >= now_value)
    if state is SlaState.BREACHED:
        return or_(
            and_(running, due.is_not(None), due < now_value),
            and_(is_done, Ticket.resolution_due.is_not(None), done_at > Ticket.resolution_due),
        )
    if state is SlaState.AT_RISK:
        return and_(upcoming, at_risk)
    if state is SlaState.OK:
        return or_(and_(is_open, Ticket.paused_since.is_not(None)), and_(upcoming, ~at_risk))
    if state is SlaState.MET:
        return and_(is_done, Ticket.resolution_due.is_not(None), done_at <= Ticket.resolution_due)
    return or_(and_(running, due.is_(None)), and_(is_done, Ticket.resolution_due.is_(None)))


def _keyed(filters: BoardFilters) -> bool:
    """Whether the kept counts answer these filters (models.ticket_count's key)."""
    return not (filters.mine or filters.level or filters.sla_state or filters.q.strip())


def _needs_customer(filters: BoardFilters) -> bool:
    return filters.level is not None


def _filtered(stmt: _S, actor: Actor, filters: BoardFilters, now: datetime) -> _S:
    """Apply the filters (the statement must already join Customer if the filters need it).
    A merged duplicate is on no board: its primary carries the case."""
    stmt = stmt.where(Ticket.merged_into_id.is_(None))
    if filters.mine:
        if actor.user_id is None:
            return stmt.where(false())
        collaborating = exists().where(
            ticket_collaborators.c.ticket_id == Ticket.id,
            ticket_collaborators.c.user_id == actor.user_id,
        )
        stmt = stmt.where(or_(Ticket.assignee_id == actor.user_id, collaborating))
    if filters.unrouted:
        stmt = stmt.where(Ticket.department_id.is_(None))
    elif filters.department_id:
        stmt = stmt.where(Ticket.department_id == filters.department_id)
    if filters.request_type:
        stmt = stmt.where(Ticket.request_type == filters.request_type)
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.level:
        stmt = stmt.where(Customer.level == filters.level)
    if filters.sla_state is not None:
        stmt = stmt.where(sla_clause(filters.sla_state, now))
    q = filters.q.strip()
    if q:
        # The search index (see models.services.common.search for what matches).
        query = search.parse(q, registry.current_cipher())
        if query is None:  # only symbols, which the index leaves out: the plain scan
            return stmt.where(search.symbol_scan(q))
        stmt = stmt.where(Ticket.id.in_(search.matching_ticket_ids(query)))
    return stmt


# --- cards and columns -----------------------------------------------------------------------


@dataclass(frozen=True)
class MoveOption:
    """One entry of a card's "move to…" menu."""

    status: TicketStatus
    needs_resolution: bool


@dataclass(frozen=True)
class DropRefusal:
    """Why a card in ``source`` may not be dropped on the ``target`` column (a msgid).

    The board page carries the whole table, so a dragged card's refused columns show the
    state machine's own reason before the drop (the server still decides on the drop).
    """

    source: TicketStatus
    target: TicketStatus
    reason: str


def drop_refusals(actor: Actor) -> list[DropRefusal]:
    """Every move between two different columns that this actor may not make, with why."""
    found = []
    for source in ORDER:
        for target in ORDER:
            reason = refusal(source, target, actor) if source is not target else None
            if reason is not None:
                found.append(DropRefusal(source, target, reason))
    return found


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
    type_confirmed: bool  # a person set or confirmed the type
    confidence_pct: int | None  # the model's confidence, while only the model decided
    priority: Priority
    sla_state: SlaState
    sla_label: str  # msgid
    sla_remaining_seconds: float | None  # shown while the clock runs
    sla_shown: bool  # only open work carries an SLA badge; done work has no clock to watch
    assignee_name: str | None
    age_seconds: float
    is_repeat: bool
    can_work: bool
    moves: tuple[MoveOption, ...]
    pinned: bool = False  # shown beyond its page because it was just moved here
    customer_replied: bool = False  # a customer's message nobody working it has opened yet

    @property
    def move_targets(self) -> str:
        """Space-separated target states (data attribute for highlighting drop zones)."""
        return " ".join(m.status.value for m in self.moves)


@dataclass
class Column:
    status: TicketStatus
    count: int
    cards: list[Card] = field(default_factory=list)
    next_offset: int | None = None
    needs_resolution: bool = False  # dropping here asks for the resolution
    pinned_id: int | None = None  # a just-moved card shown on the first page; later pages skip it

    @property
    def collapsed(self) -> bool:
        """Done work: the newest cards, and a "show more" button rather than endless scroll."""
        return collapsed(self.status)


def _card(
    ticket: Ticket, customer: Customer, assignee: str | None, actor: Actor, now: datetime
) -> Card:
    state = policy.card_state(ticket, now)
    level = CustomerLevel(customer.level)
    status = TicketStatus(ticket.status)
    type_source = TypeSource(ticket.type_source) if ticket.type_source else None
    confirmed = type_source in (TypeSource.LEAD, TypeSource.AGENT)
    confidence = ticket.type_confidence
    can_work = commands.can_work(actor, ticket)
    remaining = state.remaining if state.state in (SlaState.OK, SlaState.AT_RISK) else None
    return Card(
        id=ticket.id,
        number=ticket.number,
        version=ticket.version,
        title=ticket.title,
        status=status,
        customer_name=customer.name,
        customer_level=level,
        is_key_customer=level is not CustomerLevel.NORMAL,
        request_type=RequestType(ticket.request_type) if ticket.request_type else None,
        type_source=type_source,
        type_confirmed=confirmed,
        confidence_pct=(
            round(confidence * 100)
            if confidence is not None and not confirmed and ticket.request_type
            else None
        ),
        priority=Priority(ticket.priority),
        sla_state=state.state,
        sla_label=SLA_LABELS[state.state],
        sla_remaining_seconds=remaining.total_seconds() if remaining is not None else None,
        sla_shown=status in policy.OPEN_STATES,
        assignee_name=assignee,
        age_seconds=(now - ticket.created_at).total_seconds(),
        is_repeat=ticket.is_repeat,
        customer_replied=ticket.customer_replied_at is not None,
        can_work=can_work,
        moves=tuple(
            MoveOption(target, TRANSITIONS[(status, target)].needs_resolution)
            for target in targets(status, actor)
        )
        if can_work
        else (),
    )


@functools.cache
def _card_select() -> tuple[Any, Any]:
    """The card query's base (built once: statements are immutable, and building the aliased
    join costs more than the small queries that use it)."""
    assignee = aliased(User)
    stmt = (
        select(Ticket, Customer, assignee.display_name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
    )
    return stmt, assignee


async def column_cards(
    session: AsyncSession,
    actor: Actor,
    status: TicketStatus,
    filters: BoardFilters,
    *,
    offset: int = 0,
    limit: int | None = None,
    pinned: int | None = None,
    now: datetime | None = None,
) -> tuple[list[Card], int | None]:
    """One page of a column; the second value is the next page's offset, if any.

    A ``pinned`` ticket (the card someone just dropped here) is shown on the first page even
    when its rank puts it further down, so it never vanishes under the person's hand; the
    later pages leave it out (pass the same ``pinned``), so it never shows twice.
    """
    now = now or utcnow()
    limit = limit or page_size(status)
    stmt, _ = _card_select()
    stmt = _filtered(stmt.where(Ticket.status == status), actor, filters, now)
    stmt = stmt.order_by(*column_order(status))
    if pinned is not None and offset > 0:
        stmt = stmt.where(Ticket.id != pinned)
    rows = (await session.execute(stmt.offset(max(offset, 0)).limit(limit + 1))).all()
    cards = [_card(t, c, a, actor, now) for t, c, a in rows[:limit]]
    next_offset = offset + limit if len(rows) > limit else None
    if pinned is not None and offset == 0 and all(c.id != pinned for c in cards):
        extra = await card(session, actor, pinned, filters, now=now)
        if extra is not None and extra.status is status:
            cards.append(replace(extra, pinned=True))
    return cards, next_offset


async def counts(
    session: AsyncSession,
    actor: Actor,
    filters: BoardFilters,
    *,
    statuses: Sequence[TicketStatus] = ORDER,
    now: datetime | None = None,
) -> dict[TicketStatus, int]:
    """Tickets per state under the filters: the kept counts when the filters are the ones they
    are keyed on (department, type, priority), else one grouped query on the board index."""
    now = now or utcnow()
    if _keyed(filters):
        return await kept.by_state(
            session,
            statuses,
            department_id=filters.department_id,
            unrouted=filters.unrouted,
            request_type=filters.request_type,
            priority=filters.priority,
        )
    stmt = select(Ticket.status, func.count()).select_from(Ticket)
    if _needs_customer(filters):
        stmt = stmt.join(Customer, Customer.id == Ticket.customer_id)
    if len(statuses) < len(ORDER):
        stmt = stmt.where(Ticket.status.in_(statuses))
    stmt = _filtered(stmt, actor, filters, now).group_by(Ticket.status)
    found = {TicketStatus(s): int(n) for s, n in (await session.execute(stmt)).all()}
    return {status: found.get(status, 0) for status in statuses}


def _needs_resolution(status: TicketStatus) -> bool:
    return any(rule.needs_resolution for (_, t), rule in TRANSITIONS.items() if t == status)


async def columns(
    session: AsyncSession,
    actor: Actor,
    filters: BoardFilters,
    *,
    statuses: Sequence[TicketStatus] = ORDER,
    pinned: int | None = None,
    now: datetime | None = None,
) -> list[Column]:
    """The given columns (default: all, in board order) with counts and first pages.

    Indexed filters read each column's first page straight off the board index (one small
    query per column). Filters that must look at every row (text search, SLA state) read
    all columns in one pass instead, ranking rows per state with a window function.
    """
    now = now or utcnow()
    wanted = [s for s in ORDER if s in statuses]
    if filters.q.strip() or filters.sla_state is not None:
        pages = await _first_pages_in_one_pass(session, actor, filters, wanted, now)
    else:
        totals = await counts(session, actor, filters, statuses=wanted, now=now)
        pages = {}
        for status in wanted:
            cards, next_offset = await column_cards(session, actor, status, filters, now=now)
            pages[status] = (totals[status], cards, next_offset)
    result = []
    for status in wanted:
        total, cards, next_offset = pages[status]
        if pinned is not None and all(c.id != pinned for c in cards):
            extra = await card(session, actor, pinned, filters, now=now)
            if extra is not None and extra.status is status:
                cards = [*cards, replace(extra, pinned=True)]
        shown = pinned if any(c.pinned for c in cards) else None
        result.append(Column(status, total, cards, next_offset, _needs_resolution(status), shown))
    return result


async def _first_pages_in_one_pass(
    session: AsyncSession,
    actor: Actor,
    filters: BoardFilters,
    statuses: Sequence[TicketStatus],
    now: datetime,
) -> dict[TicketStatus, tuple[int, list[Card], int | None]]:
    """Count and first page of every column from one scan of the filtered tickets."""
    ranked_stmt = select(
        Ticket.id.label("id"),
        func.row_number().over(partition_by=Ticket.status, order_by=_column_order()).label("rn"),
        func.count().over(partition_by=Ticket.status).label("total"),
    ).where(Ticket.status.in_(statuses))
    if _needs_customer(filters):
        ranked_stmt = ranked_stmt.join(Customer, Customer.id == Ticket.customer_id)
    ranked = _filtered(ranked_stmt, actor, filters, now).subquery()
    stmt, _ = _card_select()
    stmt = (
        stmt.add_columns(ranked.c.rn, ranked.c.total)
        .join(ranked, ranked.c.id == Ticket.id)
        .where(ranked.c.rn <= PAGE_SIZE + 1)
        .order_by(ranked.c.rn)
    )
    pages: dict[TicketStatus, tuple[int, list[Card], int | None]] = {
        status: (0, [], None) for status in statuses
    }
    for ticket, customer, assignee, rn, total in (await session.execute(stmt)).all():
        status = TicketStatus(ticket.status)
        size = page_size(status)
        _, cards, _ = pages[status]
        if rn <= size:
            cards.append(_card(ticket, customer, assignee, actor, now))
        pages[status] = (int(total), cards, size if int(total) > size else None)
    return pages


async def load_board(
    session: AsyncSession, actor: Actor, filters: BoardFilters, *, now: datetime | None = None
) -> list[Column]:
    """Every column with its count and first page of cards."""
    return await columns(session, actor, filters, now=now)


async def card(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    filters: BoardFilters | None = None,
    *,
    now: datetime | None = None,
) -> Card | None:
    """One card, or None if the ticket does not exist or no longer matches the filters."""
    now = now or utcnow()
    stmt, _ = _card_select()
    stmt = _filtered(stmt.where(Ticket.id == ticket_id), actor, filters or BoardFilters(), now)
    row = (await session.execute(stmt)).first()
    return _card(row[0], row[1], row[2], actor, now) if row else None


@dataclass(frozen=True)
class MoveResult:
    """What the mover's board needs: the card in its new state (None when it no longer
    matches the board's filters) and the counts of the two columns it left and joined."""

    ticket_id: int
    source: TicketStatus
    target: TicketStatus
    card: Card | None
    counts: dict[TicketStatus, int]


async def move(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    target: TicketStatus,
    *,
    expected_version: int | None,
    resolution: str | None = None,
    filters: BoardFilters | None = None,
) -> MoveResult:
    """Move a card (through :func:`tickets.move`); read back the card and the two counts.

    The mover's board already shows the card where it was dropped: it needs the card's new
    state and the two counts, not the two columns re-read (other boards re-read what the
    live event names)."""
    found = await session.scalar(select(Ticket.status).where(Ticket.id == ticket_id))
    source = TicketStatus(found) if found is not None else target  # (the move says: gone)
    await commands.move(
        session,
        actor,
        ticket_id,
        target,
        expected_version=expected_version,
        resolution=resolution,
    )
    filters = filters or BoardFilters()
    now = utcnow()
    moved = await card(session, actor, ticket_id, filters, now=now)
    touched = await counts(session, actor, filters, statuses=(source, target), now=now)
    return MoveResult(ticket_id, source, target, moved, touched)


# --- the ticket drawer -----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    department_id: int | None = None


@dataclass(frozen=True)
class DepartmentName:
    id: int
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class FollowUpView:
    at: datetime
    author: str | None
    by_customer: bool
    method: FollowUpMethod
    discussed: str
    customer_feedback: str | None
    next_step: str | None
    next_owner: str | None
    next_due_at: datetime | None
    done: bool
    visible_to_customer: bool
    is_resolution: bool
    # A mailed reply whose display name showed another address than its real sender's.
    display_address: str | None = None
    # An emailed reply: queued, sent or failed (with why), read from its outgoing mail.
    delivery: ReplyDelivery | None = None
    can_retry: bool = False  # it failed, and this person may send it again
    # The staff's text cut around @mentions, which the drawer highlights (empty: plain text).
    discussed_parts: tuple[mentions.Segment, ...] = ()
    next_step_parts: tuple[mentions.Segment, ...] = ()
    merged_from: str | None = None  # the number of the duplicate it was written on


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the drawer's timeline: an audited change, or a follow-up record."""

    at: datetime
    actor: str
    action_label: str  # msgid
    field_label: str | None = None  # msgid
    before: Any = None  # an enum member (shown with |t), a name, or an instant
    after: Any = None
    values_are_times: bool = False
    linked_number: str | None = None  # the other ticket of a repeat
    follow_up: FollowUpView | None = None
    attachment: AttachmentView | None = None  # the file itself, shown where it was attached
    # An auto-assignment's decision and reason: (msgid, params) parts, joined with " · ".
    note: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryItem:
    id: int
    number: str
    title: str
    status: TicketStatus
    request_type: RequestType | None
    created_at: datetime


@dataclass(frozen=True)
class CustomerView:
    id: int
    number: str
    name: str
    type: CustomerType
    level: CustomerLevel
    is_key_customer: bool
    contact_person: str | None
    contacts: registry.Contacts  # masked
    can_reveal: bool  # the contact policy lets this person reveal them (audited)
    duplicate: registry.DuplicateMark | None = None  # "possible duplicate" of another customer


@dataclass(frozen=True)
class TicketDetail:
    """Everything the drawer shows about one ticket, and what this person may do there."""

    card: Card
    description: str
    channel: Channel
    urgency: Urgency
    order_number: str | None
    remarks: str | None
    model_version: str | None
    department: DepartmentName | None
    assignee: Person | None
    owner: Person | None
    collaborators: list[Person]
    first_response_due: datetime | None
    acknowledge_due: datetime | None
    resolution_due: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue_since: datetime | None
    customer: CustomerView
    history: list[HistoryItem]
    timeline: list[TimelineEntry]
    staff: list[Person]  # for the assignee / collaborator / next-owner menus
    departments: list[DepartmentName]
    can_work: bool
    is_lead: bool
    attachments: list[AttachmentView] = field(default_factory=list)
    # The customer's message that was new when this drawer was opened (the mark it cleared).
    customer_replied_at: datetime | None = None
    repeat_of_number: str | None = None
    # Done and its survey unanswered: the link can be copied, a phone answer recorded.
    survey_open: bool = False
    survey_answered: bool = False
    survey_recorded_by: str | None = None  # answered on the phone, recorded by
    # The earlier ticket this repeat may be merged into with one click (open, not merged).
    merge_offer_number: str | None = None
    # Opened by a merged duplicate's number or link: the duplicate's number (the notice).
    merged_from_number: str | None = None

    @property
    def id(self) -> int:
        return self.card.id

    @property
    def version(self) -> int:
        return self.card.version

    @property
    def department_staff(self) -> list[Person]:
        """The assignee menu's first part: staff of the ticket's department."""
        dept = self.department.id if self.department else None
        return [p for p in self.staff if dept is not None and p.department_id == dept]

    @property
    def other_staff(self) -> list[Person]:
        """Everyone else, under a separator."""
        first = {p.id for p in self.department_staff}
        return [p for p in self.staff if p.id not in first]

    @property
    def addable_collaborators(self) -> list[Person]:
        taken = {c.id for c in self.collaborators}
        if self.assignee:
            taken.add(self.assignee.id)
        return [p for p in self.staff if p.id not in taken]


ACTION_LABELS: dict[str, str] = {
    "create": N_("Ticket registered"),
    "move": N_("Moved"),
    "assign": N_("Assigned"),
    "change": N_("Changed"),
    "deadline": N_("Deadline recalculated"),
    "collaborator_add": N_("Collaborator added"),
    "collaborator_remove": N_("Collaborator removed"),
    # Recorded by other parts of the service process (SLA engine, portal, surveys, triage).
    "acknowledge": N_("Acknowledged"),
    "overdue": N_("Overdue"),
    "overdue_reason": N_("Overdue reason recorded"),
    "extension_requested": N_("Extension requested"),
    "extension_approved": N_("Extension approved"),
    "extension_rejected": N_("Extension rejected"),
    "customer_information": N_("Customer added information"),
    "low_csat_follow_up": N_("Low-satisfaction follow-up"),
    "survey_submitted": N_("Survey submitted"),
    "attachment_add": N_("File attached"),
    "sender_mismatch": N_("Warning: the sender's display name shows another address"),
    "customer_reopened": N_("Reopened: the customer replied"),
    "customer_confirmed": N_("The customer confirmed the solution"),
    "confirmation_timeout": N_("Completed: the customer did not confirm in time"),
    "survey_recorded": N_("Phone survey recorded"),
    "repeat_opened": N_("The customer wrote again: repeat inquiry opened"),
    "repeat_of": N_("Opened from the customer's message on closed ticket"),
    "mail_retry": N_("Email reply sent again"),
    "merged_into": N_("Merged into"),
    "merged_from": N_("Merged from"),
    "auto_assign": N_("Auto-assignment"),
}
_LINKED_ACTIONS = {"repeat_opened", "repeat_of", "merged_into", "merged_from"}
FIELD_LABELS: dict[str, str] = {
    "status": N_("Status"),
    "assignee_id": N_("Assignee"),
    "owner_id": N_("Owner"),
    "priority": N_("Priority"),
    "request_type": N_("Request type"),
    "type_source": N_("Type decided by"),
    "urgency": N_("Urgency"),
    "department_id": N_("Department"),
    "collaborators": N_("Collaborators"),
    "first_response_due": N_("First response due"),
    "acknowledge_due": N_("Acknowledgement due"),
    "resolution_due": N_("Resolution due"),
    "acknowledged_at": N_("Acknowledged at"),
    "overdue_since": N_("Overdue since"),
    "overdue_reason": N_("Overdue reason"),
    "first_response_overdue": N_("First response overdue"),
    "resolution_overdue": N_("Resolution overdue"),
    "attachment": N_("File"),
}
_FIELD_ENUMS: dict[str, Any] = {
    "status": TicketStatus,
    "priority": Priority,
    "request_type": RequestType,
    "type_source": TypeSource,
    "urgency": Urgency,
}
_PERSON_FIELDS = {"assignee_id", "owner_id", "collaborators", "next_owner_id"}
_TIME_FIELDS = {
    "first_response_due",
    "acknowledge_due",
    "resolution_due",
    "acknowledged_at",
    "overdue_since",
    "first_response_overdue",
    "resolution_overdue",
}


def _display(
    field_name: str | None, value: Any, names: dict[int, str], departments: dict[int, str]
) -> Any:
    """An audited value as the drawer shows it (enum member, name, instant)."""
    if value is None or field_name is None:
        return value
    if field_name == "department_id" and isinstance(value, int):
        return departments.get(value, f"#{value}")
    if field_name in _FIELD_ENUMS:
        try:
            return _FIELD_ENUMS[field_name](value)
        except ValueError:
            return value
    if field_name in _PERSON_FIELDS and isinstance(value, int):
        return names.get(value, f"#{value}")
    if field_name in _TIME_FIELDS and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


async def staff(session: AsyncSession) -> list[Person]:
    """Every active staff member (the bulk "assign to" menu)."""
    rows = (
        await session.scalars(
            select(User).where(User.is_active.is_(True)).order_by(User.department_id, User.id)
        )
    ).all()
    return [Person(u.id, u.display_name, u.department_id) for u in rows]


async def ticket_detail(
    session: AsyncSession, actor: Actor, ticket_id: int, *, now: datetime | None = None
) -> TicketDetail:
    """The drawer: details, customer and their history, the timeline, the edit menus."""
    now = now or utcnow()
    ticket = await commands.get(session, ticket_id)
    customer = ticket.customer
    staff_rows = (
        await session.scalars(
            select(User).where(User.is_active.is_(True)).order_by(User.department_id, User.id)
        )
    ).all()
    names = {u.id: u.display_name for u in staff_rows}
    extra_ids = {ticket.owner_id, ticket.assignee_id} - set(names) - {None}
    if extra_ids:  # inactive people still have names in the record
        for user in (await session.scalars(select(User).where(User.id.in_(extra_ids)))).all():
            names[user.id] = user.display_name
    staff = [Person(u.id, u.display_name, u.department_id) for u in staff_rows]
    departments = [
        DepartmentName(d.id, d.name_zh, d.name_en)
        for d in (await session.scalars(select(Department).order_by(Department.code))).all()
    ]
    dept = next((d for d in departments if d.id == ticket.department_id), None)
    dept_names = {d.id: f"{d.name_zh} / {d.name_en}" for d in departments}

    history_rows = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer.id, Ticket.id != ticket.id)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(HISTORY_SIZE)
        )
    ).all()
    history = [
        HistoryItem(
            t.id,
            t.number,
            t.title,
            TicketStatus(t.status),
            RequestType(t.request_type) if t.request_type else None,
            t.created_at,
        )
        for t in history_rows
    ]

    files = await attachments.list_for_ticket(session, ticket.id)
    files_by_id = {f.id: f for f in files}
    timeline: list[TimelineEntry] = []
    shown_addresses: dict[int, str] = {}
    for event in await audit.ticket_timeline(session, ticket.id):
        if event.action == "follow_up":
            if isinstance(event.after, dict) and event.after.get("display_address"):
                shown_addresses[event.entity_id] = str(event.after["display_address"])
            continue  # shown from the follow-up record itself, with all its fields
        timeline.append(
            TimelineEntry(
                at=event.at,
                actor=names.get(event.actor_id or 0, event.actor_label),
                action_label=ACTION_LABELS.get(event.action, event.action),
                field_label=FIELD_LABELS.get(event.field or "", event.field),
                before=_display(event.field, event.before, names, dept_names),
                after=_display(event.field, event.after, names, dept_names),
                values_are_times=(event.field or "") in _TIME_FIELDS,
                linked_number=str(event.after) if event.action in _LINKED_ACTIONS else None,
                attachment=(
                    files_by_id.get(event.entity_id) if event.entity_type == "attachment" else None
                ),
                note=(
                    assignment.reason_note(event.after, names)
                    if event.action == "auto_assign"
                    else []
                ),
            )
        )
    records = await commands.follow_ups(session, ticket.id)
    merged_ids = {r.merged_from_id for r in records if r.merged_from_id is not None}
    merged_numbers = (
        dict(
            (
                await session.execute(
                    select(Ticket.id, Ticket.number).where(Ticket.id.in_(merged_ids))
                )
            ).all()
        )
        if merged_ids
        else {}
    )
    sent = await delivery.reply_deliveries(session, [r.id for r in records])
    can_work = commands.can_work(actor, ticket)
    known = mentions.handles(staff_rows)
    for record in records:
        timeline.append(
            _follow_up_entry(
                record,
                names,
                shown_addresses.get(record.id),
                sent.get(record.id),
                can_work or (record.user_id is not None and record.user_id == actor.user_id),
                known,
                merged_numbers.get(record.merged_from_id) if record.merged_from_id else None,
            )
        )
    timeline.sort(key=lambda entry: entry.at)

    assignee_name = names.get(ticket.assignee_id) if ticket.assignee_id else None
    contacts = registry.masked_contacts(customer)
    done = TicketStatus(ticket.status) in (TicketStatus.COMPLETED, TicketStatus.CLOSED)
    survey = await surveys.for_customer(session, ticket.id, now=now)
    recorder = survey.recorded_by_id
    earlier = (
        await session.get(Ticket, ticket.repeat_of_id) if ticket.repeat_of_id is not None else None
    )
    return TicketDetail(
        card=_card(ticket, customer, assignee_name, actor, now),
        description=ticket.description,
        channel=Channel(ticket.channel),
        urgency=Urgency(ticket.urgency),
        order_number=ticket.order_number,
        remarks=ticket.remarks,
        model_version=ticket.model_version,
        department=dept,
        assignee=Person(ticket.assignee_id, assignee_name or "") if ticket.assignee_id else None,
        owner=Person(ticket.owner_id, names.get(ticket.owner_id, "")) if ticket.owner_id else None,
        collaborators=[Person(u.id, u.display_name) for u in ticket.collaborators],
        first_response_due=ticket.first_response_due,
        acknowledge_due=ticket.acknowledge_due,
        resolution_due=ticket.resolution_due,
        created_at=ticket.created_at,
        acknowledged_at=ticket.acknowledged_at,
        first_responded_at=ticket.first_responded_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        overdue_since=ticket.overdue_since,
        customer=CustomerView(
            id=customer.id,
            number=customer.number,
            name=customer.name,
            type=CustomerType(customer.type),
            level=CustomerLevel(customer.level),
            is_key_customer=CustomerLevel(customer.level) is not CustomerLevel.NORMAL,
            contact_person=customer.contact_person,
            contacts=contacts,
            can_reveal=await registry.may_reveal(session, actor, customer.id),
            duplicate=await registry.duplicate_mark(session, customer),
        ),
        history=history,
        timeline=timeline,
        staff=staff,
        departments=departments,
        can_work=commands.can_work(actor, ticket),
        is_lead=actor.is_lead,
        attachments=files,
        customer_replied_at=ticket.customer_replied_at,
        repeat_of_number=earlier.number if earlier is not None else None,
        merge_offer_number=(
            earlier.number
            if earlier is not None
            and ticket.merged_into_id is None
            and earlier.merged_into_id is None
            and TicketStatus(earlier.status) is not TicketStatus.CLOSED
            else None
        ),
        survey_open=done and not survey.answered,
        survey_answered=survey.answered,
        survey_recorded_by=names.get(recorder, f"#{recorder}") if recorder else None,
    )


async def open_ticket(
    session: AsyncSession, actor: Actor, ticket_id: int, *, now: datetime | None = None
) -> TicketDetail:
    """The drawer as a person opens it: someone who may work the ticket has now seen the
    customer's latest message, so its mark is cleared (without a version bump: see
    :func:`commands.clear_customer_reply`). The drawer still shows the message as new this
    once; the card loses the mark, here and — through the board event — on every board.
    A merged duplicate opens its primary, with a notice naming the duplicate."""
    opened = await commands.get(session, ticket_id)
    primary = await commands.resolve_merged(session, opened)
    detail = await ticket_detail(session, actor, primary.id, now=now)
    if primary.id != opened.id:
        detail = replace(detail, merged_from_number=opened.number)
    seen = detail.customer_replied_at
    if seen is None or not detail.can_work or actor.user_id is None:
        return detail
    await commands.clear_customer_reply(session, detail.id, seen, version=detail.version)
    return replace(detail, card=replace(detail.card, customer_replied=False))


def _parts(text: str | None, known: list[mentions.Handle]) -> tuple[mentions.Segment, ...]:
    """The text's pieces when it mentions someone; empty when it is plain."""
    if not text or "@" not in text or not known:
        return ()
    parts = tuple(mentions.split(text, known))
    return parts if any(p.user_id is not None for p in parts) else ()


def _follow_up_entry(
    record: FollowUp,
    names: dict[int, str],
    display_address: str | None = None,
    sent: ReplyDelivery | None = None,
    may_retry: bool = False,
    known: list[mentions.Handle] | None = None,
    merged_from: str | None = None,
) -> TimelineEntry:
    author = names.get(record.user_id) if record.user_id else None
    known = [] if record.by_customer else (known or [])
    view = FollowUpView(
        at=record.at,
        author=author,
        by_customer=record.by_customer,
        method=FollowUpMethod(record.method),
        discussed=record.discussed,
        customer_feedback=record.customer_feedback,
        next_step=record.next_step,
        next_owner=names.get(record.next_owner_id) if record.next_owner_id else None,
        next_due_at=record.next_due_at,
        done=record.done,
        visible_to_customer=record.visible_to_customer,
        is_resolution=record.is_resolution,
        display_address=display_address,
        delivery=sent,
        can_retry=sent is not None and sent.failed and may_retry,
        discussed_parts=_parts(record.discussed, known),
        next_step_parts=_parts(record.next_step, known),
        merged_from=merged_from,
    )
    label = N_("Resolution") if record.is_resolution else N_("Follow-up")
    return TimelineEntry(
        at=record.at,
        actor=author or "",
        action_label=N_("Customer wrote") if record.by_customer else label,
        follow_up=view,
    )


# --- the department matrix -------------------------------------------------------------------


_MatrixFigures = dict[tuple[int | None, TicketStatus], tuple[int, int, int]]
"""(department id or None, state) → (tickets, overdue, pressing)."""


async def _counted_matrix_figures(
    session: AsyncSession, actor: Actor, scope: BoardFilters, now: datetime
) -> _MatrixFigures:
    """Every figure from one grouped pass over the tickets (filters the counts are not keyed on)."""
    breached = sla_clause(SlaState.BREACHED, now)
    pressing = Ticket.priority.in_(kept.PRESSING)
    stmt = select(
        Ticket.department_id,
        Ticket.status,
        func.count(),
        func.sum(case((breached, 1), else_=0)),
        func.sum(case((pressing, 1), else_=0)),
    ).select_from(Ticket)
    if _needs_customer(scope):
        stmt = stmt.join(Customer, Customer.id == Ticket.customer_id)
    stmt = _filtered(stmt, actor, scope, now).group_by(Ticket.department_id, Ticket.status)
    return {
        (dept, TicketStatus(status)): (int(n), int(late or 0), int(hot or 0))
        for dept, status, n, late, hot in (await session.execute(stmt)).all()
    }


async def _kept_matrix_figures(
    session: AsyncSession, scope: BoardFilters, now: datetime
) -> _MatrixFigures:
    """Every figure from the kept counts (only today's deadlines are read off the tickets)."""
    kind, priority = scope.request_type, scope.priority
    found = await kept.figures(session, request_type=kind, priority=priority)
    earlier = await kept.due_before(session, utc_day(now), request_type=kind, priority=priority)
    today = await kept.overdue_today(session, now, request_type=kind, priority=priority)
    return {
        key: (
            entry.count,
            earlier.get(key, 0) + today.get(key, 0) + entry.finished_late,
            entry.pressing,
        )
        for key, entry in found.items()
    }


@dataclass(frozen=True)
class MatrixCell:
    status: TicketStatus
    count: int
    overdue: int
    pressing: int  # urgent or high priority
    tone: str  # empty | calm | pressing | overdue: the cell's colour
    link: str  # the board filtered to this department (anchored at the column)
    overdue_link: str


@dataclass(frozen=True)
class MatrixRow:
    department: DepartmentName | None  # None: not routed yet
    cells: list[MatrixCell]
    total: int


def _tone(status: TicketStatus, count: int, overdue: int, pressing: int) -> str:
    """A cell's colour: only open work can still be rescued, so only it turns red or amber."""
    if not count:
        return "empty"
    if status in DONE_STATES:
        return "calm"
    if overdue:
        return "overdue"
    return "pressing" if pressing else "calm"


async def matrix(
    session: AsyncSession, actor: Actor, filters: BoardFilters, *, now: datetime | None = None
) -> list[MatrixRow]:
    """Departments × states: counts, overdue and pressing tickets, links to the board."""
    now = now or utcnow()
    scope = replace(filters, department_id=None, unrouted=False, sla_state=None)
    if _keyed(scope):
        figures = await _kept_matrix_figures(session, scope, now)
    else:
        figures = await _counted_matrix_figures(session, actor, scope, now)
    departments: list[DepartmentName | None] = [
        DepartmentName(d.id, d.name_zh, d.name_en)
        for d in (await session.scalars(select(Department).order_by(Department.code))).all()
    ]
    if any(dept is None for dept, _ in figures):
        departments.append(None)
    rows = []
    for dept in departments:
        dept_filters = replace(
            scope, department_id=dept.id if dept else None, unrouted=dept is None
        )
        cells = []
        for status in ORDER:
            n, late, hot = figures.get((dept.id if dept else None, status), (0, 0, 0))
            base = "/board?" + dept_filters.query_string()
            late_link = "/board?" + dept_filters.query_string(sla=SlaState.BREACHED.value)
            anchor = f"#column-{status.value}"
            cells.append(
                MatrixCell(
                    status,
                    n,
                    late,
                    hot,
                    _tone(status, n, late, hot),
                    base + anchor,
                    late_link + anchor,
                )
            )
        rows.append(MatrixRow(dept, cells, sum(c.count for c in cells)))
    return rows
