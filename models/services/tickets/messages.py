"""A customer's message about an existing inquiry, from any channel — the portal's tracking
page, an email reply, the API, a chat — lands where someone sees it.

:func:`receive` is the one service every channel calls:

* pending or in progress: the message is a customer follow-up on the ticket;
* awaiting confirmation or completed: the same, and the ticket goes back to in progress
  (the timeline says the customer's reply reopened it);
* closed: the case is over (survey done, KPIs counted), so the message opens a new inquiry
  for the same customer, linked to the old one as its repeat and triaged like any new
  ticket; the closed ticket is left as it is, apart from a timeline line naming the repeat.

In every case the ticket the message landed on is marked "customer replied" (until someone
who may work it opens its drawer), and its assignee — or, unassigned, the department's
lead(s) — is notified (in-app bell, live board, their channels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import Channel, FollowUpMethod, Role, TicketStatus
from models.followup import FollowUp
from models.services.admin.org import load_org
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_
from models.services.notify import notifications
from models.services.tickets import commands, intake
from models.ticket import Ticket
from models.user import User

FIELD = "text"
EXCERPT = 80


@dataclass(frozen=True)
class CustomerMessage:
    """What a channel hands over: the text and how it came in."""

    text: str
    method: FollowUpMethod
    # The channel a repeat inquiry (message on a closed ticket) is registered under.
    channel: Channel
    # Shown on the follow-up's audit entry (a mail's sender warning, for one).
    details: dict[str, str] = field(default_factory=dict)
    # Where a repeat inquiry goes before triage (the mailbox's department).
    department_id: int | None = None
    # A repeat inquiry gets its own tracking link (channels that hand out links).
    with_tracking_link: bool = False
    api_key_id: int | None = None
    # Longest accepted text (default: the description limit, as it may become one).
    limit: int | None = None


@dataclass(frozen=True)
class Landed:
    """Where the message landed and what it did."""

    ticket: Ticket  # the ticket now carrying the message (the repeat, for a closed one)
    follow_up: FollowUp | None  # None: the message is the repeat inquiry's description
    reopened: bool
    repeat_of: Ticket | None = None
    tracking_token: str | None = None  # the repeat inquiry's link, where the channel has one

    @property
    def opened_repeat(self) -> bool:
        return self.repeat_of is not None


def clean(text: str, limit: int | None = None) -> str:
    """The message as it is stored; empty or too long is a localized 422, nothing stored."""
    return commands.clean_text(text, FIELD, limit=limit)


async def receive(
    session: AsyncSession, actor: Actor, ticket: Ticket, message: CustomerMessage
) -> Landed:
    """Put the customer's message where someone sees it (see the module docstring)."""
    text = clean(message.text, message.limit)
    # A merged duplicate's number, link or mail thread leads to the primary.
    ticket = await commands.resolve_merged(session, ticket)
    repeat = None
    if TicketStatus(ticket.status) is TicketStatus.CLOSED:
        repeat = await _open_repeat_of(session, ticket)
    if repeat is not None:
        # A second message on the same closed case joins the repeat the first one opened.
        ticket = repeat
    if TicketStatus(ticket.status) is TicketStatus.CLOSED:
        landed = await _open_repeat(session, actor, ticket, text, message)
    else:
        follow_up = FollowUp(
            ticket_id=ticket.id,
            at=utcnow(),
            user_id=None,
            by_customer=True,
            method=message.method,
            discussed=text,
            visible_to_customer=True,
        )
        reopened = await commands.add_customer_reply(
            session, actor, ticket, follow_up, details=message.details or None
        )
        landed = Landed(ticket, follow_up, reopened)
    await _tell_the_team(session, landed, text)
    return landed


async def _open_repeat_of(session: AsyncSession, closed: Ticket) -> Ticket | None:
    """The repeat inquiry a message on this closed ticket already opened, if still open."""
    found = await session.scalar(
        select(Ticket.id)
        .where(
            Ticket.repeat_of_id == closed.id,
            Ticket.customer_id == closed.customer_id,
            Ticket.status != TicketStatus.CLOSED,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    return await commands.get(session, found) if found is not None else None


async def _open_repeat(
    session: AsyncSession, actor: Actor, closed: Ticket, text: str, message: CustomerMessage
) -> Landed:
    result = await intake.register_inquiry(
        session,
        actor,
        intake.InquiryInput(
            description=text,
            channel=message.channel.value,
            customer_id=closed.customer_id,
            allowed_channels=(message.channel,),
            with_tracking_link=message.with_tracking_link,
            api_key_id=message.api_key_id,
        ),
    )
    repeat = await commands.route_new(
        session,
        actor,
        result.ticket,
        department_id=message.department_id,
        repeat_of_id=closed.id,
        customer_replied_at=result.ticket.created_at,
    )
    for on, action, other in (
        (closed, "repeat_opened", repeat),
        (repeat, "repeat_of", closed),
    ):
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=on.id,
            ticket_id=on.id,
            action=action,
            after=other.number,
        )
    return Landed(repeat, None, False, repeat_of=closed, tracking_token=result.tracking_token)


async def recipients(session: AsyncSession, ticket: Ticket) -> list[int]:
    """Who hears of a customer's message: the assignee; unassigned, the department's leads
    (its supervisor and its active leads), else the first rung above it (the admins)."""
    if ticket.assignee_id is not None:
        return [ticket.assignee_id]
    return await department_leads(session, ticket.department_id)


async def department_leads(session: AsyncSession, department_id: int | None) -> list[int]:
    """A department's supervisor and active leads, else the first rung above it (the admins)."""
    org = await load_org(session)
    leads: list[int] = []
    if department_id is not None:
        supervisor = org.supervisor(department_id)
        rows = await session.scalars(
            select(User.id)
            .where(
                User.department_id == department_id,
                User.role == Role.LEAD,
                User.is_active.is_(True),
            )
            .order_by(User.id)
        )
        leads = [i for i in dict.fromkeys([supervisor, *rows.all()]) if i is not None]
    return leads or org.first_rung(department_id)


async def _tell_the_team(session: AsyncSession, landed: Landed, text: str) -> None:
    # A repeat is told to whoever had the closed case: they know the customer.
    known = landed.repeat_of or landed.ticket
    excerpt = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
    params = {"number": landed.ticket.number, "excerpt": excerpt}
    if landed.repeat_of is not None:
        params["previous"] = landed.repeat_of.number
        message = N_(
            "The customer of closed ticket %(previous)s wrote again; repeat inquiry %(number)s "
            "was opened: %(excerpt)s"
        )
    elif landed.reopened:
        message = N_("The customer replied on %(number)s, which is back in progress: %(excerpt)s")
    else:
        message = N_("The customer replied on %(number)s: %(excerpt)s")
    await notifications.notify(
        session,
        kind=notifications.KIND_CUSTOMER_REPLY,
        message=message,
        params=params,
        user_ids=await recipients(session, known),
        ticket_id=landed.ticket.id,
        department_id=known.department_id,
    )


async def receive_for_api(
    session: AsyncSession, actor: Actor, api_key_id: int, number: str, text: str
) -> Landed:
    """A message relayed by the API client that registered the inquiry (another key's
    number is the same 404 as an unknown one); a repeat inquiry belongs to that client too."""
    found = await intake.ticket_for_api(session, api_key_id, number)
    ticket = await commands.get(session, found.id)
    return await receive(
        session,
        actor,
        ticket,
        CustomerMessage(
            text=text,
            method=FollowUpMethod.ONLINE_CHAT,
            channel=Channel.API,
            with_tracking_link=True,
            api_key_id=api_key_id,
        ),
    )
