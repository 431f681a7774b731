"""Shared arrangements for the SLA and notification tests (no tests here).

Everything is built through the services: customers, tickets, moves, surveys. Time is never
faked on the rows; the tests pass ``now`` to the tick instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, RequestType, TicketStatus, Urgency
from models.notification import Notification
from models.services.admin import users
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.escalation import engine
from models.services.sla import policy
from models.services.sla.deadlines import DEFAULT_POLICY
from models.services.tickets import commands, surveys
from models.sla_action import SlaAction
from models.ticket import Ticket
from models.user import User

_phones = itertools.count(13900000000)


async def actor(db: Any, username: str) -> Actor:
    """The service actor of a demo account."""
    async with db.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        return users.actor_for(user)


async def user_id(db: Any, username: str) -> int:
    user = (await actor(db, username)).user_id
    assert user is not None
    return user


async def make_ticket(
    db: Any,
    reference: dict[str, int],
    *,
    department: str | None = "SUPPORT",
    assignee: str | None = "agent",
    urgency: Urgency = Urgency.NORMAL,
    level: CustomerLevel = CustomerLevel.NORMAL,
    text: str = "打印机无法连接网络，请协助处理。",
    redis: Any = None,
) -> int:
    """A pending ticket registered through the ticket service; returns its id."""
    admin = await actor(db, "admin")
    assignee_id = await user_id(db, assignee) if assignee else None
    async with unit_of_work(db, redis) as session:
        customer = await registry.register(
            session,
            admin,
            registry.CustomerInput(name="李娜", phone=str(next(_phones)), level=level),
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
        return ticket.id


async def move(db: Any, username: str, ticket_id: int, *targets: TicketStatus) -> None:
    """Move a ticket through these states as this user (resolution given when asked)."""
    who = await actor(db, username)
    for target in targets:
        async with unit_of_work(db) as session:
            current = await commands.get(session, ticket_id)
            await commands.move(
                session,
                who,
                ticket_id,
                target,
                expected_version=current.version,
                resolution="已处理完毕。",
            )


async def complete_with_survey(
    db: Any, ticket_id: int, scores: tuple[int, int, int], username: str = "agent"
) -> None:
    """Take the ticket to completed, then the customer answers its survey with ``scores``."""
    await move(
        db,
        username,
        ticket_id,
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
    )
    async with unit_of_work(db) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        survey = await surveys.create_for_ticket(session, ticket)
        assert survey is not None
        token = surveys.token_for(survey)
    assert token is not None
    speed, solution, attitude = scores
    async with unit_of_work(db) as session:
        await surveys.submit(
            session,
            token,
            surveys.parse_answer(
                surveys.AnswerInput(
                    speed=str(speed), solution=str(solution), attitude=str(attitude)
                )
            ),
        )


async def set_type(
    db: Any, ticket_id: int, request_type: RequestType, username: str = "admin"
) -> None:
    who = await actor(db, username)
    async with unit_of_work(db) as session:
        current = await commands.get(session, ticket_id)
        await commands.change_type(
            session, who, ticket_id, request_type, expected_version=current.version
        )


async def ticket(db: Any, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        return row


async def run_tick(db: Any, now: datetime, redis: Any = None) -> engine.TickReport:
    """One tick in its own unit of work (committed, side effects flushed to ``redis``)."""
    async with unit_of_work(db, redis, _channel()) as session:
        return await engine.tick(session, now)


def _channel() -> str:
    from models.settings import get_settings

    return get_settings().event_channel


async def actions(db: Any, ticket_id: int | None = None) -> list[tuple[int, str, int]]:
    """The (ticket, rule, level) actions taken, sorted."""
    async with db.sessionmaker() as session:
        stmt = select(SlaAction.ticket_id, SlaAction.rule, SlaAction.level)
        if ticket_id is not None:
            stmt = stmt.where(SlaAction.ticket_id == ticket_id)
        return sorted(tuple(r) for r in (await session.execute(stmt)).all())


async def notes(
    db: Any, *, kind: str | None = None, ticket_id: int | None = None
) -> list[Notification]:
    async with db.sessionmaker() as session:
        stmt = select(Notification).order_by(Notification.id)
        if kind:
            stmt = stmt.where(Notification.kind == kind)
        if ticket_id is not None:
            stmt = stmt.where(Notification.ticket_id == ticket_id)
        return list((await session.scalars(stmt)).all())


async def recipients(db: Any, *, kind: str, ticket_id: int | None = None) -> list[str]:
    """The usernames told about something, sorted (duplicates kept: they are the bug)."""
    async with db.sessionmaker() as session:
        stmt = (
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.kind == kind)
        )
        if ticket_id is not None:
            stmt = stmt.where(Notification.ticket_id == ticket_id)
        return sorted((await session.scalars(stmt)).all())


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def first_close_after(db: Any, moment: datetime) -> datetime:
    """The first working-day close of the default calendar at or after ``moment``."""
    async with db.sessionmaker() as session:
        calendar = (await policy.load_rules(session)).calendar
    day = moment.astimezone(calendar.zone).date()
    for n in range(0, 15):
        close = calendar.closing_time(day + timedelta(days=n))
        if close is not None and close >= moment:
            return close
    raise AssertionError("no working day within two weeks")


def duplicates(items: Sequence[Any]) -> list[Any]:
    seen: set[Any] = set()
    return [i for i in items if i in seen or seen.add(i)]  # type: ignore[func-returns-value]


def policy_form(**changes: str) -> dict[str, str]:
    """The default policy as the form posts it, with some fields changed."""
    p = DEFAULT_POLICY
    form: dict[str, str] = {}

    def put(name: str, target: Any) -> None:
        if target is None:
            form[name] = ""
            return
        form[name] = str(target.minutes)
        if target.business:
            form[f"{name}_b"] = "1"

    for key, target in p.first_response.items():
        put(f"fr_{key}", target)
    put("ack", p.acknowledgement)
    put("rem", p.urgent_reminder)
    for key, target in p.resolution.items():
        put(f"res_{key}", target)
    for key in ("consultation", "problem", "complaint", "after_sales"):
        put(f"type_{key}", p.resolution_by_type.get(key))
    for level, percent in p.level_percent.items():
        form[f"level_{level}"] = str(percent)
    form["ladder"] = "60, 120, 240"
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}
