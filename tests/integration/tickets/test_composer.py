"""The drawer's composer and inline fields: a reply goes by the ticket's channel (email to the
SMTP server, or the tracking page), an internal note never reaches the customer, the follow-up
record's fields travel with the message, inline edits save on change (or are refused on the
field, nothing saved), and a reply someone else sent first holds the send until confirmed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from models.db import unit_of_work
from models.enums import FollowUpMethod, Priority
from models.followup import FollowUp
from models.services.composer import presence
from models.services.replies import macros
from models.services.tickets import commands
from models.ticket import Ticket
from tests.conftest import run_worker_burst, sign_in
from tests.integration.mail.test_reply_delivery import CUSTOMER, _customer_ticket
from tests.integration.mail_support import make_smtp_mailbox
from tests.integration.tickets.test_board_helpers import actor, htmx, make_ticket, version_of
from tests.integration.tickets.test_portal_flow import portal_form, submit, token_of
from tests.mailservers import running_smtp

pytestmark = pytest.mark.usefixtures("reference")


async def post(client: Any, path: str, **data: Any) -> Any:
    return await client.post(path, data=data, headers=htmx(client.cookies.get("kefu_csrf")))


async def follow_ups(db: Any, ticket_id: int) -> list[FollowUp]:
    async with db.sessionmaker() as s:
        stmt = select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.id)
        return list((await s.scalars(stmt)).all())


async def portal_ticket(client: Any, db: Any) -> tuple[int, str]:
    token = token_of(await submit(client, await portal_form(client)))
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket).order_by(Ticket.id.desc()))).first()
        assert ticket is not None
        return ticket.id, token


async def test_a_reply_goes_by_email_to_the_smtp_server_with_its_record_fields(
    client: Any, db: Any, redis: Any
) -> None:
    _, ticket_id = await _customer_ticket(db, redis)
    with running_smtp() as smtp:
        await make_smtp_mailbox(db, smtp.port)
        await sign_in(client, "lead", "kefu-lead")
        drawer = (await client.get(f"/tickets/{ticket_id}")).text
        assert "将通过邮件发送至 h***@customer.example" in drawer
        assert 'id="composer-body"' in drawer and "data-quick-replies" in drawer
        response = await post(
            client,
            f"/tickets/{ticket_id}/compose",
            kind="reply",
            method="phone",
            discussed="您好，新的发票已经开具。",
            customer_feedback="客户表示满意",
            next_step="三天后回访",
            next_due_at="2026-06-13T10:00",
            done="1",
        )
        assert response.status_code == 200
        await run_worker_burst()
        [sent] = smtp.to(CUSTOMER)
    body = sent.get_body().get_content()
    assert "您好，新的发票已经开具。" in body
    [record] = await follow_ups(db, ticket_id)
    assert record.method is FollowUpMethod.EMAIL and record.visible_to_customer
    assert record.customer_feedback == "客户表示满意" and record.next_step == "三天后回访"
    assert record.next_due_at is not None and record.done


async def test_a_portal_reply_shows_on_the_tracking_page_and_a_note_does_not(
    client: Any, db: Any
) -> None:
    ticket_id, token = await portal_ticket(client, db)
    await sign_in(client, "lead", "kefu-lead")
    drawer = (await client.get(f"/tickets/{ticket_id}")).text
    assert "客户将在查询页看到此回复" in drawer
    reply = await post(
        client,
        f"/tickets/{ticket_id}/compose",
        kind="reply",
        method="online_chat",
        discussed="您好，包裹已于今天发出。",
        done="1",
    )
    note = await post(
        client,
        f"/tickets/{ticket_id}/compose",
        kind="note",
        method="phone",
        discussed="内部备注：仓库说明天补发",
        next_step="明天确认物流",
    )
    assert reply.status_code == note.status_code == 200
    reply_row, note_row = await follow_ups(db, ticket_id)
    assert reply_row.visible_to_customer and not note_row.visible_to_customer
    assert note_row.next_step == "明天确认物流" and not note_row.done
    page = (await client.get(f"/portal/t/{token}")).text
    assert "您好，包裹已于今天发出。" in page
    assert "仓库说明天补发" not in page


async def test_an_empty_message_is_refused_on_the_field_with_nothing_saved(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, assignee="agent")
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        f"/tickets/{ticket_id}/compose",
        data={"kind": "note", "method": "phone", "discussed": "  ", "next_step": "保留的草稿"},
        headers={**htmx(client.cookies.get("kefu_csrf")), "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 422
    assert response.headers["hx-retarget"] == "#composer"
    assert (
        'data-testid="error-discussed"' in response.text and 'aria-invalid="true"' in response.text
    )
    assert "保留的草稿" in response.text  # the draft is kept
    bad_kind = await post(
        client, f"/tickets/{ticket_id}/compose", kind="x", method="phone", discussed="hi"
    )
    assert bad_kind.status_code == 422
    assert await follow_ups(db, ticket_id) == []


async def test_inline_assign_to_me_and_priority_save_on_change(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    agent = await actor(db, "agent")
    await sign_in(client, "agent", "kefu-agent")
    drawer = (await client.get(f"/tickets/{ticket_id}")).text
    assert 'data-testid="assign-to-me"' in drawer and 'hx-trigger="change"' in drawer
    assigned = await post(
        client,
        f"/tickets/{ticket_id}/assign",
        assignee_id="me",
        inline="assignee_id",
        version=str(await version_of(db, ticket_id)),
    )
    assert assigned.status_code == 200
    assert assigned.headers["hx-retarget"] == "#drawer-handling"
    assert 'data-testid="saved-assignee_id"' in assigned.text
    assert 'id="drawer-badges" hx-swap-oob="true"' in assigned.text
    priority = await post(
        client,
        f"/tickets/{ticket_id}/priority",
        priority="urgent",
        inline="priority",
        version=str(await version_of(db, ticket_id)),
    )
    assert priority.status_code == 200 and 'data-testid="saved-priority"' in priority.text
    async with db.sessionmaker() as s:
        ticket = await commands.get(s, ticket_id)
        assert ticket.assignee_id == agent.user_id and ticket.priority is Priority.URGENT


async def test_an_invalid_inline_value_is_refused_on_the_field_localized(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, assignee="agent")
    await sign_in(client, "agent", "kefu-agent")
    before = await version_of(db, ticket_id)
    for lang, text in (("zh-CN", "请选择"), ("en", "Choose a value")):
        response = await client.post(
            f"/tickets/{ticket_id}/priority",
            data={"priority": "sky-high", "inline": "priority", "version": str(before)},
            headers={**htmx(client.cookies.get("kefu_csrf")), "Accept-Language": lang},
        )
        assert response.status_code == 422, response.text
        assert 'data-testid="error-priority"' in response.text and text in response.text
        assert "sky-high" not in response.text
    missing = await post(
        client,
        f"/tickets/{ticket_id}/assign",
        assignee_id="999999",
        inline="assignee_id",
        version=str(before),
    )
    assert missing.status_code == 422 and 'data-testid="error-assignee_id"' in missing.text
    assert await version_of(db, ticket_id) == before


async def test_a_reply_sent_by_someone_else_first_holds_the_send_until_confirmed(
    client: Any, db: Any
) -> None:
    ticket_id, _ = await portal_ticket(client, db)
    await sign_in(client, "lead", "kefu-lead")
    seen = 0  # the lead drew the drawer before anyone replied
    agent = await actor(db, "agent")
    async with unit_of_work(db) as s:
        await commands.add_follow_up(
            s,
            agent,
            ticket_id,
            commands.FollowUpInput(
                method=FollowUpMethod.ONLINE_CHAT,
                discussed="已经安排发货",
                visible_to_customer=True,
            ),
        )
    held = await post(
        client,
        f"/tickets/{ticket_id}/compose",
        kind="reply",
        method="online_chat",
        discussed="我们马上处理",
        seen=str(seen),
    )
    assert held.status_code == 200 and held.headers["hx-retarget"] == "#composer"
    assert 'data-testid="composer-held"' in held.text and "王小明" in held.text
    assert "我们马上处理" in held.text
    assert len(await follow_ups(db, ticket_id)) == 1
    # A note is never held; a confirmed reply is sent.
    note = await post(
        client,
        f"/tickets/{ticket_id}/compose",
        kind="note",
        method="phone",
        discussed="备注",
        seen="0",
    )
    assert 'data-testid="composer-held"' not in note.text
    sent = await post(
        client,
        f"/tickets/{ticket_id}/compose",
        kind="reply",
        method="online_chat",
        discussed="我们马上处理",
        seen=str(seen),
        confirm="1",
    )
    assert sent.status_code == 200 and 'data-testid="composer-held"' not in sent.text
    assert [f.discussed for f in await follow_ups(db, ticket_id)][-1] == "我们马上处理"


async def test_presence_shows_who_else_is_replying_and_fails_open(
    client: Any, db: Any, redis: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, assignee="agent")
    await sign_in(client, "lead", "kefu-lead")
    typed = await post(client, f"/tickets/{ticket_id}/composing")
    assert typed.status_code == 204
    # The lead does not see themself; the agent sees the lead.
    assert "collision-notice" not in (await client.get(f"/tickets/{ticket_id}/composing")).text
    await sign_in(client, "agent", "kefu-agent")
    notice = (await client.get(f"/tickets/{ticket_id}/composing")).text
    assert 'data-testid="collision-notice"' in notice and "正在回复此工单" in notice
    lead = await actor(db, "lead")
    # Stale after 30 s; cleared when the lead sends.
    later = time.time() + presence.FRESH_SECONDS + 1
    assert await presence.others(redis, ticket_id, None, now=later) == []
    await presence.clear(redis, ticket_id, lead.user_id or 0)
    assert await presence.others(redis, ticket_id, None) == []

    class Down:
        def pipeline(self, **_: Any) -> Any:
            raise ConnectionError("redis is down")

        async def hgetall(self, key: str) -> Any:
            raise ConnectionError("redis is down")

    await presence.mark(Down(), ticket_id, 1, "x")
    assert await presence.others(Down(), ticket_id, None) == []


async def test_a_macros_reply_goes_by_email_like_the_composers(
    client: Any, db: Any, redis: Any
) -> None:
    """A macro's customer reply takes the composer's route: on an email ticket with a working
    mailbox it is mailed to the customer, not only shown on the tracking page."""
    _, ticket_id = await _customer_ticket(db, redis)
    lead = await actor(db, "lead")
    with running_smtp() as smtp:
        await make_smtp_mailbox(db, smtp.port)
        async with unit_of_work(db, redis) as s:
            macro = await macros.create(
                s,
                lead,
                macros.MacroInput(name="发票", scope="team", reply="您好，发票已重新开具。"),
            )
        async with unit_of_work(db, redis) as s:
            await macros.apply_macro(s, lead, ticket_id, macro.id, expected_version=None)
        await run_worker_burst()
        [sent] = smtp.to(CUSTOMER)
    assert "您好，发票已重新开具。" in sent.get_body().get_content()
    [record] = await follow_ups(db, ticket_id)
    assert record.method is FollowUpMethod.EMAIL and record.visible_to_customer


async def test_without_mail_the_composer_says_why_a_reply_is_not_emailed(
    client: Any, db: Any, redis: Any
) -> None:
    _, ticket_id = await _customer_ticket(db, redis)
    await sign_in(client, "lead", "kefu-lead")
    drawer = (await client.get(f"/tickets/{ticket_id}")).text
    assert "邮件尚未配置，此回复无法发送到 h***@customer.example" in drawer
    assert "将通过邮件发送至" not in drawer
