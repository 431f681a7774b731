"""Customer merge: two records of one person become one (leads and admins, audited).

It lives above the customers registry because it moves tickets, which only the ticket
commands may change: every ticket of the duplicate is reassigned through
:func:`commands.reassign_customer` (version, rank, SLA targets, timeline). Surveys follow their
tickets; follow-ups, labels and attachments hang off the tickets and come with them. The
duplicate's record stays as a tombstone pointing at the primary, so its audit trail and old
links remain explainable (its page redirects, lists and search skip it).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.customer import Customer
from models.enums import CustomerLevel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.survey import Survey
from models.ticket import Ticket


async def merge(
    session: AsyncSession, actor: Actor, duplicate_id: int, primary_id: int
) -> Customer:
    """Merge ``duplicate_id`` into ``primary_id``; returns the primary.

    The primary keeps its contacts where both have one and takes those it lacks; its level
    becomes the higher of the two (its open tickets re-ranked through the write path).
    Refused, nothing written: not a lead or admin, into itself, from or into a merged record.
    """
    duplicate, primary = await registry.merge_pair(session, actor, duplicate_id, primary_id)
    level = registry.higher_level(CustomerLevel(primary.level), CustomerLevel(duplicate.level))
    if level != primary.level:
        primary = await commands.change_customer_level(session, actor, primary.id, level)
    tickets = (
        await session.scalars(
            select(Ticket).where(Ticket.customer_id == duplicate.id).order_by(Ticket.id)
        )
    ).all()
    for ticket in tickets:
        await commands.reassign_customer(session, actor, ticket, primary)
    await session.execute(
        update(Survey)
        .where(Survey.customer_id == duplicate.id)
        .values(customer_id=primary.id)
        .execution_options(report_days=False)  # the reports do not read whose survey it is
    )
    await registry.repoint_marks(session, duplicate, primary)
    registry.absorb(session, actor, duplicate, primary)
    for record in (primary, duplicate):
        await registry.reindex(session, record)  # the contacts moved
    await session.flush()
    return primary
