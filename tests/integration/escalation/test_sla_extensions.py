"""Overdue reasons, extension requests and their approval or rejection — audited, and the
deadline moves only on approval. Through the services and through the real app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import ExtensionStatus, Priority, TicketStatus
from models.extension import ExtensionRequest
from models.services.common.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from models.services.escalation import extensions
from models.services.notify import notifications
from models.services.sla import policy
from models.services.tickets import commands
from models.settings import get_settings
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import (
    actions,
    actor,
    make_ticket,
    move,
    recipients,
    run_tick,
    ticket,
)

pytestmark = pytest.mark.usefixtures("reference")
M = timedelta(minutes=1)


async def overdue_ticket(db: Any, reference: dict[str, int]) -> int:
    """A ticket in progress whose resolution deadline passed (marked by the tick)."""
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS)
    row = await ticket(db, tid)
    await run_tick(db, row.resolution_due + M)
    assert (await ticket(db, tid)).overdue_since is not None
    return tid


async def audit_actions(db: Any, ticket_id: int) -> list[tuple[str, str | None]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.field)
            .where(AuditEvent.ticket_id == ticket_id)
            .order_by(AuditEvent.id)
        )
        return [(a, f) for a, f in rows.all()]


async def request(
    db: Any, username: str, ticket_id: int, due: Any, reason: str = "需要等待厂家配件"
) -> int:
    who = await actor(db, username)
    async with unit_of_work(db) as session:
        req = await extensions.request_extension(
            session, who, ticket_id, extensions.ExtensionInput(due, reason)
        )
        return req.id


async def decide(db: Any, username: str, request_id: int, approve: bool, note: str = "") -> None:
    who = await actor(db, username)
    async with unit_of_work(db) as session:
        await extensions.decide(session, who, request_id, approve=approve, note=note)


async def test_approved_extension_moves_the_deadline_and_clears_overdue(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await overdue_ticket(db, reference)
    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:
        await extensions.record_overdue_reason(session, agent, tid, "配件缺货，等待供应商发货")
    before = await ticket(db, tid)
    assert before.overdue_reason == "配件缺货，等待供应商发货"
    new_due = before.resolution_due + timedelta(days=2)
    rid = await request(db, "agent", tid, new_due)
    assert await recipients(db, kind=notifications.KIND_EXTENSION) == ["lead"]
    assert (await ticket(db, tid)).resolution_due == before.resolution_due  # not yet

    await decide(db, "lead", rid, approve=True, note="同意")
    after = await ticket(db, tid)
    assert after.resolution_due == new_due
    assert after.overdue_since is None
    async with db.sessionmaker() as session:
        req = await session.get(ExtensionRequest, rid)
    assert req is not None and req.status is ExtensionStatus.APPROVED
    assert req.decided_by_id == (await actor(db, "lead")).user_id
    trail = await audit_actions(db, tid)
    assert ("overdue_reason", "overdue_reason") in trail
    assert ("extension_requested", None) in trail
    assert ("extension_approved", None) in trail
    assert ("deadline", "resolution_due") in trail
    assert ("change", "overdue_since") in trail
    assert await recipients(db, kind=notifications.KIND_EXTENSION) == ["agent", "lead"]

    # Later deadline refreshes keep the approved deadline.
    lead = await actor(db, "lead")
    async with unit_of_work(db) as session:
        await commands.change_priority(
            session, lead, tid, Priority.MEDIUM, expected_version=after.version
        )
        await policy.refresh_deadlines(
            session,
            await commands.get(session, tid),
            (await commands.get(session, tid)).customer.level,
        )
    assert (await ticket(db, tid)).resolution_due == new_due
    # When the extended deadline passes, it is a new overdue episode (level 1), told once.
    await run_tick(db, new_due + M)
    assert (tid, policy.RULE_RESOLUTION, 1) in await actions(db, tid)
    assert (await ticket(db, tid)).overdue_since == new_due + M
    assert await recipients(db, kind=notifications.KIND_OVERDUE) == ["agent", "agent"]


async def test_rejected_extension_changes_nothing_but_the_request(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await overdue_ticket(db, reference)
    before = await ticket(db, tid)
    rid = await request(db, "agent", tid, before.resolution_due + timedelta(days=1))
    await decide(db, "lead", rid, approve=False, note="请今天内处理")
    after = await ticket(db, tid)
    assert after.resolution_due == before.resolution_due
    assert after.overdue_since == before.overdue_since
    async with db.sessionmaker() as session:
        req = await session.get(ExtensionRequest, rid)
    assert req is not None and req.status is ExtensionStatus.REJECTED
    assert req.decision_note == "请今天内处理"
    trail = await audit_actions(db, tid)
    assert ("extension_rejected", None) in trail
    assert ("deadline", "resolution_due") not in trail
    # Deciding again is refused; a new request may follow.
    with pytest.raises(Conflict):
        await decide(db, "lead", rid, approve=True)
    await request(db, "agent", tid, before.resolution_due + timedelta(hours=5))


async def test_extension_rules(db: Any, reference: dict[str, int]) -> None:
    tid = await overdue_ticket(db, reference)
    row = await ticket(db, tid)
    with pytest.raises(ValidationFailed) as earlier:
        await request(db, "agent", tid, row.resolution_due - timedelta(hours=1))
    assert "requested_due" in earlier.value.fields
    with pytest.raises(ValidationFailed) as blank:
        await request(db, "agent", tid, row.resolution_due + timedelta(days=1), reason="  ")
    assert "reason" in blank.value.fields
    with pytest.raises(ValidationFailed):
        await request(db, "agent", tid, "not a date")
    rid = await request(db, "agent", tid, row.resolution_due + timedelta(days=1))
    with pytest.raises(Conflict):
        await request(db, "agent", tid, row.resolution_due + timedelta(days=2))
    with pytest.raises(Forbidden):
        await decide(db, "agent", rid, approve=True)  # agents don't decide
    # Another department's agent may not ask for this ticket.
    with pytest.raises(Forbidden):
        await request(db, "agent.tech", tid, row.resolution_due + timedelta(days=1))
    assert (await ticket(db, tid)).resolution_due == row.resolution_due


async def test_lead_cannot_approve_own_request_but_an_admin_can(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await overdue_ticket(db, reference)
    row = await ticket(db, tid)
    rid = await request(db, "lead", tid, row.resolution_due + timedelta(days=1))
    with pytest.raises(Forbidden):
        await decide(db, "lead", rid, approve=True)
    await decide(db, "admin", rid, approve=True)
    assert (await ticket(db, tid)).resolution_due == row.resolution_due + timedelta(days=1)


async def test_overdue_reason_only_on_overdue_tickets(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    agent = await actor(db, "agent")
    with pytest.raises(InvalidTransition):
        async with unit_of_work(db) as session:
            await extensions.record_overdue_reason(session, agent, tid, "原因")


@pytest.mark.parametrize(
    "registered",
    [
        datetime(2026, 12, 2, 4, 25, 59, 750000, tzinfo=UTC),  # 12:25:59.75 in Shanghai, lunch
        datetime(2026, 12, 2, 2, 0, 59, 999999, tzinfo=UTC),  # 10:00:59.999999, second 59
    ],
    ids=["lunch-break", "second-59"],
)
async def test_approved_extension_gives_the_requested_minute(
    db: Any, reference: dict[str, int], clock: Any, registered: datetime
) -> None:
    """Issue 14: the deadline of a ticket registered at a sub-second instant carries that
    fraction; the approved extension must still land in the minute asked for (it landed a
    fraction of a second before it, showing the minute before)."""
    clock(registered, frozen=True)
    tid = await overdue_ticket(db, reference)
    row = await ticket(db, tid)
    assert row.resolution_due.microsecond  # the fraction that used to be lost
    zone = ZoneInfo(get_settings().timezone)
    wanted = (row.resolution_due + timedelta(days=3)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    rid = await request(db, "agent", tid, wanted)
    await decide(db, "lead", rid, approve=True)
    after = await ticket(db, tid)
    assert after.resolution_due.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == wanted
    asked = extensions.parse_local(wanted, "requested_due")
    assert timedelta(0) <= after.resolution_due - asked < timedelta(seconds=1)
    # A second extension measures from the extended deadline and lands in its minute too.
    again = (after.resolution_due + timedelta(hours=5)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    await decide(db, "lead", await request(db, "agent", tid, again), approve=True)
    later = await ticket(db, tid)
    assert later.resolution_due.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == again


# --- through the app --------------------------------------------------------------------------


def hx(client: Any) -> dict[str, str]:
    return {"HX-Request": "true", "x-csrftoken": client.cookies.get("kefu_csrf", "")}


async def test_sla_panel_forms_through_the_app(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid = await overdue_ticket(db, reference)
    row = await ticket(db, tid)
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/sla/tickets/{tid}")
    assert page.status_code == 200
    assert "逾期" in page.text and 'id="sla-panel"' in page.text

    missing = await client.post(
        f"/sla/tickets/{tid}/overdue-reason", data={"reason": ""}, headers=hx(client)
    )
    assert missing.status_code == 422
    assert "请更正" in missing.text or "必填" in missing.text
    assert (await ticket(db, tid)).overdue_reason is None

    saved = await client.post(
        f"/sla/tickets/{tid}/overdue-reason",
        data={"reason": "<b>客户</b>未提供序列号"},
        headers=hx(client),
    )
    assert saved.status_code == 200
    assert "&lt;b&gt;客户&lt;/b&gt;未提供序列号" in saved.text  # escaped, never markup

    local = (row.resolution_due + timedelta(days=3)).astimezone(ZoneInfo(get_settings().timezone))
    wanted = local.strftime("%Y-%m-%dT%H:%M")
    too_early = await client.post(
        f"/sla/tickets/{tid}/extensions",
        headers=hx(client),
        data={"requested_due": "2001-01-01T09:00", "reason": "x"},
    )
    assert too_early.status_code == 422
    assert "新的截止时间必须晚于当前截止时间" in too_early.text
    filed = await client.post(
        f"/sla/tickets/{tid}/extensions",
        headers=hx(client),
        data={"requested_due": wanted, "reason": "等待配件"},
    )
    assert filed.status_code == 200 and 'data-testid="extension-pending"' in filed.text
    async with db.sessionmaker() as session:
        rid = await session.scalar(
            select(ExtensionRequest.id).where(ExtensionRequest.ticket_id == tid)
        )
    refused = await client.post(
        f"/sla/extensions/{rid}/decide", headers=hx(client), data={"decision": "approve"}
    )
    assert refused.status_code == 403

    await client.post("/logout", data={"_csrf_token": client.cookies.get("kefu_csrf")})
    await sign_in(client, "lead", "kefu-lead")
    queue = await client.get("/sla/extensions")
    assert queue.status_code == 200 and row.number in queue.text
    deciding = await client.get(f"/sla/tickets/{tid}", headers=hx(client))
    assert 'value="approve"' in deciding.text and "等待配件" in deciding.text
    bogus = await client.post(
        f"/sla/extensions/{rid}/decide",
        headers=hx(client),
        data={"decision": "maybe", "back": "queue"},
    )
    assert bogus.status_code == 422
    approved = await client.post(
        f"/sla/extensions/{rid}/decide",
        headers=hx(client),
        data={"decision": "approve", "note": "同意", "back": "queue"},
    )
    assert approved.status_code == 200 and "没有待处理的申请" in approved.text
    after = await ticket(db, tid)
    assert (
        after.resolution_due.astimezone(ZoneInfo(get_settings().timezone)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        == wanted
    )
    history = await client.get(f"/sla/tickets/{tid}")
    assert "以往的延期申请" in history.text and "已批准" in history.text
    assert "申请延期" in history.text  # a further request may be filed


async def test_acknowledge_through_the_app_stops_escalation(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, department="CARE", assignee="agent.care")
    due = (await ticket(db, tid)).acknowledge_due
    assert due is not None
    await sign_in(client, "agent", "kefu-agent")
    other = await client.post(f"/sla/tickets/{tid}/acknowledge", headers=hx(client))
    assert other.status_code == 403  # not theirs, not their department
    await client.post("/logout", data={"_csrf_token": client.cookies.get("kefu_csrf")})
    await sign_in(client, "agent.care", "kefu-agent")
    panel = await client.get(f"/sla/tickets/{tid}", headers=hx(client))
    assert 'data-testid="acknowledge"' in panel.text
    done = await client.post(f"/sla/tickets/{tid}/acknowledge", headers=hx(client))
    assert done.status_code == 200 and 'data-testid="acknowledge"' not in done.text
    assert (await ticket(db, tid)).acknowledged_at is not None
    await run_tick(db, due + 300 * M)
    assert await recipients(db, kind=notifications.KIND_ESCALATION) == []
