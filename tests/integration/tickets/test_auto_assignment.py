"""Auto-assignment: the strategies, the cap, the duty switch and the calendar, VIP to seniors,
returning customers, the drain, two workers at once, and escalation of an auto-assigned
ticket nobody acknowledges — on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.base import utcnow
from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, RequestType, Role, TicketStatus, Urgency
from models.services.admin import users
from models.services.common.errors import Forbidden, ValidationFailed
from models.services.customers import registry
from models.services.notify import notifications
from models.services.tickets import assignment, commands, triage
from models.ticket import Ticket
from models.user import User
from tests.conftest import run_worker_burst
from tests.integration.sla.test_sla_helpers import (
    actor,
    make_ticket,
    move,
    recipients,
    run_tick,
    ticket,
    user_id,
)

SUPPORT_STAFF = ("lead", "agent", "agent.emma")


async def configure(
    db: Any,
    reference: dict[str, int],
    department: str = "SUPPORT",
    *,
    strategy: str = assignment.ROUND_ROBIN,
    cap: int = 10,
    seniors: tuple[str, ...] = (),
    returning: bool = False,
    enabled: bool = True,
) -> None:
    admin = await actor(db, "admin")
    senior_ids = [str(await user_id(db, name)) for name in seniors]
    async with unit_of_work(db) as session:
        await assignment.save_settings(
            session,
            admin,
            reference[department],
            assignment.SettingsInput(enabled, strategy, str(cap), returning, senior_ids),
        )


async def duty(db: Any, *on: str, off: tuple[str, ...] = ()) -> None:
    """These staff go on duty, those off (through the switch each one uses)."""
    for name, state in [*((n, True) for n in on), *((n, False) for n in off)]:
        who = await actor(db, name)
        async with unit_of_work(db) as session:
            await assignment.set_on_duty(session, who, state)


async def only_on_duty(db: Any, *names: str) -> None:
    await duty(db, *names, off=tuple(n for n in SUPPORT_STAFF if n not in names))


async def assign(db: Any, ticket_id: int, now: datetime | None = None) -> Any:
    async with unit_of_work(db) as session:
        return await assignment.auto_assign(session, ticket_id, now=now)


async def drain(db: Any, now: datetime | None = None) -> int:
    async with unit_of_work(db) as session:
        return await assignment.drain(session, now=now)


async def assignee(db: Any, ticket_id: int) -> str | None:
    async with db.sessionmaker() as session:
        row = await session.scalar(
            select(User.username)
            .join(Ticket, Ticket.assignee_id == User.id)
            .where(Ticket.id == ticket_id)
        )
    return row


async def reasons(db: Any, ticket_id: int) -> list[dict[str, Any]]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent.after)
            .where(AuditEvent.ticket_id == ticket_id, AuditEvent.action == "auto_assign")
            .order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_off_by_default_nothing_is_assigned(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent")
    tid = await make_ticket(db, reference, assignee=None)
    assert await assign(db, tid) is None
    assert await drain(db) == 0
    assert await assignee(db, tid) is None
    assert await reasons(db, tid) == []


async def test_round_robin_is_fair_over_1000_tickets(db: Any, reference: dict[str, int]) -> None:
    admin = await actor(db, "admin")
    async with unit_of_work(db) as session:
        for i in range(4):  # seven on duty: 1,000 tickets fit under a cap of 200 each
            user = await users.create_user(
                session,
                admin,
                username=f"rr{i}",
                password="kefu-agent",
                role=Role.AGENT,
                display_name=f"轮询{i}",
                department_id=reference["SUPPORT"],
                enforce_policy=False,
            )
            user.on_duty = True
    await duty(db, *SUPPORT_STAFF)
    await configure(db, reference, cap=200)
    async with unit_of_work(db) as session:
        customer = await registry.register(
            session, admin, registry.CustomerInput(name="刘洋", phone="13811112222")
        )
        for n in range(1000):
            await commands.create(
                session,
                admin,
                commands.TicketInput(
                    customer_id=customer.id,
                    description=f"第 {n} 个咨询",
                    channel=Channel.PHONE,
                    department_id=reference["SUPPORT"],
                ),
            )
    total = 0
    while assigned := await drain(db):
        total += assigned
    assert total == 1000
    async with db.sessionmaker() as session:
        counts = Counter(
            (
                await session.scalars(
                    select(Ticket.assignee_id).where(Ticket.assignee_id.is_not(None))
                )
            ).all()
        )
    assert len(counts) == 7
    assert max(counts.values()) - min(counts.values()) <= 1


async def test_round_robin_walks_on_from_the_cursor(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent", "agent.emma")
    await configure(db, reference)
    tids = [await make_ticket(db, reference, assignee=None) for _ in range(3)]
    for tid in tids:
        await assign(db, tid)
    assert [await assignee(db, t) for t in tids] == ["agent", "agent.emma", "agent"]
    agent_id = await user_id(db, "agent")
    assert (await reasons(db, tids[1]))[0]["after"] == agent_id
    assert (await reasons(db, tids[1]))[0]["reason"] == "round_robin"


async def test_least_open_picks_the_least_loaded(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent", "agent.emma")
    for _ in range(3):
        await make_ticket(db, reference, assignee="agent")
    await make_ticket(db, reference, assignee="agent.emma")
    await configure(db, reference, strategy=assignment.LEAST_OPEN)
    tid = await make_ticket(db, reference, assignee=None)
    decision = await assign(db, tid)
    assert await assignee(db, tid) == "agent.emma"
    assert decision.reason == {"vip": False, "reason": "least_open", "open": 1}
    # A tie goes to the longest-standing account (agent was created before agent.emma).
    await make_ticket(db, reference, assignee="agent.emma")
    await make_ticket(db, reference, assignee="agent.emma")
    tid = await make_ticket(db, reference, assignee=None)
    await assign(db, tid)
    assert await assignee(db, tid) == "agent"


async def test_caps_are_respected_and_the_rest_waits(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent", "agent.emma")
    await configure(db, reference, cap=2)
    await make_ticket(db, reference, assignee="agent")  # agent holds one already
    tids = [await make_ticket(db, reference, assignee=None) for _ in range(5)]
    assert await drain(db) == 3
    holders = Counter([await assignee(db, t) for t in tids])
    assert holders == {"agent": 1, "agent.emma": 2, None: 2}
    # The ones left waiting were not given an "unassigned" entry by every drain.
    waiting = [t for t in tids if await assignee(db, t) is None]
    assert [await reasons(db, t) for t in waiting] == [[], []]
    # A new ticket nobody has room for says so on its timeline.
    tid = await make_ticket(db, reference, assignee=None)
    decision = await assign(db, tid)
    assert decision.assignee_id is None and decision.nobody_free
    assert await reasons(db, tid) == [{"assignee": None, "vip": False, "reason": "nobody"}]


async def test_off_duty_and_outside_business_hours_are_skipped(
    db: Any, reference: dict[str, int]
) -> None:
    await only_on_duty(db, "agent.emma")
    await configure(db, reference)
    tid = await make_ticket(db, reference, assignee=None)
    await assign(db, tid)
    assert await assignee(db, tid) == "agent.emma"
    await duty(db, off=("agent.emma",))
    tid = await make_ticket(db, reference, assignee=None)
    await assign(db, tid)
    assert await assignee(db, tid) is None
    # On duty again, but 22:00 in Shanghai: the desk is closed, nobody is handed work.
    await duty(db, "agent.emma")
    night = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    late = await make_ticket(db, reference, assignee=None)
    await assign(db, late, now=night)
    assert await assignee(db, late) is None
    assert (await reasons(db, late))[-1]["reason"] == "closed"
    assert await drain(db, now=night) == 0
    # Next morning the drain hands both out.
    assert await drain(db) == 2


async def test_vip_goes_to_seniors_and_first(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent", "agent.emma")
    await configure(db, reference, seniors=("agent.emma",), cap=1)
    normal = await make_ticket(db, reference, assignee=None)
    vip = await make_ticket(db, reference, assignee=None, level=CustomerLevel.VIP)
    # Draining: the VIP ticket first, and only to the senior; the normal one to the other.
    assert await drain(db) == 2
    assert await assignee(db, vip) == "agent.emma"
    assert await assignee(db, normal) == "agent"
    assert (await reasons(db, vip))[0]["vip"] is True
    # The senior is full: a strategic customer's ticket waits rather than go to a non-senior.
    strategic = await make_ticket(db, reference, assignee=None, level=CustomerLevel.STRATEGIC)
    await configure(db, reference, seniors=("agent.emma",), cap=2)
    await make_ticket(db, reference, assignee="agent.emma")
    await assign(db, strategic)
    assert await assignee(db, strategic) is None
    assert (await reasons(db, strategic))[-1] == {"assignee": None, "vip": True, "reason": "nobody"}


async def test_the_drain_takes_the_most_pressing_then_the_oldest(
    db: Any, reference: dict[str, int]
) -> None:
    await only_on_duty(db, "agent")
    await configure(db, reference, cap=2)
    oldest = await make_ticket(db, reference, assignee=None)
    newer = await make_ticket(db, reference, assignee=None)
    urgent = await make_ticket(db, reference, assignee=None, urgency=Urgency.URGENT)
    assert await drain(db) == 2
    assert [await assignee(db, t) for t in (oldest, newer, urgent)] == ["agent", None, "agent"]


async def test_a_returning_customer_goes_back_to_the_previous_agent(
    db: Any, reference: dict[str, int]
) -> None:
    await only_on_duty(db, "agent", "agent.emma")
    await configure(db, reference, returning=True)
    first = await make_ticket(db, reference, assignee="agent.emma")
    await assign(db, await make_ticket(db, reference, assignee=None))  # cursor → agent
    admin = await actor(db, "admin")
    async with unit_of_work(db) as session:
        row = await session.get(Ticket, first)
        assert row is not None
        again, _ = await commands.create(
            session,
            admin,
            commands.TicketInput(
                customer_id=row.customer_id,
                description="上次的问题又出现了。",
                channel=Channel.PHONE,
                department_id=reference["SUPPORT"],
            ),
        )
    decision = await assign(db, again.id)
    assert await assignee(db, again.id) == "agent.emma"
    assert decision.reason["reason"] == "returning"
    # Off duty: the returning customer goes to whoever is next instead.
    await duty(db, off=("agent.emma",))
    async with unit_of_work(db) as session:
        third, _ = await commands.create(
            session,
            admin,
            commands.TicketInput(
                customer_id=row.customer_id,
                description="还是不行。",
                channel=Channel.PHONE,
                department_id=reference["SUPPORT"],
            ),
        )
    await assign(db, third.id)
    assert await assignee(db, third.id) == "agent"


async def test_waiting_tickets_are_drained_as_capacity_frees(
    db: Any, reference: dict[str, int], redis: Any
) -> None:
    await only_on_duty(db, "agent")
    await configure(db, reference, cap=1)
    first = await make_ticket(db, reference, assignee=None)
    second = await make_ticket(db, reference, assignee=None)
    assert await drain(db) == 1
    assert (await assignee(db, first), await assignee(db, second)) == ("agent", None)
    await move(
        db,
        "agent",
        first,
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
    )
    await redis.enqueue_job("drain_assignments", _job_id="drain:test")
    await run_worker_burst(cron_jobs=[])
    assert await assignee(db, second) == "agent"


async def test_going_on_duty_asks_for_a_drain(
    db: Any, reference: dict[str, int], redis: Any
) -> None:
    await only_on_duty(db)
    await configure(db, reference)
    tid = await make_ticket(db, reference, assignee=None)
    await assign(db, tid)
    assert await assignee(db, tid) is None
    who = await actor(db, "agent")
    async with unit_of_work(db, redis) as session:
        await assignment.set_on_duty(session, who, True)
    await run_worker_burst(cron_jobs=[])
    assert await assignee(db, tid) == "agent"


async def test_two_workers_never_exceed_a_cap_nor_assign_one_ticket_twice(
    db: Any, reference: dict[str, int]
) -> None:
    await only_on_duty(db, "agent")
    await configure(db, reference, cap=3)
    tids = [await make_ticket(db, reference, assignee=None) for _ in range(8)]
    # Two workers drain at once while two more race on each ticket one by one.
    results = await asyncio.gather(
        drain(db), drain(db), *(assign(db, t) for t in tids), *(assign(db, t) for t in tids)
    )
    assert sum(1 for t in await asyncio.gather(*(assignee(db, t) for t in tids)) if t) == 3
    assert results[0] + results[1] <= 3
    async with db.sessionmaker() as session:
        per_ticket = (
            await session.execute(
                select(AuditEvent.ticket_id, func.count())
                .where(AuditEvent.action == "assign")
                .group_by(AuditEvent.ticket_id)
            )
        ).all()
    assert len(per_ticket) == 3 and all(n == 1 for _, n in per_ticket)


async def test_an_unacknowledged_auto_assignment_escalates(
    db: Any, reference: dict[str, int]
) -> None:
    await duty(db, "agent.care")
    await configure(db, reference, "CARE")
    manual = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    auto = await make_ticket(db, reference, department="CARE", assignee=None)
    await assign(db, auto)
    row, hand = await ticket(db, auto), await ticket(db, manual)
    assert row.assignee_id == hand.assignee_id
    assert row.assigned_at is not None and row.acknowledged_at is None
    assert row.acknowledge_due is not None
    assert row.acknowledge_due - row.assigned_at == hand.acknowledge_due - hand.assigned_at
    await run_tick(db, row.acknowledge_due + timedelta(minutes=1))
    assert await recipients(db, kind=notifications.KIND_ESCALATION, ticket_id=auto) == ["lead.care"]


async def test_triage_hands_a_routed_ticket_out(db: Any, reference: dict[str, int]) -> None:
    await only_on_duty(db, "agent.emma")
    await configure(db, reference)
    tid = await make_ticket(db, reference, department=None, assignee=None)
    verdict = triage.Classification(RequestType.CONSULTATION, 0.93, "test-model")
    now = utcnow()
    async with unit_of_work(db) as session:
        await triage.apply_triage(session, tid, verdict, [], now)
    row = await ticket(db, tid)
    assert row.department_id == reference["SUPPORT"]
    assert await assignee(db, tid) == "agent.emma"


async def test_the_settings_are_validated_and_nothing_half_written(
    db: Any, reference: dict[str, int]
) -> None:
    admin = await actor(db, "admin")
    tech = await user_id(db, "agent.tech")
    bad = [
        assignment.SettingsInput(True, "random", "5", False, []),
        assignment.SettingsInput(True, "round_robin", "0", False, []),
        assignment.SettingsInput(True, "round_robin", "201", False, []),
        assignment.SettingsInput(True, "round_robin", "x", False, []),
        assignment.SettingsInput(True, "round_robin", "5", False, [str(tech)]),
    ]
    for data in bad:
        with pytest.raises(ValidationFailed):
            async with unit_of_work(db) as session:
                await assignment.save_settings(session, admin, reference["SUPPORT"], data)
    lead_tech = await actor(db, "lead.tech")
    with pytest.raises(Forbidden):
        async with unit_of_work(db) as session:
            await assignment.save_settings(
                session,
                lead_tech,
                reference["SUPPORT"],
                assignment.SettingsInput(True, "round_robin", "5", False, []),
            )
    async with db.sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity_type == "assignment_settings")
            )
            == 0
        )
    lead = await actor(db, "lead")
    async with unit_of_work(db) as session:
        view = await assignment.save_settings(
            session,
            lead,
            reference["SUPPORT"],
            assignment.SettingsInput(True, "least_open", " 7 ", True, []),
        )
    assert (view.enabled, view.strategy, view.cap, view.return_to_previous) == (
        True,
        "least_open",
        7,
        True,
    )
