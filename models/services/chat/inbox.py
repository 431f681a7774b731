"""The agent's chat inbox: their availability, the waiting queue, their chats, one chat in full."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.customer import Customer
from models.department import Department
from models.enums import ChatAuthor, ChatStatus, Priority, RequestType, TicketStatus
from models.services.chat import conversations
from models.services.chat.conversations import Line
from models.services.common.actor import Actor
from models.services.common.errors import N_, NotFound
from models.ticket import Ticket
from models.user import User

RECENT_ENDED = 10
EARLIER_TICKETS = 5


@dataclass(frozen=True)
class Item:
    """One conversation in the inbox list."""

    public_id: str
    status: ChatStatus
    customer_name: str
    ticket_number: str | None
    started_at: datetime
    last_text: str
    unread: int
    agent_name: str | None
    waiting_seconds: int


@dataclass(frozen=True)
class InboxView:
    available: bool
    capacity: int
    active_count: int
    queue: list[Item]
    mine: list[Item]
    others: list[Item]  # leads: colleagues' ongoing chats
    ended: list[Item]


@dataclass(frozen=True)
class Colleague:
    id: int
    name: str


@dataclass(frozen=True)
class EarlierTicket:
    id: int
    number: str
    title: str
    status: TicketStatus
    created_at: datetime


@dataclass(frozen=True)
class ChatView:
    """One conversation as the agent works it."""

    public_id: str
    status: ChatStatus
    lines: list[Line]
    last_seq: int
    customer_read_seq: int
    customer_name: str
    customer_number: str | None
    customer_level: str | None
    ticket_id: int | None
    ticket_number: str | None
    request_type: RequestType | None
    priority: Priority | None
    ticket_status: TicketStatus | None
    agent_name: str | None
    is_mine: bool
    can_act: bool
    can_accept: bool
    started_at: datetime
    first_response_seconds: int | None
    # The site signed who the customer is (a typed name or contact is only their word).
    identity_verified: bool = False
    earlier: list[EarlierTicket] = field(default_factory=list)
    colleagues: list[Colleague] = field(default_factory=list)
    departments: list[Colleague] = field(default_factory=list)


async def _items(
    session: AsyncSession, actor: Actor, rows: list[ChatConversation], now: datetime
) -> list[Item]:
    if not rows:
        return []
    ids = [c.id for c in rows]
    latest = (
        select(ChatMessage.conversation_id, func.max(ChatMessage.seq).label("seq"))
        .where(ChatMessage.conversation_id.in_(ids), ChatMessage.author != ChatAuthor.SYSTEM)
        .group_by(ChatMessage.conversation_id)
        .subquery()
    )
    last_text = dict(
        (
            await session.execute(
                select(ChatMessage.conversation_id, ChatMessage.text).join(
                    latest,
                    (ChatMessage.conversation_id == latest.c.conversation_id)
                    & (ChatMessage.seq == latest.c.seq),
                )
            )
        ).all()
    )
    unread = dict(
        (
            await session.execute(
                select(ChatMessage.conversation_id, func.count(ChatMessage.id))
                .join(ChatConversation, ChatConversation.id == ChatMessage.conversation_id)
                .where(
                    ChatMessage.conversation_id.in_(ids),
                    ChatMessage.author == ChatAuthor.CUSTOMER,
                    ChatMessage.seq > ChatConversation.agent_read_seq,
                )
                .group_by(ChatMessage.conversation_id)
            )
        ).all()
    )
    names = dict(
        (
            await session.execute(
                select(Customer.id, Customer.name).where(
                    Customer.id.in_({c.customer_id for c in rows if c.customer_id})
                )
            )
        ).all()
    )
    numbers = dict(
        (
            await session.execute(
                select(Ticket.id, Ticket.number).where(
                    Ticket.id.in_({c.ticket_id for c in rows if c.ticket_id})
                )
            )
        ).all()
    )
    agents = dict(
        (
            await session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_({c.agent_id for c in rows if c.agent_id})
                )
            )
        ).all()
    )
    return [
        Item(
            public_id=c.public_id,
            status=ChatStatus(c.status),
            customer_name=names.get(c.customer_id, "") if c.customer_id else "",
            ticket_number=numbers.get(c.ticket_id) if c.ticket_id else None,
            started_at=c.started_at,
            last_text=(last_text.get(c.id) or "")[:80],
            unread=int(unread.get(c.id, 0)),
            agent_name=agents.get(c.agent_id) if c.agent_id else None,
            waiting_seconds=max(0, int((now - c.started_at).total_seconds())),
        )
        for c in rows
    ]


async def inbox(session: AsyncSession, actor: Actor) -> InboxView:
    from models.base import utcnow

    now = utcnow()
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound(N_("Not found."))
    base = select(ChatConversation)
    queued = base.where(ChatConversation.status == ChatStatus.QUEUED)
    if not actor.is_lead and user.department_id is not None:
        queued = queued.where(
            (ChatConversation.department_id == user.department_id)
            | ChatConversation.department_id.is_(None)
        )
    queue = list(
        (await session.scalars(queued.order_by(ChatConversation.started_at).limit(50))).all()
    )
    mine = list(
        (
            await session.scalars(
                base.where(
                    ChatConversation.status == ChatStatus.ACTIVE,
                    ChatConversation.agent_id == user.id,
                ).order_by(ChatConversation.accepted_at)
            )
        ).all()
    )
    others: list[ChatConversation] = []
    if actor.is_lead:
        others = list(
            (
                await session.scalars(
                    base.where(
                        ChatConversation.status == ChatStatus.ACTIVE,
                        ChatConversation.agent_id != user.id,
                    )
                    .order_by(ChatConversation.accepted_at)
                    .limit(50)
                )
            ).all()
        )
    ended = list(
        (
            await session.scalars(
                base.where(
                    ChatConversation.status == ChatStatus.ENDED,
                    ChatConversation.agent_id == user.id,
                )
                .order_by(ChatConversation.ended_at.desc())
                .limit(RECENT_ENDED)
            )
        ).all()
    )
    return InboxView(
        available=user.chat_available,
        capacity=user.chat_capacity,
        active_count=len(mine),
        queue=await _items(session, actor, queue, now),
        mine=await _items(session, actor, mine, now),
        others=await _items(session, actor, others, now),
        ended=await _items(session, actor, ended, now),
    )


async def chat_view(
    session: AsyncSession, actor: Actor, public_id: str, *, locale: str = "zh-CN"
) -> ChatView:
    conversation = await session.scalar(
        select(ChatConversation).where(ChatConversation.public_id == public_id[:32])
    )
    if conversation is None:
        raise NotFound(conversations.GONE)
    customer = (
        await session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    )
    ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
    agent = await session.get(User, conversation.agent_id) if conversation.agent_id else None
    is_mine = conversation.agent_id == actor.user_id
    active = conversation.status is ChatStatus.ACTIVE
    earlier: list[EarlierTicket] = []
    if customer is not None:
        rows = await session.execute(
            select(Ticket.id, Ticket.number, Ticket.title, Ticket.status, Ticket.created_at)
            .where(Ticket.customer_id == customer.id, Ticket.id != conversation.ticket_id)
            .order_by(Ticket.created_at.desc())
            .limit(EARLIER_TICKETS)
        )
        earlier = [EarlierTicket(*row) for row in rows.all()]
    colleagues: list[Colleague] = []
    departments: list[Colleague] = []
    if active and (is_mine or actor.is_lead):
        found = await session.execute(
            select(User.id, User.display_name)
            .where(conversations.eligible(None), User.id != conversation.agent_id)
            .order_by(User.display_name)
        )
        colleagues = [Colleague(*row) for row in found.all()]
        name = Department.name_en if locale == "en" else Department.name_zh
        depts = await session.execute(select(Department.id, name).order_by(Department.id))
        departments = [Colleague(*row) for row in depts.all()]
    first = None
    if conversation.first_response_at is not None:
        start = conversation.accepted_at or conversation.started_at
        first = max(0, int((conversation.first_response_at - start).total_seconds()))
    return ChatView(
        public_id=conversation.public_id,
        status=ChatStatus(conversation.status),
        lines=await conversations.lines(session, conversation.id),
        last_seq=conversation.last_seq,
        customer_read_seq=conversation.customer_read_seq,
        customer_name=customer.name if customer else "",
        customer_number=customer.number if customer else None,
        customer_level=str(customer.level) if customer else None,
        ticket_id=ticket.id if ticket else None,
        ticket_number=ticket.number if ticket else None,
        request_type=RequestType(ticket.request_type) if ticket and ticket.request_type else None,
        priority=Priority(ticket.priority) if ticket else None,
        ticket_status=TicketStatus(ticket.status) if ticket else None,
        agent_name=agent.display_name if agent else None,
        is_mine=is_mine,
        can_act=active and (is_mine or actor.is_lead),
        can_accept=conversation.status is ChatStatus.QUEUED,
        started_at=conversation.started_at,
        first_response_seconds=first,
        identity_verified=conversation.identity_verified,
        earlier=earlier,
        colleagues=colleagues,
        departments=departments,
    )


async def lines_after(
    session: AsyncSession, actor: Actor, public_id: str, after: int
) -> tuple[list[Line], int]:
    """The transcript after line ``after`` and how far the customer has read (what the inbox
    appends when the live stream names a new line)."""
    conversation = await conversations.for_staff(session, actor, public_id)
    found = await conversations.lines(session, conversation.id, after=max(0, after))
    return found, conversation.customer_read_seq
