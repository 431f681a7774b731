"""Live-chat conversations: the visitor's side, the agent's side and who gets which chat.

Every conversation is a ticket from its first message (channel: online chat, triaged,
routed, on the board with its SLA). The transcript lives in ``chat_messages``, numbered per
conversation; the widget and the agent inbox read it back "after number n", so a reconnect
resumes where it stopped and a message retried with the same client id is stored once.
Live updates are nudges on the Redis event channel (``chat.*`` events naming the
conversation); the database stays the truth, so a lost nudge costs a moment, not a message.

A visitor is known only by a random secret their browser keeps (its SHA-256 is stored);
a conversation id that is not theirs is the same 404 as an unknown one.
"""

from __future__ import annotations

import logging
import re
import secrets
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.attachment import Attachment
from models.base import utcnow
from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.chat_widget import ChatWidget
from models.customer import Customer
from models.db import record_event, record_job
from models.enums import Channel, ChatAuthor, ChatStatus, FollowUpMethod, Role, TicketStatus
from models.services.admin.users import actor_for
from models.services.chat import wecom, widgets
from models.services.common import audit, ratelimit
from models.services.common.actor import Actor
from models.services.common.crypto import token_hash
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import wecom_send_job
from models.services.customers import registry
from models.services.notify import notifications
from models.services.sla import policy as sla
from models.services.tickets import attachments, commands, intake, messages, surveys
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User

log = logging.getLogger(__name__)

CHAT = Actor(user_id=None, label="chat", role=Role.LEAD)
TEXT_MAX = 2000
# An available agent whose inbox has not been heard from for this long is not offered chats.
ONLINE_SECONDS = 90
# The waits the estimate is drawn from: the most recent accepted chats of the last week.
ESTIMATE_SAMPLE = 20
ESTIMATE_DAYS = 7
# Messages per visitor per rate-limit window (the portal's submission allowance times this).
MESSAGE_FACTOR = 12
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
OPEN = (ChatStatus.QUEUED, ChatStatus.ACTIVE)
GONE = N_("This conversation does not exist.")
OFFLINE = N_("Nobody can chat right now; please leave a message.")


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    seq: int
    author: ChatAuthor
    text: str
    at: datetime
    agent_name: str | None = None
    attachment_id: int | None = None
    attachment_name: str | None = None
    attachment_is_image: bool = False
    # Replies Kefu delivers elsewhere (WeCom): "pending", "sent", "failed" and why.
    delivery: str | None = None
    delivery_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "author": self.author.value,
            "text": self.text,
            "at": self.at.isoformat(),
            "agent": self.agent_name,
            "attachment": (
                {
                    "id": self.attachment_id,
                    "name": self.attachment_name,
                    "image": self.attachment_is_image,
                }
                if self.attachment_id is not None
                else None
            ),
        }


@dataclass(frozen=True)
class VisitorView:
    """What the widget shows: the open conversation (or the last one), and whether it may chat."""

    open: bool
    conversation: str | None
    status: ChatStatus | None
    lines: list[Line]
    agent_name: str | None = None
    queue_position: int | None = None
    wait_minutes: int | None = None
    agent_read_seq: int = 0
    survey_token: str | None = None
    survey_answered: bool = False
    history: list[Line] = field(default_factory=list)
    # "verified", "invalid" (the site's signature did not check: treated as anonymous), "none".
    identity: str = "none"

    def as_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "conversation": self.conversation,
            "status": self.status.value if self.status else None,
            "lines": [line.as_json() for line in self.lines],
            "agent": self.agent_name,
            "queue_position": self.queue_position,
            "wait_minutes": self.wait_minutes,
            "agent_read_seq": self.agent_read_seq,
            "survey": bool(self.survey_token) and not self.survey_answered,
            "history": [line.as_json() for line in self.history],
            "identity": self.identity,
        }


# --- helpers --------------------------------------------------------------------------------


def visitor_hash(secret: str) -> str:
    """The stored form of a visitor's browser secret; a malformed one is refused (404, as
    for a conversation that is not theirs)."""
    if not SECRET_RE.match(secret or ""):
        raise NotFound(GONE)
    return token_hash(secret)


def clean(text: str) -> str:
    """The message as stored: trimmed, not empty, at most :data:`TEXT_MAX` characters."""
    value = (text or "").strip()
    if not value:
        raise ValidationFailed(N_("Type a message."), fields={"text": N_("Required.")})
    if len(value) > TEXT_MAX:
        raise ValidationFailed(
            N_("A message can be at most %(limit)s characters."),
            fields={"text": N_("Too long.")},
            limit=TEXT_MAX,
        )
    return value


def _client_id(raw: str | None) -> str | None:
    if not raw:
        return None
    if not CLIENT_ID_RE.match(raw):
        raise ValidationFailed(N_("Invalid message id."), fields={"client_id": N_("Invalid.")})
    return raw


def _event(session: AsyncSession, kind: str, conversation: ChatConversation, **extra: Any) -> None:
    record_event(
        session,
        f"chat.{kind}",
        conversation=conversation.public_id,
        agent_id=conversation.agent_id,
        department_id=conversation.department_id,
        status=conversation.status.value,
        **extra,
    )


def new_public_id() -> str:
    """A conversation's unguessable id (the widget's URLs, the live stream's filter)."""
    return secrets.token_urlsafe(16)


async def append(
    session: AsyncSession,
    conversation: ChatConversation,
    author: ChatAuthor,
    text: str,
    *,
    user_id: int | None = None,
    client_id: str | None = None,
    attachment_id: int | None = None,
    external_msgid: str | None = None,
    at: datetime | None = None,
) -> ChatMessage:
    """Number and store one message (the number is taken atomically on the conversation row,
    so a customer and an agent writing at once on two processes never share one)."""
    seq = await session.scalar(
        update(ChatConversation)
        .where(ChatConversation.id == conversation.id)
        .values(last_seq=ChatConversation.last_seq + 1)
        .returning(ChatConversation.last_seq)
    )
    assert seq is not None
    conversation.last_seq = seq
    message = ChatMessage(
        conversation_id=conversation.id,
        seq=seq,
        client_id=client_id,
        external_msgid=external_msgid,
        author=author,
        user_id=user_id,
        text=text,
        attachment_id=attachment_id,
        created_at=at or utcnow(),
    )
    session.add(message)
    await session.flush()
    _event(session, "message", conversation, seq=seq, author=author.value)
    return message


async def _existing(
    session: AsyncSession, conversation: ChatConversation, client_id: str | None
) -> ChatMessage | None:
    if client_id is None:
        return None
    return await session.scalar(
        select(ChatMessage).where(
            ChatMessage.conversation_id == conversation.id, ChatMessage.client_id == client_id
        )
    )


async def lines(session: AsyncSession, conversation_id: int, *, after: int = 0) -> list[Line]:
    """The transcript after message number ``after``."""
    rows = await session.execute(
        select(ChatMessage, User.display_name, Attachment.filename, Attachment.content_type)
        .outerjoin(User, User.id == ChatMessage.user_id)
        .outerjoin(Attachment, Attachment.id == ChatMessage.attachment_id)
        .where(ChatMessage.conversation_id == conversation_id, ChatMessage.seq > after)
        .order_by(ChatMessage.seq)
    )
    return [
        Line(
            seq=m.seq,
            author=ChatAuthor(m.author),
            text=m.text,
            at=m.created_at,
            agent_name=name if m.author != ChatAuthor.CUSTOMER else None,
            attachment_id=m.attachment_id,
            attachment_name=filename,
            attachment_is_image=bool(content_type and str(content_type).startswith("image/")),
            delivery=m.delivery,
            delivery_error=m.delivery_error,
        )
        for m, name, filename, content_type in rows.all()
    ]


# --- who is online, and the queue -------------------------------------------------------------


def eligible(department_id: int | None) -> Any:
    online_since = utcnow() - timedelta(seconds=ONLINE_SECONDS)
    clause = (
        User.is_active.is_(True)
        & User.chat_available.is_(True)
        & (User.chat_seen_at >= online_since)
    )
    if department_id is not None:
        clause = clause & ((User.department_id == department_id) | User.department_id.is_(None))
    return clause


async def agents_online(session: AsyncSession, department_id: int | None) -> int:
    return int(
        await session.scalar(select(func.count(User.id)).where(eligible(department_id))) or 0
    )


async def is_open(session: AsyncSession, widget: ChatWidget, now: datetime | None = None) -> bool:
    """Active, inside business hours, and someone who may take its chats is online."""
    if not widget.is_active or not widgets.within_hours(widget.hours, now or utcnow()):
        return False
    return await agents_online(session, widget.department_id) > 0


async def _active_load(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(ChatConversation.agent_id, func.count(ChatConversation.id))
        .where(ChatConversation.status == ChatStatus.ACTIVE)
        .group_by(ChatConversation.agent_id)
    )
    return {agent_id: count for agent_id, count in rows.all() if agent_id is not None}


async def dispatch(session: AsyncSession) -> list[ChatConversation]:
    """Offer the waiting chats, oldest first, to online agents below their cap (fewest chats
    first). A conversation is taken with a conditional update, so two processes dispatching at
    once never hand one chat to two agents."""
    queued = (
        await session.scalars(
            select(ChatConversation)
            .where(ChatConversation.status == ChatStatus.QUEUED)
            .order_by(ChatConversation.started_at, ChatConversation.id)
            .limit(100)
        )
    ).all()
    if not queued:
        return []
    agents = (await session.scalars(select(User).where(eligible(None)).order_by(User.id))).all()
    load = await _active_load(session)
    handed: list[ChatConversation] = []
    for conversation in queued:
        candidates = [
            a
            for a in agents
            if load.get(a.id, 0) < a.chat_capacity
            and (
                conversation.department_id is None
                or a.department_id in (None, conversation.department_id)
            )
        ]
        if not candidates:
            continue
        agent = min(candidates, key=lambda a: (load.get(a.id, 0), a.id))
        if await _take(session, conversation, agent):
            load[agent.id] = load.get(agent.id, 0) + 1
            handed.append(conversation)
    return handed


async def _take(session: AsyncSession, conversation: ChatConversation, agent: User) -> bool:
    now = utcnow()
    result = await session.execute(
        update(ChatConversation)
        .where(
            ChatConversation.id == conversation.id,
            ChatConversation.status == ChatStatus.QUEUED,
        )
        .values(status=ChatStatus.ACTIVE, agent_id=agent.id, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    await session.refresh(conversation)
    if conversation.ticket_id is not None:
        ticket = await commands.get(session, conversation.ticket_id)
        if ticket.assignee_id != agent.id:
            # The agent takes the chat: their own assignment, which rings no bell of theirs
            # (the inbox shows it); the ticket's timeline says the chat handed it over.
            taker = Actor(user_id=agent.id, label="chat", role=Role.LEAD)
            await commands.assign(session, taker, ticket.id, agent.id, expected_version=None)
    await append(
        session,
        conversation,
        ChatAuthor.SYSTEM,
        "joined",
        user_id=agent.id,
    )
    _event(session, "offered", conversation)
    return True


async def queue_position(session: AsyncSession, conversation: ChatConversation) -> int:
    ahead = await session.scalar(
        select(func.count(ChatConversation.id)).where(
            ChatConversation.status == ChatStatus.QUEUED,
            ChatConversation.started_at < conversation.started_at,
        )
    )
    return int(ahead or 0) + 1


async def wait_minutes(session: AsyncSession, position: int) -> int | None:
    """An honest estimate: the median wait of recent accepted chats times the place in the
    queue, spread over the agents online; None when there is no recent history to go on."""
    since = utcnow() - timedelta(days=ESTIMATE_DAYS)
    rows = await session.execute(
        select(ChatConversation.started_at, ChatConversation.accepted_at)
        .where(ChatConversation.accepted_at.is_not(None), ChatConversation.started_at >= since)
        .order_by(ChatConversation.accepted_at.desc())
        .limit(ESTIMATE_SAMPLE)
    )
    waits = [(accepted - started).total_seconds() for started, accepted in rows.all() if accepted]
    if len(waits) < 3:
        return None
    online = max(1, await agents_online(session, None))
    seconds = statistics.median(waits) * position / online
    return max(1, round(seconds / 60))


# --- the visitor's side ----------------------------------------------------------------------


async def _visitor_conversation(
    session: AsyncSession, widget: ChatWidget, secret: str, public_id: str | None = None
) -> ChatConversation | None:
    """The visitor's conversation by id (404 if not theirs), or their latest one."""
    digest = visitor_hash(secret)
    query = select(ChatConversation).where(
        ChatConversation.widget_id == widget.id, ChatConversation.visitor_hash == digest
    )
    if public_id is not None:
        found = await session.scalar(query.where(ChatConversation.public_id == public_id[:32]))
        if found is None:
            raise NotFound(GONE)
        return found
    return await session.scalar(
        query.order_by(ChatConversation.started_at.desc(), ChatConversation.id.desc()).limit(1)
    )


async def visitor_conversation(
    session: AsyncSession, widget: ChatWidget, secret: str, public_id: str
) -> ChatConversation:
    """The visitor's own conversation by its id; anyone else's is the same 404 as none."""
    found = await _visitor_conversation(session, widget, secret, public_id)
    assert found is not None
    return found


# Typing signals per visitor per rate-limit window (the widget sends one every 2.5 s at most).
TYPING_LIMIT = 600


async def visitor_typing(
    session: AsyncSession, redis: Any, widget: ChatWidget, secret: str, public_id: str
) -> ChatConversation:
    """The visitor is typing in their conversation (throttled; the caller publishes it)."""
    await ratelimit.check(redis, "chat-typing", visitor_hash(secret), TYPING_LIMIT)
    return await visitor_conversation(session, widget, secret, public_id)


async def conversation_exists(session: AsyncSession, widget: ChatWidget, public_id: str) -> None:
    """404 unless the widget has this conversation (the live stream's only check: it carries
    numbers, never text)."""
    found = await session.scalar(
        select(ChatConversation.id).where(
            ChatConversation.public_id == public_id[:32], ChatConversation.widget_id == widget.id
        )
    )
    if found is None:
        raise NotFound(GONE)


async def conversation_file(
    session: AsyncSession, widget: ChatWidget, public_id: str, attachment_id: int
) -> attachments.Download:
    """A file sent in this conversation; any other is the same 404."""
    conversation = await session.scalar(
        select(ChatConversation).where(
            ChatConversation.public_id == public_id[:32], ChatConversation.widget_id == widget.id
        )
    )
    sent = None
    if conversation is not None:
        sent = await session.scalar(
            select(ChatMessage.id).where(
                ChatMessage.conversation_id == conversation.id,
                ChatMessage.attachment_id == attachment_id,
            )
        )
    if conversation is None or sent is None:
        raise NotFound(N_("File not found."))
    return await attachments.get_for_download(session, CHAT, attachment_id, None)


async def suggestions(
    session: AsyncSession,
    redis: Any,
    widget: ChatWidget,
    query: str,
    locale: str,
    *,
    client: str,
    lexical_cache: Any = None,
) -> list[Any]:
    """Knowledge-base answers for what the visitor is typing (the portal's retrieval)."""
    from models.services.tickets import portal

    if len(query.strip()) < 2:
        return []
    return await portal.suggestions(
        session, redis, query, locale, client_ip=client, lexical_cache=lexical_cache
    )


async def visitor_view(
    session: AsyncSession,
    widget: ChatWidget,
    secret: str,
    *,
    after: int = 0,
    identity: widgets.IdentityCheck = widgets.ANONYMOUS,
) -> VisitorView:
    """The widget's state for this browser: its latest conversation after ``after``, and on
    a fresh load the earlier chats of this browser (and of the signed-in customer)."""
    conversation = await _visitor_conversation(session, widget, secret)
    open_now = await is_open(session, widget)
    history: list[Line] = []
    if after == 0:
        history = await _history(
            session,
            widget,
            visitor_hash(secret),
            identity.verified,
            current=conversation.id if conversation else None,
        )
    if conversation is None or conversation.status is ChatStatus.LEFT_MESSAGE:
        return VisitorView(
            open=open_now,
            conversation=None,
            status=None,
            lines=[],
            history=history,
            identity=identity.state,
        )
    position = minutes = None
    if conversation.status is ChatStatus.QUEUED:
        position = await queue_position(session, conversation)
        minutes = await wait_minutes(session, position)
    agent_name = None
    if conversation.agent_id is not None:
        agent = await session.get(User, conversation.agent_id)
        agent_name = agent.display_name if agent else None
    token, answered = await _survey(session, conversation)
    return VisitorView(
        open=open_now,
        conversation=conversation.public_id,
        status=ChatStatus(conversation.status),
        lines=await lines(session, conversation.id, after=after),
        agent_name=agent_name,
        queue_position=position,
        wait_minutes=minutes,
        agent_read_seq=conversation.agent_read_seq,
        survey_token=token,
        survey_answered=answered,
        history=history,
        identity=identity.state,
    )


async def _history(
    session: AsyncSession,
    widget: ChatWidget,
    digest: str | None,
    identity: widgets.Identity | None,
    *,
    current: int | None = None,
) -> list[Line]:
    """Earlier ended conversations on this widget (the last five), oldest first: this
    browser's, and those a signed identity of the same customer started in any browser."""
    mine = [ChatConversation.visitor_hash == digest]
    customer = await _identified_customer(session, identity)
    if customer is not None:
        records = select(Customer.id).where(
            or_(Customer.id == customer, Customer.merged_into_id == customer)
        )
        mine.append(ChatConversation.customer_id.in_(records) & ChatConversation.identity_verified)
    query = select(ChatConversation.id).where(
        ChatConversation.widget_id == widget.id,
        or_(*mine),
        ChatConversation.status == ChatStatus.ENDED,
    )
    if current is not None:
        query = query.where(ChatConversation.id != current)
    earlier = (
        await session.scalars(query.order_by(ChatConversation.started_at.desc()).limit(5))
    ).all()
    found: list[Line] = []
    for conversation_id in reversed(earlier):
        found.extend(line for line in await lines(session, conversation_id) if line.text)
    return found


async def _identified_customer(
    session: AsyncSession, identity: widgets.Identity | None
) -> int | None:
    """The customer a signed identity names (the record kept, if it was merged)."""
    if identity is None:
        return None
    customer = await registry.find_by_contact(session, phone=identity.phone, email=identity.email)
    return customer.id if customer is not None else None


async def _survey(session: AsyncSession, conversation: ChatConversation) -> tuple[str | None, bool]:
    """The in-widget survey of an ended chat: its token while it can be answered."""
    from models.survey import Survey

    if conversation.status is not ChatStatus.ENDED or conversation.ticket_id is None:
        return None, False
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == conversation.ticket_id))
    if survey is None:
        return None, False
    if survey.submitted_at is not None:
        return None, True
    if survey.expires_at <= utcnow():
        return None, False
    return surveys.token_for(survey), False


async def returning_customer(session: AsyncSession, *where: Any) -> int | None:
    """The customer of the newest earlier conversation matching ``where`` (the same browser,
    the same WeChat user), followed through customer merges; None for a first chat."""
    known = await session.scalar(
        select(ChatConversation.customer_id)
        .where(*where, ChatConversation.customer_id.is_not(None))
        .order_by(ChatConversation.id.desc())
        .limit(1)
    )
    if known is None:
        return None
    return await registry.merged_target(session, known) or known


async def _start(
    session: AsyncSession,
    widget: ChatWidget,
    digest: str,
    text: str,
    *,
    locale: str,
    name: str = "",
    phone: str = "",
    email: str = "",
    verified: bool = False,
) -> ChatConversation:
    """A new conversation, and its ticket, from the visitor's first message. A visitor who
    says nothing about who they are is, in the same browser, the customer of their earlier
    chats; a typed contact is matched as on the portal, a signed one decides."""
    public_id = new_public_id()
    known = None
    if not (verified or name.strip() or phone.strip() or email.strip()):
        known = await returning_customer(
            session,
            ChatConversation.widget_id == widget.id,
            ChatConversation.visitor_hash == digest,
        )
    result = await intake.register_inquiry(
        session,
        CHAT,
        intake.InquiryInput(
            description=text,
            channel=Channel.ONLINE_CHAT.value,
            name=name.strip() or f"{'Visitor' if locale == 'en' else '访客'} {public_id[:6]}",
            phone=phone or None,
            email=email or None,
            customer_id=known,
            allowed_channels=(Channel.ONLINE_CHAT,),
            # A typed contact under another name may be someone else; a signed one is not.
            match_names=not verified,
        ),
    )
    ticket = await commands.route_new(
        session,
        CHAT,
        result.ticket,
        department_id=widget.department_id,
        customer_replied_at=result.ticket.created_at,
    )
    conversation = ChatConversation(
        public_id=public_id,
        source="web",
        widget_id=widget.id,
        visitor_hash=digest,
        customer_id=result.customer_id,
        identity_verified=verified,
        ticket_id=ticket.id,
        department_id=widget.department_id or ticket.department_id,
        status=ChatStatus.QUEUED,
        locale=locale,
        started_at=utcnow(),
        last_seq=0,
        customer_read_seq=0,
        agent_read_seq=0,
    )
    session.add(conversation)
    await session.flush()
    _event(session, "queued", conversation)
    return conversation


@dataclass(frozen=True)
class VisitorMessage:
    text: str
    client_id: str | None = None
    locale: str = "zh-CN"
    # Optional on the first message: who the visitor is (matched to a known customer).
    name: str = ""
    phone: str = ""
    email: str = ""
    upload: attachments.Upload | None = None


async def visitor_post(
    session: AsyncSession,
    redis: Any,
    widget: ChatWidget,
    secret: str,
    message: VisitorMessage,
    *,
    public_id: str | None = None,
    identity: widgets.IdentityCheck = widgets.ANONYMOUS,
) -> tuple[ChatConversation, Line]:
    """The visitor sends a message (or a file): the first one starts a conversation, if the
    chat is open; a retry with the same client id returns the stored message. A signed
    identity decides who the customer is (what the visitor typed does not)."""
    digest = visitor_hash(secret)
    limit = get_settings().portal_rate_limit * MESSAGE_FACTOR
    await ratelimit.check(redis, "chat-message", digest, limit)
    client_id = _client_id(message.client_id)
    prepared = (
        await attachments.check_uploads([message.upload]) if message.upload is not None else []
    )
    text = message.text.strip() if prepared else clean(message.text)
    if len(text) > TEXT_MAX:
        text = clean(text)
    conversation = await _visitor_conversation(session, widget, secret, public_id)
    if conversation is not None and conversation.status not in OPEN:
        conversation = None  # an ended chat: a new message starts a new conversation
    if conversation is None:
        if not await is_open(session, widget):
            raise Conflict(OFFLINE)
        first = text or (prepared[0].filename if prepared else "")
        signed = identity.verified
        conversation = await _start(
            session,
            widget,
            digest,
            first,
            locale=message.locale,
            name=signed.name if signed else message.name,
            phone=(signed.phone or "") if signed else message.phone,
            email=(signed.email or "") if signed else message.email,
            verified=signed is not None,
        )
    else:
        repeated = await _existing(session, conversation, client_id)
        if repeated is not None:
            return conversation, (await lines(session, conversation.id, after=repeated.seq - 1))[0]
    attachment_id = None
    if prepared and conversation.ticket_id is not None:
        ticket = await commands.get(session, conversation.ticket_id)
        stored = await attachments.store_prepared(
            session, CHAT, ticket, prepared, source="chat", uploaded_by_customer=True
        )
        attachment_id = stored[0].id
    stored_message = await append(
        session,
        conversation,
        ChatAuthor.CUSTOMER,
        text,
        client_id=client_id,
        attachment_id=attachment_id,
    )
    conversation.last_customer_at = stored_message.created_at
    conversation.customer_read_seq = stored_message.seq
    if conversation.status is ChatStatus.QUEUED:
        await dispatch(session)
    line = (await lines(session, conversation.id, after=stored_message.seq - 1))[0]
    return conversation, line


async def visitor_read(
    session: AsyncSession, widget: ChatWidget, secret: str, public_id: str, seq: int
) -> None:
    conversation = await _visitor_conversation(session, widget, secret, public_id)
    assert conversation is not None
    seq = min(max(seq, 0), conversation.last_seq)
    if seq > conversation.customer_read_seq:
        conversation.customer_read_seq = seq
        _event(session, "read", conversation, side="customer", seq=seq)


async def visitor_end(
    session: AsyncSession, widget: ChatWidget, secret: str, public_id: str
) -> None:
    conversation = await _visitor_conversation(session, widget, secret, public_id)
    assert conversation is not None
    await _end(session, conversation, CHAT, by="visitor")


async def visitor_survey(
    session: AsyncSession,
    widget: ChatWidget,
    secret: str,
    public_id: str,
    answer: surveys.AnswerInput,
) -> None:
    """The survey answered inside the widget after the chat ended."""
    conversation = await _visitor_conversation(session, widget, secret, public_id)
    assert conversation is not None
    token, answered = await _survey(session, conversation)
    if token is None or answered:
        raise Conflict(N_("This survey can no longer be answered."))
    await surveys.submit(session, token, surveys.parse_answer(answer))


async def solved_by_article(
    session: AsyncSession, widget: ChatWidget, secret: str, article_id: int, query: str
) -> None:
    """A suggested answer solved the visitor's question before (or instead of) a chat:
    counted as a deflection, and an open conversation ends as solved by the article."""
    from models.services.knowledge import kb

    await kb.record_deflection(session, article_id, query[:500], None)
    conversation = await _visitor_conversation(session, widget, secret)
    if conversation is not None and conversation.status in OPEN:
        conversation.deflected_article_id = article_id
        await _end(session, conversation, CHAT, by="article")


@dataclass(frozen=True)
class LeftMessage:
    name: str
    phone: str
    email: str
    text: str
    locale: str = "zh-CN"


async def leave_message(
    session: AsyncSession,
    redis: Any,
    widget: ChatWidget,
    secret: str,
    data: LeftMessage,
    *,
    identity: widgets.IdentityCheck = widgets.ANONYMOUS,
) -> Ticket:
    """Off hours or nobody online: the message becomes a ticket, answered by phone or email
    (a signed-in customer's, when the site vouched for them: they need not type it)."""
    digest = visitor_hash(secret)
    await ratelimit.check(redis, "chat-leave", digest, get_settings().portal_rate_limit)
    text = clean(data.text)
    signed = identity.verified
    result = await intake.register_inquiry(
        session,
        CHAT,
        intake.InquiryInput(
            description=text,
            channel=Channel.ONLINE_CHAT.value,
            name=(data.name.strip() or signed.name or "—") if signed else data.name,
            phone=(signed.phone or "") if signed else data.phone,
            email=(signed.email or "") if signed else data.email,
            allowed_channels=(Channel.ONLINE_CHAT,),
            require_contact=True,
            match_names=signed is None,
        ),
    )
    ticket = await commands.route_new(
        session, CHAT, result.ticket, department_id=widget.department_id
    )
    session.add(
        ChatConversation(
            public_id=new_public_id(),
            source="web",
            widget_id=widget.id,
            visitor_hash=digest,
            customer_id=result.customer_id,
            ticket_id=ticket.id,
            identity_verified=signed is not None,
            department_id=widget.department_id,
            status=ChatStatus.LEFT_MESSAGE,
            locale=data.locale,
            started_at=utcnow(),
            ended_at=utcnow(),
            ended_by="visitor",
            last_seq=0,
            customer_read_seq=0,
            agent_read_seq=0,
        )
    )
    return ticket


# --- the agent's side --------------------------------------------------------------------------


async def for_staff(
    session: AsyncSession, actor: Actor, public_id: str, *, working: bool = False
) -> ChatConversation:
    """The conversation, for staff; ``working``: only its agent (or a lead) may act on it."""
    conversation = await session.scalar(
        select(ChatConversation).where(ChatConversation.public_id == public_id[:32])
    )
    if conversation is None:
        raise NotFound(GONE)
    if working and conversation.agent_id != actor.user_id and not actor.is_lead:
        raise Forbidden(N_("This chat is handled by a colleague."))
    return conversation


async def set_available(session: AsyncSession, actor: Actor, available: bool) -> None:
    """The agent's "available for chats" switch; switching on offers them waiting chats."""
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound(GONE)
    user.chat_available = available
    user.chat_seen_at = utcnow()
    await session.flush()
    if available:
        await dispatch(session)


async def heartbeat(session: AsyncSession, actor: Actor) -> None:
    """The agent's inbox is open: they count as online; waiting chats are offered."""
    user = await session.get(User, actor.user_id)
    if user is None:
        return
    user.chat_seen_at = utcnow()
    await session.flush()
    if user.chat_available:
        await dispatch(session)


async def agent_post(
    session: AsyncSession, actor: Actor, public_id: str, text: str, *, client_id: str | None = None
) -> Line:
    """The agent answers; the first answer is the ticket's first response."""
    conversation = await for_staff(session, actor, public_id, working=True)
    if conversation.status is not ChatStatus.ACTIVE:
        raise Conflict(N_("This chat has ended; the customer can no longer see new messages."))
    value = clean(text)
    cid = _client_id(client_id)
    repeated = await _existing(session, conversation, cid)
    if repeated is not None:
        return (await lines(session, conversation.id, after=repeated.seq - 1))[0]
    if conversation.source == "wecom":
        await check_reply_window(session, conversation)
    message = await append(
        session, conversation, ChatAuthor.AGENT, value, user_id=actor.user_id, client_id=cid
    )
    if conversation.source == "wecom":
        message.delivery = "pending"
        record_job(session, wecom_send_job(message.id))
    conversation.agent_read_seq = message.seq
    if conversation.first_response_at is None:
        conversation.first_response_at = message.created_at
        if conversation.ticket_id is not None:
            ticket = await commands.get(session, conversation.ticket_id)
            await commands.record_chat_reply(session, actor, ticket)
    return (await lines(session, conversation.id, after=message.seq - 1))[0]


async def check_reply_window(
    session: AsyncSession, conversation: ChatConversation, now: datetime | None = None
) -> None:
    """Refuse, before anything is stored, a reply WeCom would not deliver: it lets replies
    through only within 48 hours of the customer's last message, 5 until they write again."""
    now = now or utcnow()
    last = conversation.last_customer_at
    rule: str | None = "expired"
    if last is not None:
        sent = await session.scalar(
            select(func.count(ChatMessage.id)).where(
                ChatMessage.conversation_id == conversation.id,
                ChatMessage.author == ChatAuthor.AGENT,
                ChatMessage.created_at > last,
            )
        )
        rule = wecom.reply_window_rule(last, now, int(sent or 0))
    if rule == "expired":
        raise Conflict(
            N_(
                "WeCom delivers replies only within 48 hours of the customer's last message; "
                "this customer has not written since. Contact them another way."
            )
        )
    if rule == "exhausted":
        raise Conflict(
            N_(
                "WeCom delivers at most %(count)s replies until the customer writes again; "
                "wait for their answer."
            ),
            count=wecom.REPLIES_PER_WINDOW,
        )


async def agent_read(session: AsyncSession, actor: Actor, public_id: str, seq: int) -> None:
    conversation = await for_staff(session, actor, public_id, working=True)
    seq = min(max(seq, 0), conversation.last_seq)
    if seq > conversation.agent_read_seq:
        conversation.agent_read_seq = seq
        _event(session, "read", conversation, side="agent", seq=seq)


async def accept(session: AsyncSession, actor: Actor, public_id: str) -> ChatConversation:
    """The agent takes a waiting chat themselves (within their cap)."""
    conversation = await for_staff(session, actor, public_id)
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound(GONE)
    if conversation.status is not ChatStatus.QUEUED:
        raise Conflict(N_("A colleague has already taken this chat."))
    if (await _active_load(session)).get(user.id, 0) >= user.chat_capacity:
        raise Conflict(
            N_("You already have %(count)s chats open, your limit."), count=user.chat_capacity
        )
    if not await _take(session, conversation, user):
        raise Conflict(N_("A colleague has already taken this chat."))
    return conversation


async def transfer(
    session: AsyncSession,
    actor: Actor,
    public_id: str,
    *,
    to_user_id: int | None = None,
    to_department_id: int | None = None,
) -> ChatConversation:
    """Hand the chat to a colleague (who must be online and below their cap) or back to a
    department's queue."""
    conversation = await for_staff(session, actor, public_id, working=True)
    if conversation.status is not ChatStatus.ACTIVE:
        raise Conflict(N_("Only an ongoing chat can be transferred."))
    if to_user_id is not None:
        colleague = await session.scalar(select(User).where(User.id == to_user_id, eligible(None)))
        if colleague is None:
            raise ValidationFailed(
                N_("This colleague is not available for chats."),
                fields={"to_user_id": N_("Not available.")},
            )
        if (await _active_load(session)).get(colleague.id, 0) >= colleague.chat_capacity:
            raise Conflict(
                N_("%(name)s has no room for another chat."), name=colleague.display_name
            )
        previous = conversation.agent_id
        conversation.agent_id = colleague.id
        if conversation.ticket_id is not None:
            await commands.assign(
                session, CHAT, conversation.ticket_id, colleague.id, expected_version=None
            )
        await append(session, conversation, ChatAuthor.SYSTEM, "transferred", user_id=colleague.id)
        _event(session, "offered", conversation, previous_agent_id=previous)
    elif to_department_id is not None:
        conversation.department_id = to_department_id
        conversation.status = ChatStatus.QUEUED
        previous = conversation.agent_id
        conversation.agent_id = None
        await append(session, conversation, ChatAuthor.SYSTEM, "requeued")
        _event(session, "queued", conversation, previous_agent_id=previous)
        await dispatch(session)
    else:
        raise ValidationFailed(N_("Choose a colleague or a department."))
    audit.record(
        session,
        actor,
        entity_type="chat",
        entity_id=conversation.id,
        ticket_id=conversation.ticket_id,
        action="chat_transferred",
        after={"user_id": to_user_id, "department_id": to_department_id},
    )
    return conversation


async def agent_end(session: AsyncSession, actor: Actor, public_id: str) -> ChatConversation:
    conversation = await for_staff(session, actor, public_id, working=True)
    await _end(session, conversation, actor, by="agent")
    return conversation


async def _end(
    session: AsyncSession, conversation: ChatConversation, actor: Actor, *, by: str
) -> None:
    """End the chat. The transcript goes on the ticket's timeline. An answered chat is
    completed (the widget offers the survey); one nobody answered stays on the board with the
    customer's messages, so they are seen and answered another way."""
    if conversation.status not in OPEN:
        return
    agent = await session.get(User, conversation.agent_id) if conversation.agent_id else None
    answered = conversation.status is ChatStatus.ACTIVE and conversation.first_response_at
    conversation.status = ChatStatus.ENDED
    conversation.ended_at = utcnow()
    conversation.ended_by = by
    await append(session, conversation, ChatAuthor.SYSTEM, f"ended:{by}")
    if conversation.ticket_id is None:
        return
    transcript = await lines(session, conversation.id)
    spoken = [line for line in transcript if line.author is not ChatAuthor.SYSTEM]
    ticket = await commands.get(session, conversation.ticket_id)
    if by == "article":
        # The customer said a suggested answer solved it: the ticket is done, not left
        # waiting on the board for someone to answer a question already answered.
        worker = actor_for(agent) if agent is not None else CHAT
        await _complete(session, worker, ticket, conversation, spoken)
        return
    if agent is None or not answered:
        if len([line for line in spoken if line.author is ChatAuthor.CUSTOMER]) > 1:
            await messages.receive(
                session,
                CHAT,
                ticket,
                messages.CustomerMessage(
                    text=_as_text(spoken),
                    method=FollowUpMethod.ONLINE_CHAT,
                    channel=Channel.ONLINE_CHAT,
                ),
            )
        return
    await _complete(session, actor_for(agent), ticket, conversation, spoken)


async def _complete(
    session: AsyncSession,
    worker: Actor,
    ticket: Ticket,
    conversation: ChatConversation,
    spoken: list[Line],
) -> None:
    """Transcript on the timeline; the ticket through 处理中 and 待确认 to 已完成 (the
    customer was there: ending the chat is their confirmation; the survey follows)."""
    if TicketStatus(ticket.status) is TicketStatus.PENDING:
        await commands.move(
            session, worker, ticket.id, TicketStatus.IN_PROGRESS, expected_version=None
        )
    await commands.add_follow_up(
        session,
        worker,
        ticket.id,
        commands.FollowUpInput(
            method=FollowUpMethod.ONLINE_CHAT, discussed=_as_text(spoken), visible_to_customer=False
        ),
    )
    if TicketStatus(ticket.status) is not TicketStatus.IN_PROGRESS:
        return
    await commands.move(
        session, worker, ticket.id, TicketStatus.AWAITING_CONFIRMATION, expected_version=None
    )
    # The customer was there: ending the chat is their confirmation; the survey follows.
    await commands.move(
        session,
        CHAT,
        ticket.id,
        TicketStatus.COMPLETED,
        expected_version=None,
        resolution=_resolution(conversation, spoken),
    )


def _resolution(conversation: ChatConversation, spoken: list[Line]) -> str:
    if conversation.ended_by == "article":
        return "Solved by a suggested answer during the chat."
    said = [line.text for line in spoken if line.author is ChatAuthor.AGENT and line.text]
    return (said[-1] if said else "Answered in live chat.")[:1000]


def _as_text(spoken: list[Line]) -> str:
    """The conversation as text for the ticket's timeline (who said what, when)."""
    out = []
    for line in spoken:
        who = "agent" if line.author is ChatAuthor.AGENT else "customer"
        text = line.text or ""
        if line.attachment_name:
            text = f"{text} [{line.attachment_name}]".strip()
        out.append(f"[{who}] {line.at:%H:%M:%S} {text}")
    value = "\n".join(out) or "-"
    limit = get_settings().description_max_length
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --- the 30-second standard ----------------------------------------------------------------


async def escalate_waiting(session: AsyncSession, now: datetime | None = None) -> int:
    """Chats with no answer after the SLA policy's chat first-response target (30 s as
    shipped, the seed's standard for 在线客服) are escalated once to their department's
    supervisor and leads."""
    now = now or utcnow()
    target = (await sla.load_rules(session)).policy.chat_first_response_seconds
    limit = now - timedelta(seconds=target)
    waiting = (
        await session.scalars(
            select(ChatConversation)
            .where(
                ChatConversation.status.in_(OPEN),
                ChatConversation.first_response_at.is_(None),
                ChatConversation.escalated_at.is_(None),
                ChatConversation.started_at <= limit,
            )
            .order_by(ChatConversation.started_at)
            .limit(200)
        )
    ).all()
    for conversation in waiting:
        conversation.escalated_at = now
        number = None
        if conversation.ticket_id is not None:
            number = await session.scalar(
                select(Ticket.number).where(Ticket.id == conversation.ticket_id)
            )
        waited = int((now - conversation.started_at).total_seconds())
        await notifications.notify(
            session,
            kind=notifications.KIND_ESCALATION,
            message=N_(
                "A chat (%(number)s) has waited %(seconds)s s without an answer; the target "
                "is %(target)s s."
            ),
            params={
                "number": number or "-",
                "seconds": waited,
                "target": target,
            },
            user_ids=await messages.department_leads(session, conversation.department_id),
            ticket_id=conversation.ticket_id,
            department_id=conversation.department_id,
            key=f"chat-waiting:{conversation.id}",
        )
        _event(session, "escalated", conversation)
    return len(waiting)


# An agent whose inbox has been silent this long (browser closed, connection gone) has their
# ongoing chats put back in the queue for a colleague; switching "available" off does not
# (they finish the chats they have, and get no new ones).
ABANDONED_SECONDS = 180


async def requeue_abandoned(session: AsyncSession, now: datetime | None = None) -> int:
    """Give back the chats of agents who are no longer there."""
    now = now or utcnow()
    gone = now - timedelta(seconds=ABANDONED_SECONDS)
    rows = (
        await session.scalars(
            select(ChatConversation)
            .join(User, User.id == ChatConversation.agent_id)
            .where(
                ChatConversation.status == ChatStatus.ACTIVE,
                (User.chat_seen_at.is_(None)) | (User.chat_seen_at < gone),
            )
            .limit(200)
        )
    ).all()
    for conversation in rows:
        previous = conversation.agent_id
        conversation.status = ChatStatus.QUEUED
        conversation.agent_id = None
        await append(session, conversation, ChatAuthor.SYSTEM, "requeued")
        _event(session, "queued", conversation, previous_agent_id=previous)
    return len(rows)
