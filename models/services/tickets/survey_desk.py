"""The staff side of the satisfaction survey: every customer gets a way to answer.

From the drawer of a completed (or closed) ticket, someone who works it can copy the survey
link to hand over through any channel (chat, SMS — no mailbox needed), or record a survey the
customer answered on the phone, marked as recorded by them and audited. A low score from any
of these is the same submitted survey, so the SLA tick's ≤ 3 rule gives the supervisor the
follow-up within 24 hours.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import TicketStatus
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict
from models.services.tickets import commands, surveys
from models.survey import Survey
from models.ticket import Ticket

DONE = (TicketStatus.COMPLETED, TicketStatus.CLOSED)


async def _survey(session: AsyncSession, actor: Actor, ticket_id: int) -> Survey:
    """The survey of a ticket this person works, once the ticket is done (made if missing)."""
    ticket: Ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    if TicketStatus(ticket.status) not in DONE:
        raise Conflict(N_("The survey opens once the ticket is completed."))
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
    if survey is None:  # completed before surveys existed, or by a bulk import
        survey = await surveys.create_for_ticket(session, ticket)
    assert survey is not None  # created, or an existing row
    return survey


async def link(session: AsyncSession, actor: Actor, ticket_id: int) -> str:
    """The absolute survey link to copy; 409 once it was answered or cannot be shown."""
    survey = await _survey(session, actor, ticket_id)
    if survey.submitted_at is not None:
        raise Conflict(N_("This survey has already been answered."))
    if survey.expires_at <= utcnow():
        # A link past its expiry gets a fresh expiry: the agent is asking the customer now.
        ticket = await commands.get(session, ticket_id)
        await surveys.create_for_ticket(session, ticket)
    token = surveys.token_for(survey)
    if token is None:
        raise Conflict(N_("This survey link cannot be shown again (no secret key is set)."))
    return surveys.url_for(token)


async def record_by_phone(
    session: AsyncSession, actor: Actor, ticket_id: int, raw: surveys.AnswerInput
) -> Survey:
    """The customer answered the survey on the phone; ``actor`` records it (localized 422 per
    field for a bad score, 409 when it was already answered)."""
    answer = surveys.parse_answer(raw)
    survey = await _survey(session, actor, ticket_id)
    return await surveys.record_by_phone(session, actor, survey, answer, now=utcnow())
