"""A small, hand-computable history for the survey, report, KPI and export tests.

Tickets are made through the services (create → type → move … → completed, surveys answered
through :func:`surveys.submit`); only the instants are then set on the rows, so durations are
exact. The expected figures are written out in ``tests/integration/test_reports_summary.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, RequestType, TicketStatus
from models.services.admin import users
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands, surveys
from models.survey import Survey
from models.ticket import Ticket
from models.user import User

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given in the team's timezone (Asia/Shanghai, UTC+8)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


async def actors(db: Any) -> dict[str, Actor]:
    async with db.sessionmaker() as s:
        rows = (await s.scalars(select(User))).all()
        return {u.username: users.actor_for(u) for u in rows}


async def user_id(db: Any, username: str) -> int:
    async with db.sessionmaker() as s:
        uid = await s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return uid


async def customer(
    db: Any, name: str = "张三", phone: str = "13812345678", email: str | None = "zhang@example.com"
) -> int:
    async with unit_of_work(db) as s:
        row = await registry.register(
            s,
            Actor.system("test"),
            registry.CustomerInput(
                name=name, phone=phone, email=email, source_channel=Channel.PHONE
            ),
        )
        return row.id


@dataclass(frozen=True)
class Made:
    ticket_id: int
    token: str | None  # the survey link token, when the ticket was completed


async def make_ticket(
    db: Any,
    *,
    customer_id: int,
    description: str,
    request_type: RequestType | None,
    assignee: str | None,
    created: datetime,
    first_response: datetime | None = None,
    resolved: datetime | None = None,
    status: TicketStatus = TicketStatus.PENDING,
    scores: tuple[int, int, int] | None = None,
    is_repeat: bool = False,
) -> Made:
    """One ticket moved through the services to ``status``, then given exact instants."""
    people = await actors(db)
    lead = people["admin"]
    assignee_actor = people[assignee] if assignee else None
    async with unit_of_work(db) as s:
        ticket, _ = await commands.create(
            s,
            lead,
            commands.TicketInput(
                customer_id=customer_id,
                description=description,
                channel=Channel.PHONE,
                assignee_id=assignee_actor.user_id if assignee_actor else None,
                department_id=assignee_actor.department_id if assignee_actor else None,
            ),
        )
        ticket_id = ticket.id
        if request_type is not None:
            await commands.change_type(s, lead, ticket_id, request_type, expected_version=None)
    path = {
        TicketStatus.PENDING: [],
        TicketStatus.IN_PROGRESS: [TicketStatus.IN_PROGRESS],
        TicketStatus.AWAITING_CONFIRMATION: [
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
        ],
        TicketStatus.COMPLETED: [
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
        ],
        TicketStatus.CLOSED: [
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
            TicketStatus.CLOSED,
        ],
    }[status]
    for target in path:
        async with unit_of_work(db) as s:
            await commands.move(
                s, lead, ticket_id, target, expected_version=None, resolution="已解决 resolved"
            )
    token = None
    async with unit_of_work(db) as s:
        survey = await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
        if survey is not None:
            token = surveys.token_for(survey)
    if scores is not None:
        assert token is not None
        async with unit_of_work(db) as s:
            await surveys.submit(
                s,
                token,
                surveys.parse_answer(
                    surveys.AnswerInput(
                        speed=str(scores[0]), solution=str(scores[1]), attitude=str(scores[2])
                    )
                ),
            )
    async with unit_of_work(db) as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        row.created_at = created
        # Typed by a person, so triage is done (the SLA sweeper would re-run it otherwise).
        row.triaged_at = created if request_type is not None else None
        row.first_responded_at = first_response
        row.resolved_at = resolved
        row.is_repeat = is_repeat
    return Made(ticket_id, token)


async def march_dataset(db: Any) -> dict[str, Made]:
    """Six tickets registered in March 2024, one in February, one in April (see the tests)."""
    zhang = await customer(db)
    li = await customer(db, name="Li Lei", phone="13987654321", email=None)
    made = {
        # Registered at the very first instant of March: inside the period.
        "t1": await make_ticket(
            db,
            customer_id=zhang,
            description="物流延迟，快递三天没更新",
            assignee="agent.tech",
            request_type=RequestType.PROBLEM,
            created=local(2024, 3, 1, 0, 0),
            first_response=local(2024, 3, 1, 0, 30),
            resolved=local(2024, 3, 1, 4, 0),
            status=TicketStatus.COMPLETED,
            scores=(5, 5, 5),
        ),
        "t2": await make_ticket(
            db,
            customer_id=li,
            description="物流延迟太久了，什么时候能到",
            assignee="agent.tech",
            request_type=RequestType.PROBLEM,
            created=local(2024, 3, 5, 9),
            first_response=local(2024, 3, 5, 11),
            resolved=local(2024, 3, 6, 9),
            status=TicketStatus.COMPLETED,
            scores=(4, 3, 5),
        ),
        "t3": await make_ticket(
            db,
            customer_id=zhang,
            description='=HYPERLINK("http://x") 登录不了',
            assignee="agent.tech",
            request_type=RequestType.PROBLEM,
            created=local(2024, 3, 11, 9),
            first_response=local(2024, 3, 11, 9, 10),
            status=TicketStatus.IN_PROGRESS,
        ),
        "t4": await make_ticket(
            db,
            customer_id=li,
            description="客服态度很差，要投诉",
            assignee="agent.care",
            request_type=RequestType.COMPLAINT,
            created=local(2024, 3, 12, 9),
            first_response=local(2024, 3, 12, 12),
            resolved=local(2024, 3, 14, 9),
            status=TicketStatus.CLOSED,
            scores=(2, 2, 1),
            is_repeat=True,
        ),
        "t5": await make_ticket(
            db,
            customer_id=zhang,
            description="请问发票怎么开",
            assignee="agent",
            request_type=RequestType.CONSULTATION,
            created=local(2024, 3, 20, 9),
            first_response=local(2024, 3, 20, 9, 15),
            resolved=local(2024, 3, 20, 10),
            status=TicketStatus.COMPLETED,
        ),
        "t6": await make_ticket(
            db,
            customer_id=li,
            description="还没分类的工单",
            assignee=None,
            request_type=None,
            created=local(2024, 3, 28, 9),
        ),
        # The last minute of February: the previous period.
        "p1": await make_ticket(
            db,
            customer_id=zhang,
            description="物流延迟，包裹没动",
            assignee="agent.tech",
            request_type=RequestType.PROBLEM,
            created=local(2024, 2, 29, 23, 59),
            first_response=local(2024, 3, 1, 1),
            resolved=local(2024, 3, 1, 2),
            status=TicketStatus.COMPLETED,
            scores=(3, 3, 3),
        ),
        # The first instant of April: outside March.
        "a1": await make_ticket(
            db,
            customer_id=li,
            description="四月的工单",
            assignee="agent",
            request_type=RequestType.CONSULTATION,
            created=local(2024, 4, 1, 0, 0),
        ),
    }
    return made


async def customer_count(db: Any) -> int:
    async with db.sessionmaker() as s:
        return len((await s.scalars(select(Customer.id))).all())
