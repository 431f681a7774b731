"""One composer in the drawer: a reply to the customer or an internal note, one follow-up.

A reply goes by the ticket's channel — email when the customer has an address and a mail
server can take it (the outbound rules of :mod:`models.services.mail.outbound`), otherwise a
follow-up the customer sees on the tracking page. A note is never shown to the customer.
Before a reply is sent, a reply someone else sent since this person opened the drawer holds it
until they confirm (they may be about to say the same thing twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import FollowUpMethod
from models.followup import FollowUp
from models.services.common.actor import Actor
from models.services.common.crypto import mask_email
from models.services.common.errors import N_, ValidationFailed
from models.services.mail import outbound
from models.services.tickets import commands
from models.user import User


class Kind(StrEnum):
    REPLY = "reply"
    NOTE = "note"


class Route(StrEnum):
    """How a reply reaches the customer."""

    EMAIL = "email"  # sent by mail in the ticket's thread
    PORTAL = "portal"  # shown on the tracking page
    RECORD = "record"  # neither: recorded as customer-visible (tell them by phone)


@dataclass(frozen=True)
class ComposerView:
    """What the composer says and offers for one ticket."""

    ticket_id: int
    route: Route
    masked_email: str | None
    # The newest follow-up this person has seen (a reply after it holds their send).
    seen_follow_up_id: int
    mail_configured: bool

    @property
    def reply_method(self) -> FollowUpMethod:
        return FollowUpMethod.EMAIL if self.route is Route.EMAIL else FollowUpMethod.ONLINE_CHAT


@dataclass(frozen=True)
class ComposeInput:
    kind: Kind
    # The follow-up record (Template 3): ``discussed`` is the message itself.
    record: commands.FollowUpInput
    seen_follow_up_id: int = 0
    confirmed: bool = False


@dataclass(frozen=True)
class Held:
    """A reply not sent because someone else replied first; sent again once confirmed."""

    by: str
    at: datetime


async def _latest_id(session: AsyncSession, ticket_id: int) -> int:
    stmt = select(func.max(FollowUp.id)).where(FollowUp.ticket_id == ticket_id)
    return int(await session.scalar(stmt) or 0)


async def view(session: AsyncSession, actor: Actor, ticket_id: int) -> ComposerView:
    ticket = await commands.get(session, ticket_id)
    email = await outbound.customer_email(session, ticket)
    configured = await outbound.can_send(session, ticket.id)
    if email and configured:
        route = Route.EMAIL
    elif ticket.tracking_token_hash:
        route = Route.PORTAL
    else:
        route = Route.RECORD
    return ComposerView(
        ticket_id=ticket.id,
        route=route,
        masked_email=mask_email(email) if email else None,
        seen_follow_up_id=await _latest_id(session, ticket.id),
        mail_configured=configured,
    )


async def reply_since(
    session: AsyncSession, actor: Actor, ticket_id: int, seen_follow_up_id: int
) -> Held | None:
    """The newest customer-visible reply someone else sent after ``seen_follow_up_id``."""
    stmt = (
        select(FollowUp.at, User.display_name)
        .join(User, User.id == FollowUp.user_id)
        .where(
            FollowUp.ticket_id == ticket_id,
            FollowUp.id > seen_follow_up_id,
            FollowUp.visible_to_customer.is_(True),
            FollowUp.by_customer.is_(False),
            FollowUp.user_id != actor.user_id,
        )
        .order_by(FollowUp.id.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return Held(by=row.display_name, at=row.at) if row else None


async def send(
    session: AsyncSession, actor: Actor, ticket_id: int, data: ComposeInput
) -> Held | None:
    """Record the reply or note (and queue its mail); a :class:`Held` instead when someone
    else replied since this person looked and they have not confirmed."""
    ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    if data.kind is Kind.NOTE:
        await commands.add_follow_up(
            session, actor, ticket.id, replace(data.record, visible_to_customer=False)
        )
        return None
    if not data.confirmed:
        held = await reply_since(session, actor, ticket.id, data.seen_follow_up_id)
        if held is not None:
            # The text is checked now, so a held empty reply says what is wrong instead.
            commands.clean_text(data.record.discussed, "discussed")
            return held
    current = await view(session, actor, ticket.id)
    if current.route is Route.EMAIL:
        await outbound.queue_reply(
            session, actor, ticket.id, data.record.discussed, record=data.record
        )
        return None
    await commands.add_follow_up(
        session, actor, ticket.id, replace(data.record, visible_to_customer=True)
    )
    return None


def parse_kind(value: str) -> Kind:
    try:
        return Kind(value or Kind.REPLY.value)
    except ValueError:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={"kind": N_("Invalid value.")}
        ) from None
