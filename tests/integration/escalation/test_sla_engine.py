"""The SLA tick against the real database: each rule, who hears about it, and only once.

Tickets are registered at the real current time; the tests pass the tick an explicit ``now``
relative to the deadlines the ticket service computed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.base import utcnow
from models.db import unit_of_work
from models.enums import FollowUpMethod, TicketStatus, Urgency
from models.followup import FollowUp
from models.services.notify import notifications
from models.services.sla import policy
from models.services.tickets import commands
from models.settings import get_settings
from models.ticket import Ticket
from tests.integration.sla.test_sla_helpers import (
    actions,
    actor,
    complete_with_survey,
    count,
    first_close_after,
    make_ticket,
    move,
    notes,
    recipients,
    run_tick,
    ticket,
    user_id,
)

pytestmark = pytest.mark.usefixtures("reference")
M = timedelta(minutes=1)


async def test_urgent_ticket_not_started_reminds_assignee_and_department_once(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, urgency=Urgency.URGENT, assignee="agent")
    row = await ticket(db, tid)
    assert row.reminder_due == row.created_at + 30 * M
    await run_tick(db, row.reminder_due - M)
    assert await recipients(db, kind=notifications.KIND_REMINDER) == []
    report = await run_tick(db, row.reminder_due + M)
    assert report.reminders == 1
    # The assignee, the department's supervisor and its members, each once.
    assert await recipients(db, kind=notifications.KIND_REMINDER) == ["agent", "agent.emma", "lead"]
    await run_tick(db, row.reminder_due + 2 * M)
    assert (await run_tick(db, row.reminder_due + 5 * M)).reminders == 0
    assert len(await notes(db, kind=notifications.KIND_REMINDER)) == 3


async def test_urgent_ticket_started_in_time_gets_no_reminder(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, urgency=Urgency.URGENT, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS)
    row = await ticket(db, tid)
    await run_tick(db, row.reminder_due + M)
    assert await notes(db, kind=notifications.KIND_REMINDER) == []
    assert (tid, policy.RULE_REMINDER, 0) not in await actions(db, tid)


async def test_escalation_ladder_climbs_rung_by_rung(db: Any, reference: dict[str, int]) -> None:
    # Customer relations: supervisor lead.care; its parent is the service centre (lead);
    # above them the administrators. The default ladder waits 60, then 120 minutes.
    tid = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    due = (await ticket(db, tid)).acknowledge_due
    assert due is not None

    async def escalated() -> list[str]:
        return await recipients(db, kind=notifications.KIND_ESCALATION, ticket_id=tid)

    await run_tick(db, due - timedelta(seconds=1))
    assert await escalated() == []
    await run_tick(db, due)
    assert await escalated() == ["lead.care"]
    await run_tick(db, due + 59 * M)
    assert await escalated() == ["lead.care"]
    await run_tick(db, due + 60 * M)
    assert await escalated() == ["lead", "lead.care"]
    await run_tick(db, due + 179 * M)
    assert await escalated() == ["lead", "lead.care"]
    await run_tick(db, due + 180 * M)
    assert await escalated() == ["admin", "lead", "lead.care"]
    # Past the last rung nobody else is told, and nobody twice.
    await run_tick(db, due + 600 * M)
    assert await escalated() == ["admin", "lead", "lead.care"]
    levels = [level for _, rule, level in await actions(db, tid) if rule == policy.RULE_ESCALATION]
    assert levels == [1, 2, 3, 4]
    messages = [n.params["level"] for n in await notes(db, kind=notifications.KIND_ESCALATION)]
    assert messages == [1, 2, 3]


async def test_acknowledging_stops_the_ladder(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    due = (await ticket(db, tid)).acknowledge_due
    assert due is not None
    await run_tick(db, due + M)
    await move(db, "agent.care", tid, TicketStatus.IN_PROGRESS)  # taking it acknowledges
    await run_tick(db, due + 300 * M)
    assert await recipients(db, kind=notifications.KIND_ESCALATION) == ["lead.care"]


async def test_ticket_without_department_escalates_to_admins(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, department=None, assignee="agent")
    due = (await ticket(db, tid)).acknowledge_due
    assert due is not None
    await run_tick(db, due + M)
    assert await recipients(db, kind=notifications.KIND_ESCALATION) == ["admin"]


async def test_passed_deadlines_mark_the_ticket_overdue_and_tell_the_assignee(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS)
    before = await ticket(db, tid)
    assert before.overdue_since is None
    report = await run_tick(db, before.resolution_due - M)
    assert report.overdue == 0
    now = before.resolution_due + M
    report = await run_tick(db, now)
    assert report.overdue == 1  # the first response was given when it was taken
    after = await ticket(db, tid)
    assert after.overdue_since == now
    # The clock running out is not an edit: nobody's open card or form is made stale.
    assert after.version == before.version
    assert await recipients(db, kind=notifications.KIND_OVERDUE) == ["agent"]
    async with db.sessionmaker() as session:
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.ticket_id == tid, AuditEvent.action == "overdue")
        )
    assert audited is not None and audited.field == policy.RULE_RESOLUTION
    # Ticking on neither re-marks nor re-tells.
    await run_tick(db, now + 10 * M)
    assert (await ticket(db, tid)).overdue_since == now
    assert len(await notes(db, kind=notifications.KIND_OVERDUE)) == 1


async def test_unanswered_ticket_misses_its_first_response(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    row = await ticket(db, tid)
    await run_tick(db, row.first_response_due + M)
    assert (tid, policy.RULE_FIRST_RESPONSE, 0) in await actions(db, tid)
    assert (await ticket(db, tid)).overdue_since is not None
    # Nobody is assigned: the department's supervisor hears it.
    assert await recipients(db, kind=notifications.KIND_OVERDUE) == ["lead"]


async def test_paused_ticket_is_not_overdue_while_awaiting_the_customer(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)
    row = await ticket(db, tid)
    # The only check left while it waits is the customer's silence (72 business hours).
    assert row.paused_since is not None and row.sla_next_at is not None
    assert row.sla_next_at - row.paused_since > timedelta(hours=72)
    report = await run_tick(db, row.resolution_due + timedelta(days=30))
    assert report.overdue == 0
    assert report.auto_completed == 1  # the silence ran out meanwhile: completed, not overdue
    assert (await ticket(db, tid)).overdue_since is None


async def test_low_satisfaction_creates_one_supervisor_follow_up(
    db: Any, reference: dict[str, int]
) -> None:
    low = await make_ticket(db, reference, assignee="agent")
    happy = await make_ticket(db, reference, assignee="agent")
    await complete_with_survey(db, low, (5, 2, 4))
    await complete_with_survey(db, happy, (4, 5, 4))
    now = utcnow() + M
    report = await run_tick(db, now)
    assert report.low_csat_follow_ups == 1
    lead = await user_id(db, "lead")
    async with db.sessionmaker() as session:
        tasks = (
            await session.scalars(select(FollowUp).where(FollowUp.next_owner_id.is_not(None)))
        ).all()
    assert [(t.ticket_id, t.next_owner_id, t.done, t.method) for t in tasks] == [
        (low, lead, False, FollowUpMethod.PHONE)
    ]
    assert tasks[0].next_due_at == now + timedelta(hours=24)
    assert await recipients(db, kind=notifications.KIND_LOW_CSAT) == ["lead"]
    assert (await run_tick(db, now + 5 * M)).low_csat_follow_ups == 0
    assert await count(db, FollowUp, FollowUp.next_owner_id.is_not(None)) == 1


async def test_end_of_day_lists_tickets_without_follow_up_to_agent_and_lead(
    db: Any, reference: dict[str, int]
) -> None:
    mine = await make_ticket(db, reference, assignee="agent")
    followed = await make_ticket(db, reference, assignee="agent")
    emmas = await make_ticket(db, reference, assignee="agent.emma")
    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:
        await commands.add_follow_up(
            session,
            agent,
            followed,
            commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed="已电话联系客户。"),
        )
    numbers = {t: (await ticket(db, t)).number for t in (mine, followed, emmas)}
    close = await first_close_after(db, (await ticket(db, mine)).created_at)
    assert (await run_tick(db, close - M)).digest_tickets == 0
    report = await run_tick(db, close + M)
    assert report.digest_tickets == 2
    digests = {n.user_id: n.params for n in await notes(db, kind=notifications.KIND_DIGEST)}
    assert digests[await user_id(db, "agent")]["numbers"] == numbers[mine]
    assert digests[await user_id(db, "agent.emma")]["numbers"] == numbers[emmas]
    lead = digests[await user_id(db, "lead")]
    assert lead["count"] == 2
    assert set(lead["numbers"].split(", ")) == {numbers[mine], numbers[emmas]}
    assert numbers[followed] not in str(digests)
    # The next tick (same evening) sends nothing again.
    assert (await run_tick(db, close + 30 * M)).digest_notifications == 0
    assert len(await notes(db, kind=notifications.KIND_DIGEST)) == 3


async def test_sweeper_requeues_an_untriaged_ticket_in_the_arq_queue(
    db: Any, redis: Any, reference: dict[str, int]
) -> None:
    queue = get_settings().queue_name
    tid = await make_ticket(db, reference, redis=None)  # its triage job was lost
    assert await redis.zcard(queue) == 0
    created = (await ticket(db, tid)).created_at
    report = await run_tick(db, created + M, redis)
    assert report.requeued_triage == 0
    assert await redis.zcard(queue) == 0
    report = await run_tick(db, created + 3 * M, redis)
    assert report.requeued_triage == 1
    queued = [key.decode() for key in await redis.zrange(queue, 0, -1)]
    assert len(queued) == 1 and queued[0].startswith(f"triage:{tid}:sweep:")
    assert await redis.exists(f"arq:job:{queued[0]}")
    # Sweeping again in the same ten-minute window does not queue it twice (same job id).
    window_start = created + 3 * M
    second = (
        window_start + M
        if (window_start + M).minute // 10 == window_start.minute // 10
        else window_start
    )
    await run_tick(db, second, redis)
    assert await redis.zcard(queue) == 1


async def test_tick_reads_due_tickets_only(db: Any, reference: dict[str, int]) -> None:
    ids = [await make_ticket(db, reference, assignee="agent") for _ in range(4)]
    first = await ticket(db, ids[0])
    assert (await run_tick(db, first.created_at + M)).woken == 0
    far = first.created_at + timedelta(days=60)
    assert (await run_tick(db, far)).woken == 4
    # Everything due was done and nothing further is scheduled: nothing to wake.
    async with db.sessionmaker() as session:
        pending = (
            await session.scalars(select(Ticket.sla_next_at).where(Ticket.id.in_(ids)))
        ).all()
    assert pending == [None] * 4
    assert (await run_tick(db, far + M)).woken == 0


async def test_bulk_inserted_open_tickets_can_be_scheduled(
    db: Any, reference: dict[str, int]
) -> None:
    from sqlalchemy import update

    from models.services.escalation import engine

    tid = await make_ticket(db, reference, assignee="agent")
    closed = await make_ticket(db, reference, assignee="agent")
    await move(
        db,
        "agent",
        closed,
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
        TicketStatus.CLOSED,
    )
    expected = (await ticket(db, tid)).sla_next_at
    assert expected is not None
    # Rows written in bulk (the demo filler, an import) carry deadlines but no next check.
    async with unit_of_work(db) as session:
        await session.execute(
            update(Ticket).values(sla_next_at=None).execution_options(synchronize_session=False)
        )
    async with unit_of_work(db) as session:
        assert await engine.schedule_unscheduled(session) == 1
    assert (await ticket(db, tid)).sla_next_at == expected
    assert (await ticket(db, closed)).sla_next_at is None
    async with unit_of_work(db) as session:
        assert await engine.schedule_unscheduled(session) == 0


async def test_the_worker_runs_the_tick_job(db: Any, redis: Any, reference: dict[str, int]) -> None:
    from tests.conftest import run_worker_burst

    await make_ticket(db, reference, assignee="agent")
    job = await redis.enqueue_job("sla_tick")
    await run_worker_burst()
    result = await job.result(timeout=5)
    assert set(result) >= {"now", "woken", "reminders", "escalations", "overdue", "requeued_triage"}
