"""Exactly once, with two workers ticking at the same moment, on SQLite and PostgreSQL.

Two ``tick()`` calls run concurrently on separate sessions (separate connections) with the
same ``now``; every SLA action must be taken by exactly one of them, so nobody is told
anything twice and no follow-up task is created twice.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from models.db import unit_of_work
from models.enums import TicketStatus, Urgency
from models.followup import FollowUp
from models.services.escalation.engine import Claim, TickReport, claim
from models.services.notify import notifications
from models.services.sla import policy
from models.sla_action import SlaAction
from tests.integration.sla.test_sla_helpers import (
    actions,
    complete_with_survey,
    count,
    duplicates,
    first_close_after,
    make_ticket,
    move,
    notes,
    run_tick,
    ticket,
)

pytestmark = pytest.mark.usefixtures("reference")
M = timedelta(minutes=1)


def acted(report: TickReport) -> int:
    return (
        report.reminders
        + report.escalations
        + report.overdue
        + report.low_csat_follow_ups
        + report.digest_tickets
    )


async def test_claim_is_insert_or_skip_across_sessions(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference)
    wanted = [Claim(tid, policy.RULE_REMINDER, 0), Claim(tid, policy.RULE_ESCALATION, 1)]
    now = (await ticket(db, tid)).created_at
    async with db.sessionmaker() as first, db.sessionmaker() as second:
        got_first = await claim(first, wanted, now)
        # The second worker's insert has to wait for the first transaction's outcome…
        racing = asyncio.create_task(claim(second, wanted, now))
        await asyncio.sleep(0.2)
        await first.commit()
        got_second = await racing
        await second.commit()
    assert got_first == set(wanted)
    assert got_second == set()  # … and then skips every row the first one took
    assert await count(db, SlaAction) == 2


async def test_a_rolled_back_claim_leaves_the_action_to_the_other_worker(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference)
    wanted = [Claim(tid, policy.RULE_FIRST_RESPONSE, 0)]
    now = (await ticket(db, tid)).created_at
    async with db.sessionmaker() as first, db.sessionmaker() as second:
        assert await claim(first, wanted, now) == set(wanted)
        racing = asyncio.create_task(claim(second, wanted, now))
        await asyncio.sleep(0.2)
        await first.rollback()  # the first worker crashed before committing
        assert await racing == set(wanted)
        await second.commit()
    assert await count(db, SlaAction) == 1


async def test_two_concurrent_ticks_take_every_action_exactly_once(
    db: Any, reference: dict[str, int]
) -> None:
    urgent = await make_ticket(db, reference, urgency=Urgency.URGENT, assignee="agent")
    care = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    await make_ticket(db, reference, assignee=None)
    low = await make_ticket(db, reference, assignee="agent.emma")
    await complete_with_survey(db, low, (2, 1, 3), username="agent.emma")
    started = await make_ticket(db, reference, department="TECH", assignee="agent.tech")
    await move(db, "agent.tech", started, TicketStatus.IN_PROGRESS)
    for _ in range(12):  # enough due tickets for the two ticks to interleave
        await make_ticket(db, reference, department="AFTER", assignee="agent.after")
    created = (await ticket(db, urgent)).created_at
    close = await first_close_after(db, created)

    reports: list[TickReport] = []
    for now in (close + M, created + timedelta(days=40), created + timedelta(days=41)):
        async with asyncio.timeout(60):
            pair = await asyncio.gather(run_tick(db, now), run_tick(db, now))
        reports += pair

    taken = await actions(db)
    assert duplicates(taken) == []
    # Every action taken was acted on by one tick, never by both.
    # (A level above the department's last rung is claimed but tells nobody.)
    rungs_told = {
        (n.ticket_id, n.params["level"])
        for n in await notes(db, kind=notifications.KIND_ESCALATION)
    }
    beyond_ladder = sum(
        1
        for tid, rule, level in taken
        if rule == policy.RULE_ESCALATION and (tid, level) not in rungs_told
    )
    assert sum(acted(r) for r in reports) + beyond_ladder == len(taken)
    # Nobody was told the same thing twice.
    told = [
        (n.user_id, n.kind, n.ticket_id, n.message, json.dumps(n.params, sort_keys=True))
        for n in await notes(db)
    ]
    assert duplicates(told) == []
    # And every rule did fire: reminder, ladder, overdue, low CSAT, digest.
    rules = {rule for _, rule, _ in taken}
    assert rules >= {
        policy.RULE_REMINDER,
        policy.RULE_ESCALATION,
        policy.RULE_FIRST_RESPONSE,
        policy.RULE_RESOLUTION,
        policy.RULE_LOW_CSAT,
        policy.RULE_NO_FOLLOW_UP,
    }
    assert [lvl for t, r, lvl in taken if t == care and r == policy.RULE_ESCALATION] == [1, 2, 3, 4]
    assert await count(db, FollowUp, FollowUp.next_owner_id.is_not(None)) == 1
    assert len(await notes(db, kind=notifications.KIND_LOW_CSAT)) == 1
    assert len(await notes(db, kind=notifications.KIND_REMINDER, ticket_id=urgent)) == 3


async def test_concurrent_ticks_in_separate_units_of_work_commit_cleanly(
    db: Any, reference: dict[str, int]
) -> None:
    """Many workers at once (not just two): still one notification per escalation rung."""
    tid = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    due = (await ticket(db, tid)).acknowledge_due
    assert due is not None

    async def tick_once() -> TickReport:
        async with unit_of_work(db) as session:
            from models.services.escalation.engine import tick

            return await tick(session, due + 200 * M)

    async with asyncio.timeout(60):
        await asyncio.gather(*(tick_once() for _ in range(4)))
    told = sorted(n.params["level"] for n in await notes(db, kind=notifications.KIND_ESCALATION))
    assert told == [1, 2, 3]
