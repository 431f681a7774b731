"""Quick replies: saved answers with variables, searched from any reply box by typing ``/``.

Variables are written ``{{name}}``; each has an English and a Chinese name, both accepted:

=================  ===========  =========================================
``customer_name``  ``客户姓名``  the ticket's customer
``ticket_number``  ``工单编号``  the ticket's number (TASK…)
``agent_name``     ``客服姓名``  the staff member inserting the reply
``due_date``       ``截止日期``  the ticket's resolution due date (team time)
=================  ===========  =========================================

An unknown variable is refused when the reply (or a macro's text) is saved, naming it, so a
customer never receives a literal ``{{…}}``. Team replies are managed by leads and admins,
personal ones by their owner; rendering one for a ticket counts a use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.quick_reply import QuickReply, ReplyLanguage, ReplyScope
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.knowledge import kb
from models.services.tickets import commands
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User

TITLE_MAX = 120
BODY_MAX = 5000
SHORTCUT_MAX = 32
SEARCH_LIMIT = 8

VARIABLES: dict[str, str] = {
    "customer_name": "customer_name",
    "ticket_number": "ticket_number",
    "agent_name": "agent_name",
    "due_date": "due_date",
    "客户姓名": "customer_name",
    "工单编号": "ticket_number",
    "客服姓名": "agent_name",
    "截止日期": "due_date",
}
VARIABLE_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SHORTCUT_RE = re.compile(r"^[\w-]+$")


@dataclass(frozen=True)
class ReplyInput:
    title: str
    body: str
    language: str = ReplyLanguage.ANY.value
    scope: str = ReplyScope.PERSONAL.value
    shortcut: str = ""
    department_id: int | None = None


@dataclass(frozen=True)
class ReplyRow:
    id: int
    title: str
    body: str
    language: ReplyLanguage
    scope: ReplyScope
    shortcut: str | None
    usage_count: int
    can_edit: bool


def _invalid(field: str, message: str = N_("Invalid value.")) -> ValidationFailed:
    return ValidationFailed(N_("Please correct the highlighted fields."), fields={field: message})


def check_variables(text: str, field: str) -> None:
    """Refuse a text naming a variable nobody can fill (the message names it)."""
    for match in VARIABLE_RE.finditer(text):
        if match.group(1) not in VARIABLES:
            raise ValidationFailed(
                N_("Unknown variable %(name)s. Known: %(known)s."),
                fields={field: N_("Unknown variable.")},
                name=match.group(0),
                known=", ".join("{{" + name + "}}" for name in VARIABLES),
            )


def fill(text: str, values: dict[str, str]) -> str:
    """Replace each known variable with its value (unknown ones were refused on save)."""
    return VARIABLE_RE.sub(lambda m: values.get(VARIABLES.get(m.group(1), ""), m.group(0)), text)


def can_manage(actor: Actor, scope: ReplyScope, owner_id: int | None) -> bool:
    if scope is ReplyScope.TEAM:
        return actor.is_lead
    return actor.user_id is not None and owner_id == actor.user_id


def ensure_can_manage(actor: Actor, scope: ReplyScope, owner_id: int | None) -> None:
    if not can_manage(actor, scope, owner_id):
        if scope is ReplyScope.TEAM:
            raise Forbidden(N_("Only leads and admins manage team replies and macros."))
        raise Forbidden(N_("You can only change your own personal replies and macros."))


def visible(actor: Actor) -> object:
    """Team replies plus the actor's own personal ones."""
    return or_(
        QuickReply.scope == ReplyScope.TEAM,
        QuickReply.owner_id == (actor.user_id if actor.user_id is not None else -1),
    )


def _clean(data: ReplyInput) -> tuple[str, str, ReplyLanguage, ReplyScope, str | None]:
    title = (data.title or "").strip()
    body = (data.body or "").replace("\r\n", "\n").strip()
    if not title:
        raise _invalid("title", N_("Required."))
    if len(title) > TITLE_MAX:
        raise _invalid("title", N_("Too long."))
    if not body:
        raise _invalid("body", N_("Required."))
    if len(body) > BODY_MAX:
        raise _invalid("body", N_("Too long."))
    try:
        language = ReplyLanguage(data.language or ReplyLanguage.ANY.value)
    except ValueError:
        raise _invalid("language", N_("Choose a value.")) from None
    try:
        scope = ReplyScope(data.scope)
    except ValueError:
        raise _invalid("scope", N_("Choose a value.")) from None
    shortcut = (data.shortcut or "").strip().lstrip("/") or None
    if shortcut and (len(shortcut) > SHORTCUT_MAX or not SHORTCUT_RE.match(shortcut)):
        raise _invalid("shortcut", N_("Letters, digits, - and _ only (at most 32)."))
    check_variables(title, "title")
    check_variables(body, "body")
    return title, body, language, scope, shortcut


def _row(actor: Actor, reply: QuickReply) -> ReplyRow:
    scope = ReplyScope(reply.scope)
    return ReplyRow(
        reply.id,
        reply.title,
        reply.body,
        ReplyLanguage(reply.language),
        scope,
        reply.shortcut,
        reply.usage_count,
        can_manage(actor, scope, reply.owner_id),
    )


async def get(session: AsyncSession, actor: Actor, reply_id: int) -> QuickReply:
    reply = await session.scalar(
        select(QuickReply).where(QuickReply.id == reply_id, visible(actor))  # type: ignore[arg-type]
    )
    if reply is None:
        raise NotFound(N_("Quick reply not found."))
    return reply


async def create(session: AsyncSession, actor: Actor, data: ReplyInput) -> QuickReply:
    title, body, language, scope, shortcut = _clean(data)
    owner_id = actor.user_id if scope is ReplyScope.PERSONAL else None
    ensure_can_manage(actor, scope, owner_id)
    now = utcnow()
    reply = QuickReply(
        title=title,
        body=body,
        language=language,
        scope=scope,
        owner_id=owner_id,
        department_id=data.department_id,
        shortcut=shortcut,
        usage_count=0,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    await session.flush()
    return reply


async def update_reply(
    session: AsyncSession, actor: Actor, reply_id: int, data: ReplyInput
) -> QuickReply:
    """Edit a reply; its scope stays what it was (a personal reply is not promoted here)."""
    reply = await get(session, actor, reply_id)
    ensure_can_manage(actor, ReplyScope(reply.scope), reply.owner_id)
    title, body, language, _scope, shortcut = _clean(
        ReplyInput(data.title, data.body, data.language, str(reply.scope), data.shortcut)
    )
    reply.title, reply.body, reply.language, reply.shortcut = title, body, language, shortcut
    reply.updated_at = utcnow()
    await session.flush()
    return reply


async def delete(session: AsyncSession, actor: Actor, reply_id: int) -> None:
    reply = await get(session, actor, reply_id)
    ensure_can_manage(actor, ReplyScope(reply.scope), reply.owner_id)
    await session.delete(reply)
    await session.flush()


async def rows(session: AsyncSession, actor: Actor, scope: ReplyScope) -> list[ReplyRow]:
    stmt = select(QuickReply).where(QuickReply.scope == scope, visible(actor))  # type: ignore[arg-type]
    found = await session.scalars(stmt.order_by(QuickReply.title, QuickReply.id))
    return [_row(actor, r) for r in found]


async def edit_view(session: AsyncSession, actor: Actor, reply_id: int) -> ReplyRow:
    reply = await get(session, actor, reply_id)
    ensure_can_manage(actor, ReplyScope(reply.scope), reply.owner_id)
    return _row(actor, reply)


async def draft_from_article(session: AsyncSession, actor: Actor, article_id: int) -> ReplyInput:
    """A new reply pre-filled from a knowledge-base article (title and text)."""
    article = await kb.article_view(session, actor, article_id)
    language = article.locale if article.locale in ("zh_CN", "en") else ReplyLanguage.ANY.value
    return ReplyInput(article.title[:TITLE_MAX], article.body[:BODY_MAX], language)


async def search(
    session: AsyncSession, actor: Actor, query: str, locale: str, *, limit: int = SEARCH_LIMIT
) -> list[ReplyRow]:
    """Replies matching ``query`` in title, shortcut or text; the person's language first,
    then language-neutral ones, then the most used."""
    stmt = select(QuickReply).where(visible(actor))  # type: ignore[arg-type]
    text = (query or "").strip()[:100]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                QuickReply.title.ilike(pattern, escape="\\"),
                QuickReply.shortcut.ilike(pattern, escape="\\"),
                QuickReply.body.ilike(pattern, escape="\\"),
            )
        )
    language_first = case(
        (QuickReply.language == locale, 0), (QuickReply.language == ReplyLanguage.ANY, 1), else_=2
    )
    stmt = stmt.order_by(language_first, QuickReply.usage_count.desc(), QuickReply.title)
    return [_row(actor, r) for r in await session.scalars(stmt.limit(limit))]


async def values_for(session: AsyncSession, actor: Actor, ticket: Ticket) -> dict[str, str]:
    """What each variable stands for on this ticket, for this staff member."""
    agent = await session.get(User, actor.user_id) if actor.user_id is not None else None
    due = ticket.resolution_due
    zone = ZoneInfo(get_settings().timezone)
    return {
        "customer_name": ticket.customer.name,
        "ticket_number": ticket.number,
        "agent_name": agent.display_name if agent else actor.label,
        "due_date": due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if due else "—",
    }


async def render_for_ticket(
    session: AsyncSession, actor: Actor, reply_id: int, ticket_id: int
) -> str:
    """The reply's text with this ticket's values filled in; counts one use."""
    reply = await get(session, actor, reply_id)
    ticket = await commands.get(session, ticket_id)
    text = fill(reply.body, await values_for(session, actor, ticket))
    await session.execute(
        update(QuickReply)
        .where(QuickReply.id == reply.id)
        .values(usage_count=QuickReply.usage_count + 1)
    )
    return text
