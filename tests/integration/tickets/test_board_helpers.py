"""Shared arrangements for the board tests (no tests here): tickets built through services."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, RequestType, TicketStatus, Urgency
from models.services.admin import users
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.user import User

_phones = itertools.count(13800000000)

# The path a ticket takes from pending to each state (resolution asked on the way).
PATH = (
    TicketStatus.IN_PROGRESS,
    TicketStatus.AWAITING_CONFIRMATION,
    TicketStatus.COMPLETED,
    TicketStatus.CLOSED,
)


async def actor(db: Any, username: str) -> Actor:
    """The service actor of a demo account."""
    async with db.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        return users.actor_for(user)


async def make_ticket(
    db: Any,
    reference: dict[str, int],
    *,
    text: str = "打印机无法连接网络，请协助处理。",
    customer_name: str = "张伟",
    level: CustomerLevel = CustomerLevel.NORMAL,
    department: str | None = "SUPPORT",
    urgency: Urgency = Urgency.NORMAL,
    request_type: RequestType | None = RequestType.CONSULTATION,
    status: TicketStatus = TicketStatus.PENDING,
    assignee: str | None = None,
) -> int:
    """A ticket registered, typed and moved through the real services; returns its id."""
    admin = await actor(db, "admin")
    assignee_id = (await actor(db, assignee)).user_id if assignee else None
    async with unit_of_work(db) as session:
        customer = await registry.register(
            session,
            admin,
            registry.CustomerInput(name=customer_name, phone=str(next(_phones)), level=level),
        )
        ticket, _ = await commands.create(
            session,
            admin,
            commands.TicketInput(
                customer_id=customer.id,
                description=text,
                channel=Channel.PHONE,
                urgency=urgency,
                department_id=reference[department] if department else None,
                assignee_id=assignee_id,
            ),
        )
        ticket_id = ticket.id
    if request_type is not None:
        agent = await actor(db, "agent")
        async with unit_of_work(db) as session:
            current = await commands.get(session, ticket_id)
            await commands.change_type(
                session,
                agent if department in (None, "SUPPORT") else admin,
                ticket_id,
                request_type,
                expected_version=current.version,
            )
    for step in PATH:
        if status is TicketStatus.PENDING:
            break
        async with unit_of_work(db) as session:
            current = await commands.get(session, ticket_id)
            await commands.move(
                session,
                admin,
                ticket_id,
                step,
                expected_version=current.version,
                resolution="已为客户解决。" if step is TicketStatus.COMPLETED else None,
            )
        if step is status:
            break
    return ticket_id


async def version_of(db: Any, ticket_id: int) -> int:
    async with db.sessionmaker() as session:
        return (await commands.get(session, ticket_id)).version


async def status_of(db: Any, ticket_id: int) -> TicketStatus:
    async with db.sessionmaker() as session:
        return TicketStatus((await commands.get(session, ticket_id)).status)


def htmx(token: str, **extra: str) -> dict[str, str]:
    """Headers of an htmx request from the board page."""
    return {
        "HX-Request": "true",
        "HX-Current-URL": "http://testserver.local/board",
        "x-csrftoken": token,
        **extra,
    }
