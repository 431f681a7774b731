"""Every customer message lands where someone sees it: one service (``messages.receive``) for
the portal's tracking page, email replies and the API — per state, per channel, bad input,
and the "customer replied" mark that opening the drawer clears."""

from __future__ import annotations

import re
from typing import Any

import pytest
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.notification import Notification
from models.services.admin import api_keys
from models.services.common.actor import Actor
from models.services.common.errors import ValidationFailed
from models.services.mail import inbound
from models.services.notify import notifications
from models.services.tickets import board, commands, intake, messages, portal
from models.settings import get_settings
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.mail_support import mail
from tests.integration.sla.test_sla_helpers import actor, make_ticket, move, recipients, ticket

pytestmark = pytest.mark.usefixtures("reference")

REFUND = "银行那边说没有收到这笔退款，麻烦再查一下！"
S = TicketStatus
TO_STATE = {
    S.PENDING: (),
    S.IN_PROGRESS: (S.IN_PROGRESS,),
    S.AWAITING_CONFIRMATION: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION),
    S.COMPLETED: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION, S.COMPLETED),
    S.CLOSED: (S.IN_PROGRESS, S.AWAITING_CONFIRMATION, S.COMPLETED, S.CLOSED),
}
CLI = Actor.system("cli")


async def in_state(
    db: Any, reference: dict[str, int], state: TicketStatus, *, assignee: str | None = "agent"
) -> int:
    tid = await make_ticket(db, reference, assignee=assignee)
    await move(db, "lead", tid, *TO_STATE[state])
    return tid


async def write(db: Any, tid: int, text: str = REFUND, redis: Any = None) -> messages.Landed:
    async with unit_of_work(db, redis) as session:
        row = await commands.get(session, tid)
        return await messages.receive(
            session,
            portal.PORTAL,
            row,
            messages.CustomerMessage(
                text=text, method=FollowUpMethod.ONLINE_CHAT, channel=Channel.PORTAL
            ),
        )


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(model)
        for clause in where:
            stmt = stmt.where(clause)
        return int(await s.scalar(stmt) or 0)


async def actions(db: Any, tid: int) -> list[str]:
    async with db.sessionmaker() as s:
        rows = await s.scalars(
            select(AuditEvent.action).where(AuditEvent.ticket_id == tid).order_by(AuditEvent.id)
        )
        return list(rows.all())


async def customer_notes(db: Any) -> list[Notification]:
    async with db.sessionmaker() as s:
        stmt = (
            select(Notification)
            .where(Notification.kind == notifications.KIND_CUSTOMER_REPLY)
            .order_by(Notification.id)
        )
        return list((await s.scalars(stmt)).all())


async def card_of(db: Any, tid: int, username: str = "agent") -> board.Card:
    who = await actor(db, username)
    async with db.sessionmaker() as s:
        card = await board.card(s, who, tid)
    assert card is not None
    return card


# --- the service, state by state ------------------------------------------------------------


@pytest.mark.parametrize("state", [S.PENDING, S.IN_PROGRESS])
async def test_on_open_work_the_message_notifies_and_marks_only(
    db: Any, reference: dict[str, int], state: TicketStatus
) -> None:
    tid = await in_state(db, reference, state)
    before = await ticket(db, tid)
    landed = await write(db, tid)
    after = await ticket(db, tid)
    assert landed.ticket.id == tid and not landed.reopened and not landed.opened_repeat
    assert after.status is state
    assert after.customer_replied_at is not None
    assert after.version == before.version + 1  # a new message: open forms see it
    assert await count(db, FollowUp, FollowUp.ticket_id == tid, FollowUp.by_customer) == 1
    assert "customer_reopened" not in await actions(db, tid)
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    (note,) = await customer_notes(db)
    assert note.ticket_id == tid and note.params["number"] == after.number
    assert note.message == "The customer replied on %(number)s: %(excerpt)s"
    assert (await card_of(db, tid)).customer_replied


@pytest.mark.parametrize("state", [S.AWAITING_CONFIRMATION, S.COMPLETED])
async def test_awaiting_or_completed_goes_back_to_work(
    db: Any, reference: dict[str, int], state: TicketStatus
) -> None:
    tid = await in_state(db, reference, state)
    landed = await write(db, tid)
    after = await ticket(db, tid)
    assert landed.reopened and landed.ticket.id == tid
    assert after.status is S.IN_PROGRESS
    assert after.resolved_at is None and after.paused_since is None
    assert after.customer_replied_at is not None
    trail = await actions(db, tid)
    assert trail[-1] == "customer_reopened" and "move" in trail
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    (note,) = await customer_notes(db)
    assert "back in progress" in note.message
    agent = await actor(db, "agent")
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, agent, tid)
    labels = [e.action_label for e in detail.timeline]
    assert "Reopened: the customer replied" in labels and "Customer wrote" in labels
    assert detail.card.customer_replied and detail.customer_replied_at is not None


async def test_closed_opens_a_linked_repeat_and_leaves_the_old_one_as_it_is(
    db: Any, reference: dict[str, int], redis: Any
) -> None:
    tid = await in_state(db, reference, S.CLOSED)
    old = await ticket(db, tid)
    landed = await write(db, tid, redis=redis)
    assert landed.opened_repeat and landed.follow_up is None and not landed.reopened
    new = await ticket(db, landed.ticket.id)
    assert new.id != tid
    assert new.is_repeat and new.repeat_of_id == tid
    assert new.customer_id == old.customer_id
    assert new.description == REFUND and new.status is S.PENDING
    assert new.customer_replied_at is not None
    # Triaged like any new ticket: its triage job is queued.
    job = Job(f"triage:{new.id}", redis, _queue_name=get_settings().queue_name)
    assert await job.status() is JobStatus.queued
    # The closed one: same state, same version, no message on it — only a timeline line.
    still = await ticket(db, tid)
    assert (still.status, still.version, still.customer_replied_at) == (S.CLOSED, old.version, None)
    assert await count(db, FollowUp, FollowUp.ticket_id == tid, FollowUp.by_customer) == 0
    assert (await actions(db, tid))[-1] == "repeat_opened"
    assert "repeat_of" in await actions(db, new.id)
    # Whoever had the closed case hears of it, pointed at the new inquiry.
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    (note,) = await customer_notes(db)
    assert note.ticket_id == new.id
    assert note.params == {"number": new.number, "previous": old.number, "excerpt": REFUND}
    lead = await actor(db, "lead")
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, lead, tid)
        repeat_detail = await board.ticket_detail(s, lead, new.id)
    assert new.number in [e.linked_number for e in detail.timeline]
    assert old.number in [e.linked_number for e in repeat_detail.timeline]
    assert repeat_detail.repeat_of_number == old.number and repeat_detail.card.is_repeat


async def test_unassigned_tickets_tell_the_department_leads(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    await write(db, tid)
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["lead"]
    # With no department, the rung above everyone: the admins.
    other = await make_ticket(db, reference, department=None, assignee=None)
    await write(db, other)
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY, ticket_id=other) == [
        "admin"
    ]


@pytest.mark.parametrize("text", ["", "   \n ", "太长" * 2600])
async def test_empty_or_oversized_messages_store_nothing(
    db: Any, reference: dict[str, int], text: str
) -> None:
    tid = await in_state(db, reference, S.COMPLETED)
    before = await ticket(db, tid)
    with pytest.raises(ValidationFailed) as caught:
        await write(db, tid, text)
    assert caught.value.status_code == 422 and "text" in caught.value.fields
    after = await ticket(db, tid)
    assert (after.status, after.version, after.customer_replied_at) == (
        S.COMPLETED,
        before.version,
        None,
    )
    assert await count(db, FollowUp, FollowUp.by_customer) == 0
    assert await customer_notes(db) == []


# --- the mark: cleared by staff opening the drawer, not by the customer looking ------------


async def portal_ticket(
    db: Any, reference: dict[str, int], state: TicketStatus, **extra: Any
) -> tuple[int, str]:
    """A portal inquiry with its tracking link, assigned to the agent and moved to ``state``."""
    admin = await actor(db, "admin")
    agent = await actor(db, "agent")
    async with unit_of_work(db) as s:
        result = await intake.register_inquiry(
            s,
            admin,
            intake.InquiryInput(
                description="我申请的退款还没有到账。",
                channel=Channel.PORTAL.value,
                name="林小姐",
                phone="13800138111",
                allowed_channels=(Channel.PORTAL,),
                with_tracking_link=True,
                **extra,
            ),
        )
        await commands.route_new(s, admin, result.ticket, department_id=reference["SUPPORT"])
        await commands.assign(s, admin, result.ticket.id, agent.user_id, expected_version=None)
    assert result.tracking_token
    await move(db, "lead", result.ticket.id, *TO_STATE[state])
    return result.ticket.id, result.tracking_token


async def post_info(client: Any, token: str, text: str, *, htmx: bool = True) -> Any:
    await client.get(f"/portal/t/{token}")
    return await client.post(
        f"/portal/t/{token}/info",
        data={"text": text, "_csrf_token": client.cookies.get("kefu_csrf")},
        headers={"HX-Request": "true"} if htmx else {},
        follow_redirects=False,
    )


async def test_the_mark_clears_when_staff_open_the_drawer_not_when_the_customer_looks(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, token = await portal_ticket(db, reference, S.COMPLETED)
    assert (await post_info(client, token, REFUND)).status_code == 200
    assert (await ticket(db, tid)).customer_replied_at is not None
    # The customer reading their tracking page is not someone working the ticket.
    page = await client.get(f"/portal/t/{token}")
    assert page.status_code == 200 and REFUND in page.text
    assert (await ticket(db, tid)).customer_replied_at is not None
    # An agent of another department may look, but cannot work it: the mark stays.
    await sign_in(client, "agent.tech", "kefu-agent")
    await client.get(f"/tickets/{tid}")
    assert (await ticket(db, tid)).customer_replied_at is not None
    # The assignee sees the mark on the card, opens the drawer: it says so once, then clears.
    await sign_in(client, "agent", "kefu-agent")
    board_page = await client.get("/board")
    assert 'data-testid="customer-replied"' in board_page.text and "客户新回复" in board_page.text
    version = (await ticket(db, tid)).version
    drawer = await client.get(f"/tickets/{tid}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200
    assert 'data-testid="drawer-customer-replied"' in drawer.text
    assert "客户回复，工单已重新打开" in drawer.text  # the timeline says why it is back
    after = await ticket(db, tid)
    assert after.customer_replied_at is None and after.version == version
    board_page = await client.get("/board")
    assert 'data-testid="customer-replied"' not in board_page.text
    again = await client.get(f"/tickets/{tid}", headers={"HX-Request": "true"})
    assert 'data-testid="drawer-customer-replied"' not in again.text


async def test_opening_the_drawer_does_not_make_a_concurrent_drag_conflict(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await in_state(db, reference, S.IN_PROGRESS)
    await write(db, tid)
    seen_on_board = (await ticket(db, tid)).version  # a colleague's board shows this card
    agent = await actor(db, "agent")
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        await board.open_ticket(s, agent, tid)
    async with unit_of_work(db) as s:  # … and they drop it on another column: no 409
        await board.move(s, lead, tid, S.AWAITING_CONFIRMATION, expected_version=seen_on_board)
    assert (await ticket(db, tid)).status is S.AWAITING_CONFIRMATION


async def test_a_later_message_keeps_its_mark(db: Any, reference: dict[str, int]) -> None:
    """Only the mark the drawer showed is cleared: one arriving meanwhile stays."""
    tid = await in_state(db, reference, S.IN_PROGRESS)
    await write(db, tid, "第一条")
    agent = await actor(db, "agent")
    first = (await ticket(db, tid)).customer_replied_at
    assert first is not None
    await write(db, tid, "第二条")
    async with unit_of_work(db) as s:
        assert not await commands.clear_customer_reply(s, tid, first, version=0)
    assert (await ticket(db, tid)).customer_replied_at not in (None, first)
    async with unit_of_work(db) as s:
        await board.open_ticket(s, agent, tid)
    assert (await ticket(db, tid)).customer_replied_at is None


# --- every channel through the one service --------------------------------------------------


async def test_portal_message_on_a_completed_ticket_reopens_it(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, token = await portal_ticket(db, reference, S.COMPLETED)
    response = await post_info(client, token, REFUND)
    assert response.status_code == 200 and REFUND in response.text
    row = await ticket(db, tid)
    assert row.status is S.IN_PROGRESS and row.customer_replied_at is not None
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    page = await client.get(f"/portal/t/{token}")
    assert "处理中" in page.text


async def test_portal_message_on_a_closed_ticket_opens_a_new_inquiry_with_its_link(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, token = await portal_ticket(db, reference, S.CLOSED)
    page = await client.get(f"/portal/t/{token}")
    assert "在此发送的留言将新建一个咨询" in page.text
    response = await post_info(client, token, REFUND)
    assert response.status_code == 200
    assert 'data-testid="new-inquiry"' in response.text
    link = re.search(r'href="/portal/t/([A-Za-z0-9_-]+)"', response.text)
    assert link and link.group(1) != token
    async with db.sessionmaker() as s:
        new = await s.scalar(select(Ticket).where(Ticket.repeat_of_id == tid))
    assert new is not None and new.channel is Channel.PORTAL and new.description == REFUND
    assert new.number in response.text and "已为您的留言新建咨询" in response.text
    assert (await ticket(db, tid)).status is S.CLOSED
    own = await client.get(f"/portal/t/{link.group(1)}")
    assert own.status_code == 200 and new.number in own.text and REFUND in own.text
    # A second message on the closed inquiry joins the repeat the first one opened.
    plain = await post_info(client, token, "再补充一句。", htmx=False)
    assert plain.status_code == 303
    assert await count(db, Ticket, Ticket.repeat_of_id == tid) == 1
    assert await count(db, FollowUp, FollowUp.ticket_id == new.id, FollowUp.by_customer) == 1


@pytest.mark.parametrize(("text", "message"), [("  ", "必填。"), ("长" * 2001, "内容过长。")])
async def test_portal_bad_messages_are_a_localized_422_and_store_nothing(
    client: Any, db: Any, reference: dict[str, int], text: str, message: str
) -> None:
    tid, token = await portal_ticket(db, reference, S.COMPLETED)
    version = (await ticket(db, tid)).version
    response = await post_info(client, token, text)
    assert response.status_code == 422 and message in response.text
    row = await ticket(db, tid)
    assert (row.status, row.version, row.customer_replied_at) == (S.COMPLETED, version, None)
    assert await count(db, FollowUp, FollowUp.by_customer) == 0
    assert await customer_notes(db) == []


async def test_email_reply_goes_through_the_same_service(
    db: Any, reference: dict[str, int], redis: Any
) -> None:
    channel = get_settings().event_channel
    assert await inbound.import_message(db, redis, channel, None, None, mail()) is not None
    async with db.sessionmaker() as s:
        tid = await s.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    assert tid is not None
    agent = await actor(db, "agent")
    async with unit_of_work(db) as s:
        await commands.assign(s, agent, tid, agent.user_id, expected_version=None)
    await move(db, "lead", tid, *TO_STATE[S.COMPLETED])
    number = (await ticket(db, tid)).number
    reply = mail(subject=f"Re: [#{number}] 订单 12345 还没有发货", body=REFUND)
    await inbound.import_message(db, redis, channel, None, None, reply)
    row = await ticket(db, tid)
    assert row.status is S.IN_PROGRESS and row.customer_replied_at is not None
    assert "customer_reopened" in await actions(db, tid)
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    # Closed: the next reply opens a linked repeat, and the same people hear of it.
    await move(db, "lead", tid, S.AWAITING_CONFIRMATION, S.COMPLETED, S.CLOSED)
    again = mail(subject=f"Re: [#{number}] 订单 12345 还没有发货", body="还是没有到账。")
    await inbound.import_message(db, redis, channel, None, None, again)
    async with db.sessionmaker() as s:
        repeat = await s.scalar(select(Ticket).where(Ticket.repeat_of_id == tid))
    assert repeat is not None and repeat.channel is Channel.EMAIL
    assert repeat.customer_id == row.customer_id and "还是没有到账。" in repeat.description
    assert repeat.customer_replied_at is not None
    assert (await ticket(db, tid)).status is S.CLOSED
    notes = await customer_notes(db)
    assert [n.params["number"] for n in notes] == [number, repeat.number]


async def new_key(db: Any, name: str = "WeChat") -> tuple[int, str]:
    async with unit_of_work(db) as s:
        view, raw = await api_keys.create(s, CLI, name)
    return view.id, raw


async def test_api_messages_go_through_the_same_service(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    key_id, raw = await new_key(db)
    _, other_raw = await new_key(db, "Other")
    headers = {"X-API-Key": raw}
    tid, _ = await portal_ticket(db, reference, S.COMPLETED, api_key_id=key_id)
    number = (await ticket(db, tid)).number
    url = f"/api/v1/inquiries/{number}/messages"
    # Another client's inquiry is not found; bad text is a localized 422; nothing stored.
    assert (
        await client.post(url, json={"text": REFUND}, headers={"X-API-Key": other_raw})
    ).status_code == 404
    empty = await client.post(url, json={"text": " "}, headers=headers)
    assert empty.status_code == 422 and empty.json()["fields"] == {"text": "必填。"}
    long = await client.post(
        url, json={"text": "x" * 5001}, headers={**headers, "Accept-Language": "en"}
    )
    assert long.status_code == 422 and long.json()["fields"] == {"text": "Too long."}
    assert await count(db, FollowUp, FollowUp.by_customer) == 0
    response = await client.post(url, json={"text": REFUND}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == number and body["status"] == "in_progress"
    assert body["reopened"] is True and body["repeat_of"] is None
    row = await ticket(db, tid)
    assert row.status is S.IN_PROGRESS and row.customer_replied_at is not None
    assert await recipients(db, kind=notifications.KIND_CUSTOMER_REPLY) == ["agent"]
    # Closed: a repeat inquiry, the client's own, with its number and tracking link.
    await move(db, "lead", tid, S.AWAITING_CONFIRMATION, S.COMPLETED, S.CLOSED)
    response = await client.post(url, json={"text": "还是没有到账。"}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["repeat_of"] == number and body["number"] != number
    assert body["tracking_url"].endswith(f"/portal/t/{body['tracking_token']}")
    status = await client.get(f"/api/v1/inquiries/{body['number']}", headers=headers)
    assert status.status_code == 200 and status.json()["status"] == "pending"
    async with db.sessionmaker() as s:
        repeat = await s.scalar(select(Ticket).where(Ticket.number == body["number"]))
    assert repeat is not None and repeat.repeat_of_id == tid and repeat.channel is Channel.API
