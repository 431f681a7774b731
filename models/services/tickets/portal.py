"""The public customer portal: submit an inquiry, find an answer first, track it later.

No sign-in: a visitor is identified only by the unguessable tracking token in their link
(only its hash is stored), and throttled per IP address. Everything here keeps working
when Redis or the worker is down: the rate limiter fails open and the database is the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.customer import Customer
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.services.common import audit, ratelimit
from models.services.common.actor import Actor
from models.services.common.crypto import new_token, normalize_email, normalize_phone
from models.services.common.errors import N_, ValidationFailed
from models.services.customers import registry
from models.services.knowledge import kb
from models.services.tickets import attachments, commands, intake, messages, surveys
from models.services.tickets.attachments import AttachmentView
from models.settings import get_settings
from models.ticket import Ticket

log = logging.getLogger(__name__)

PORTAL = Actor.system("portal")
SUGGESTIONS = 3
# Suggestions fire while the visitor types; they get a far larger allowance than submissions.
SUGGEST_FACTOR = 30
INFO_MAX = 2000
# "Find my inquiry": guesses allowed per ticket number per rate-limit window, from anywhere.
FIND_PER_NUMBER = 5
NUMBER_MAX = 32
NOT_FOUND = N_("No inquiry matches this number and phone or email.")


@dataclass(frozen=True)
class PortalSubmission:
    name: str = ""
    phone: str = ""
    email: str = ""
    description: str = ""
    order_number: str = ""
    form_key: str = ""
    honeypot: str = ""
    files: tuple[attachments.Upload, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """What the visitor is told after submitting; no token for a trapped bot."""

    number: str | None
    tracking_token: str | None
    repeated: bool = False


@dataclass(frozen=True)
class PublicReply:
    at: datetime
    text: str
    by_customer: bool
    is_resolution: bool


@dataclass(frozen=True)
class NewInquiry:
    """The inquiry a message on a closed one opened, with its own tracking link's token."""

    number: str
    token: str


@dataclass(frozen=True)
class TrackingView:
    """The tracking page: status and the conversation meant for the customer, nothing else."""

    number: str
    title: str
    description: str
    order_number: str | None
    status: TicketStatus
    created_at: datetime
    replies: list[PublicReply]
    can_add_information: bool
    is_done: bool
    attachments: list[AttachmentView] = field(default_factory=list)
    # Closed: a message opens a new inquiry (files can no longer be added).
    is_closed: bool = False
    # The inquiry the customer's message just opened (this one being closed).
    new_inquiry: NewInquiry | None = None
    # Awaiting the customer's confirmation: the solution proposed, and the two buttons.
    awaiting_confirmation: bool = False
    proposed_solution: str | None = None
    # Completed: the survey link while it can still be answered.
    survey_path: str | None = None
    survey_answered: bool = False


async def submit(
    session: AsyncSession, redis: Any, data: PortalSubmission, *, client_ip: str
) -> Receipt:
    """Register a portal inquiry (channel: portal) and hand back its tracking link.

    Throttled per IP; a filled honeypot is accepted silently and stores nothing; a repeated
    form key returns the first submission's ticket and link.
    """
    settings = get_settings()
    await ratelimit.check(redis, "portal-submit", client_ip, settings.portal_rate_limit)
    if data.honeypot.strip():
        log.info("portal honeypot filled from %s; nothing stored", client_ip)
        return Receipt(number=None, tracking_token=None)
    # Files are checked before the ticket exists: a refused file leaves nothing behind.
    prepared = await attachments.check_uploads(data.files)
    key = intake.form_key(data.form_key)
    result = await intake.register_once(
        session,
        PORTAL,
        intake.InquiryInput(
            description=data.description,
            channel=Channel.PORTAL.value,
            name=data.name,
            phone=data.phone,
            email=data.email,
            order_number=data.order_number,
            idempotency_key=intake.idempotency_key("portal", key),
            allowed_channels=(Channel.PORTAL,),
            require_contact=True,
            with_tracking_link=True,
            match_names=True,
            dedupe_recent=True,
        ),
    )
    if prepared and not result.repeated:
        await attachments.store_prepared(
            session, PORTAL, result.ticket, prepared, source="portal", uploaded_by_customer=True
        )
    return Receipt(
        number=result.ticket.number, tracking_token=result.tracking_token, repeated=result.repeated
    )


async def suggestions(
    session: AsyncSession,
    redis: Any,
    query: str,
    locale: str,
    *,
    client_ip: str,
    lexical_cache: kb.LexicalIndexCache | None = None,
) -> list[kb.PortalSuggestion]:
    """Knowledge-base answers for what the visitor is typing."""
    limit = get_settings().portal_rate_limit * SUGGEST_FACTOR
    if not await ratelimit.hit(redis, "portal-suggest", client_ip, limit):
        return []  # quietly stop suggesting; the form itself keeps working
    return await kb.suggest_for_portal(
        session, query, locale, SUGGESTIONS, redis=redis, lexical_cache=lexical_cache
    )


async def mark_solved(
    session: AsyncSession,
    redis: Any,
    article_id: int,
    query: str,
    locale: str,
    *,
    client_ip: str,
) -> None:
    """ "This solved it": a deflection is counted and no ticket is created."""
    limit = get_settings().portal_rate_limit * SUGGEST_FACTOR
    await ratelimit.check(redis, "portal-suggest", client_ip, limit)
    await kb.record_deflection(session, article_id, query, locale)


async def article(
    session: AsyncSession, redis: Any, article_id: int, *, client_ip: str
) -> kb.PublicArticle:
    """A suggested article opened in full (published ones only); the click is counted."""
    limit = get_settings().portal_rate_limit * SUGGEST_FACTOR
    await ratelimit.check(redis, "portal-suggest", client_ip, limit)
    found = await kb.public_article(session, article_id)
    await kb.record_click(session, article_id)
    return found


async def tracking(session: AsyncSession, token: str) -> TrackingView:
    """The tracking page for a token; a wrong token is a 404 that reveals nothing."""
    ticket = await commands.by_tracking_token(session, token)
    replies = (
        await session.scalars(
            select(FollowUp)
            .where(
                FollowUp.ticket_id == ticket.id,
                or_(FollowUp.visible_to_customer.is_(True), FollowUp.by_customer.is_(True)),
            )
            .order_by(FollowUp.at, FollowUp.id)
        )
    ).all()
    status = TicketStatus(ticket.status)
    awaiting = status is TicketStatus.AWAITING_CONFIRMATION
    # What the customer confirms: the latest answer the team let them read.
    proposed = next(
        (r.discussed for r in reversed(replies) if not r.by_customer and r.visible_to_customer),
        None,
    )
    survey = await surveys.for_customer(session, ticket.id)
    return TrackingView(
        number=ticket.number,
        title=ticket.title,
        description=ticket.description,
        order_number=ticket.order_number,
        status=status,
        created_at=ticket.created_at,
        replies=[
            PublicReply(
                at=r.at, text=r.discussed, by_customer=r.by_customer, is_resolution=r.is_resolution
            )
            for r in replies
        ],
        can_add_information=True,
        is_done=status in (TicketStatus.COMPLETED, TicketStatus.CLOSED),
        is_closed=status is TicketStatus.CLOSED,
        attachments=await attachments.list_for_ticket(session, ticket.id),
        awaiting_confirmation=awaiting,
        proposed_solution=proposed if awaiting else None,
        survey_path=survey.path,
        survey_answered=survey.answered,
    )


async def confirm(
    session: AsyncSession,
    redis: Any,
    token: str,
    *,
    solved: bool,
    reason: str = "",
    client_ip: str,
) -> TrackingView:
    """The customer answers the proposed solution on their tracking page.

    Solved: the ticket is completed and the survey offered. Not solved: their reason
    (required) is their message on the ticket (:func:`messages.receive`), which takes it back
    to in progress, tells the assignee and marks the card. Either is a 409, nothing written,
    once the ticket no longer awaits their confirmation (answered already, or moved on).
    """
    await ratelimit.check(redis, "portal-submit", client_ip, get_settings().portal_rate_limit)
    ticket = await commands.by_tracking_token(session, token)
    commands.ensure_awaiting_confirmation(ticket)
    if solved:
        await commands.confirm_solved(session, PORTAL, ticket)
    else:
        await messages.receive(
            session,
            PORTAL,
            ticket,
            messages.CustomerMessage(
                text=commands.clean_text(reason, "reason", limit=INFO_MAX),
                method=FollowUpMethod.ONLINE_CHAT,
                channel=Channel.PORTAL,
                details={"confirmation": "not_solved"},
                limit=INFO_MAX,
            ),
        )
    return await tracking(session, token)


async def add_information(
    session: AsyncSession, redis: Any, token: str, text: str, *, client_ip: str
) -> TrackingView:
    """The customer writes on their tracking page: the message goes where someone sees it
    (:func:`messages.receive`); on a closed inquiry it opens a new one, whose own link the
    returned view carries."""
    await ratelimit.check(redis, "portal-submit", client_ip, get_settings().portal_rate_limit)
    ticket = await commands.by_tracking_token(session, token)
    landed = await messages.receive(
        session,
        PORTAL,
        ticket,
        messages.CustomerMessage(
            text=text,
            method=FollowUpMethod.ONLINE_CHAT,
            channel=Channel.PORTAL,
            with_tracking_link=True,
            limit=INFO_MAX,
        ),
    )
    view = await tracking(session, token)
    if landed.repeat_of is not None and landed.tracking_token:
        view = replace(
            view,
            new_inquiry=NewInquiry(number=landed.ticket.number, token=landed.tracking_token),
        )
    return view


async def add_files(
    session: AsyncSession,
    redis: Any,
    token: str,
    uploads: Sequence[attachments.Upload],
    *,
    client_ip: str,
) -> TrackingView:
    """The customer adds files on the tracking page (throttled like adding information)."""
    await ratelimit.check(redis, "portal-submit", client_ip, get_settings().portal_rate_limit)
    ticket = await commands.by_tracking_token(session, token)
    if ticket.status == TicketStatus.CLOSED:
        raise ValidationFailed(N_("This inquiry is closed. Please submit a new one."))
    if not uploads:
        raise ValidationFailed(
            N_("Please choose a file first."),
            fields={attachments.FIELD: N_("Please choose a file first.")},
        )
    await attachments.add_attachments(
        session, PORTAL, ticket, uploads, source="tracking", uploaded_by_customer=True
    )
    return await tracking(session, token)


def _contact_matches(customer: Customer | None, contact: str) -> bool:
    """Whether a typed phone or email is the customer's (compared through the lookup hash)."""
    if customer is None:
        return False
    cipher = registry.current_cipher()
    try:
        if "@" in contact:
            return customer.email_hash in cipher.blind_indexes("email", normalize_email(contact))
        return customer.phone_hash in cipher.blind_indexes("phone", normalize_phone(contact))
    except ValidationFailed:
        return False


async def find_inquiry(
    session: AsyncSession, redis: Any, number: str, contact: str, *, client_ip: str
) -> str | None:
    """ "Find my inquiry": a ticket number and the phone or email it was filed with give a
    fresh tracking link (its token returned; the lost link stops working). A wrong contact
    and an unknown number are the same None, so nothing can be learnt by guessing; guesses
    are throttled per IP and per ticket number (429), and each answer on a real ticket is
    audited on it."""
    number = number.strip().upper()[:NUMBER_MAX]
    contact = contact.strip()[:254]
    errors = {
        name: N_("Required.")
        for name, value in (("number", number), ("contact", contact))
        if not value
    }
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    settings = get_settings()
    await ratelimit.check(redis, "portal-find", client_ip, settings.portal_rate_limit)
    await ratelimit.check(redis, "portal-find-number", number, FIND_PER_NUMBER)
    ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        log.info("portal lookup of an unknown inquiry number from %s", client_ip)
        return None
    customer = await session.get(Customer, ticket.customer_id)
    found = _contact_matches(customer, contact)
    # Its own entity type: a lookup is not a change of the ticket (the new link, when found,
    # is set through the write path).
    audit.record(
        session,
        PORTAL,
        entity_type="portal_lookup",
        entity_id=ticket.id,
        action="portal_lookup",
        after={"found": found, "ip": client_ip},
    )
    if not found:
        await session.flush()
        return None
    token = new_token()
    await commands.set_tracking(session, PORTAL, ticket, token)
    return token
