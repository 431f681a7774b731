"""An emailed reply tells the truth: its follow-up shows queued → sent or failed (with why)
on the drawer's timeline and the customer record, a failed one tells its author and can be
sent again, and without a mail server the drawer does not offer to send by email."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import FollowUpMethod
from models.mail_message import MailStatus
from models.notification import Notification
from models.services.common.actor import Actor
from models.services.common.delivery import ReplyDelivery
from models.services.customers import registry
from models.services.mail import mailboxes, outbound
from models.services.notify import notifications
from models.services.tickets import board
from tests.conftest import csrf_token, run_worker_burst
from tests.integration.mail_support import ADMIN, make_smtp_mailbox, messages_of
from tests.integration.sla.test_sla_helpers import actor
from tests.integration.triage_support import make_ticket
from tests.mailservers import free_port, running_smtp

pytestmark = pytest.mark.usefixtures("reference")

CUSTOMER = "han.meimei@customer.example"
REFUSAL = "554 5.7.1 Relay access denied"


async def _customer_ticket(db: Any, redis: Any) -> tuple[int, int]:
    """A customer with an email address and a ticket of theirs: (customer id, ticket id)."""
    async with unit_of_work(db) as s:
        customer = await registry.create(
            s, ADMIN, registry.CustomerInput(name="韩梅梅", email=CUSTOMER)
        )
        customer_id = customer.id
    return customer_id, await make_ticket(db, redis, customer_id, "发票抬头需要修改")


async def _reply(db: Any, who: Actor, ticket_id: int, text: str) -> int:
    async with unit_of_work(db) as s:
        return (await outbound.queue_reply(s, who, ticket_id, text)).id


async def _timeline_delivery(db: Any, who: Actor, ticket_id: int) -> tuple[ReplyDelivery, bool]:
    """The reply's delivery state on the drawer's timeline, and whether it offers a retry."""
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, who, ticket_id)
    [view] = [
        e.follow_up
        for e in detail.timeline
        if e.follow_up and e.follow_up.method is FollowUpMethod.EMAIL
    ]
    assert view.delivery is not None
    return view.delivery, view.can_retry


async def _record_delivery(db: Any, who: Actor, customer_id: int) -> ReplyDelivery | None:
    """The same reply's delivery state on the customer record."""
    async with db.sessionmaker() as s:
        profile = await registry.profile(s, who, customer_id)
    [entry] = [f for t in profile.tickets for f in t.follow_ups if f.method is FollowUpMethod.EMAIL]
    return entry.delivery


async def _failure_notes(db: Any) -> list[Notification]:
    async with db.sessionmaker() as s:
        stmt = select(Notification).where(Notification.kind == notifications.KIND_REPLY_FAILED)
        return list((await s.scalars(stmt)).all())


async def test_a_reply_is_shown_queued_then_sent(db: Any, redis: Any) -> None:
    lead = await actor(db, "lead")
    customer_id, ticket_id = await _customer_ticket(db, redis)
    with running_smtp() as smtp:
        await make_smtp_mailbox(db, smtp.port)
        mail_id = await _reply(db, lead, ticket_id, "您好，发票抬头已修改。")

        queued, _ = await _timeline_delivery(db, lead, ticket_id)
        assert (queued.mail_id, queued.queued, queued.sent, queued.failed) == (
            mail_id,
            True,
            False,
            False,
        )
        assert (await _record_delivery(db, lead, customer_id)) == queued

        async with unit_of_work(db) as s:
            assert (await outbound.deliver(s, mail_id)).status is MailStatus.SENT
        [sent_mail] = smtp.to(CUSTOMER)
        assert "发票抬头已修改" in sent_mail.get_content()

    sent, can_retry = await _timeline_delivery(db, lead, ticket_id)
    assert sent.sent and not sent.failed and sent.reason is None and not can_retry
    assert (await _record_delivery(db, lead, customer_id)) == sent
    assert await _failure_notes(db) == []


async def test_a_refused_reply_fails_tells_its_author_and_is_sent_again(
    db: Any, redis: Any, client: Any, login: Any
) -> None:
    lead = await actor(db, "lead")
    customer_id, ticket_id = await _customer_ticket(db, redis)
    port = free_port()
    with running_smtp(refuse=REFUSAL, port=port) as refusing:
        await make_smtp_mailbox(db, port)
        mail_id = await _reply(db, lead, ticket_id, "请查收新的发票。")
        async with unit_of_work(db) as s:
            assert (await outbound.deliver(s, mail_id)).status is MailStatus.FAILED
        assert refusing.envelopes == []

    failed, can_retry = await _timeline_delivery(db, lead, ticket_id)
    assert failed.failed and can_retry
    assert failed.reason is not None and "554" in failed.reason and "Relay access" in failed.reason
    assert (await _record_delivery(db, lead, customer_id)) == failed
    [note] = await _failure_notes(db)
    assert note.user_id == lead.user_id and note.ticket_id == ticket_id
    assert "554" in note.params["reason"]

    await login(client, "lead", "kefu-lead")
    drawer = (await client.get(f"/tickets/{ticket_id}", headers={"Accept-Language": "zh-CN"})).text
    assert "发送失败" in drawer and "Relay access denied" in drawer
    retry_url = f"/mail/tickets/{ticket_id}/outgoing/{mail_id}/retry"
    assert f'action="{retry_url}"' in drawer
    record = (await client.get(f"/customers/{customer_id}")).text
    assert "发送失败" in record and "Relay access denied" in record

    # The server accepts mail again: the retry sends the very same message, through the worker.
    with running_smtp(port=port) as smtp:
        token = client.cookies.get("kefu_csrf")
        response = await client.post(
            retry_url, data={"_csrf_token": token}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200, response.text[:300]
        assert "排队中" in response.text
        await run_worker_burst()
        [delivered] = smtp.to(CUSTOMER)
    [row] = [m for m in await messages_of(db) if m.id == mail_id]
    assert (
        row.status is MailStatus.SENT and str(delivered["Message-ID"]).strip("<>") == row.message_id
    )
    sent, can_retry = await _timeline_delivery(db, lead, ticket_id)
    assert sent.sent and not can_retry
    async with db.sessionmaker() as s:
        retries = (
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.ticket_id == ticket_id, AuditEvent.action == "mail_retry"
                )
            )
        ).all()
    assert [(e.actor_id, e.entity_id) for e in retries] == [(lead.user_id, mail_id)]

    # A reply that did not fail is not sent again.
    conflict = await client.post(retry_url, data={"_csrf_token": token})
    assert conflict.status_code == 409


async def test_an_unreachable_server_fails_the_reply_after_its_attempts(
    db: Any, redis: Any
) -> None:
    lead = await actor(db, "lead")
    _, ticket_id = await _customer_ticket(db, redis)
    box, data = await make_smtp_mailbox(db, free_port())  # nothing listens there
    mail_id = await _reply(db, lead, ticket_id, "我们会尽快处理。")
    for _ in range(20):
        async with unit_of_work(db) as s:
            outcome = await outbound.deliver(s, mail_id)
        if outcome.status is MailStatus.FAILED:
            break
        assert outcome.retry_in is not None
        assert await _failure_notes(db) == []  # not before it is given up on
    failed, _ = await _timeline_delivery(db, lead, ticket_id)
    assert failed.failed and failed.reason
    [note] = await _failure_notes(db)
    assert note.user_id == lead.user_id

    with running_smtp() as smtp:
        async with unit_of_work(db) as s:
            await mailboxes.update(s, ADMIN, box, replace(data, smtp_port=str(smtp.port)))
        async with unit_of_work(db) as s:
            await outbound.retry(s, lead, ticket_id, mail_id)
        async with unit_of_work(db) as s:
            assert (await outbound.deliver(s, mail_id)).status is MailStatus.SENT
        assert len(smtp.to(CUSTOMER)) == 1


async def test_without_a_mail_server_the_drawer_does_not_offer_email(
    db: Any, redis: Any, client: Any, login: Any
) -> None:
    _, ticket_id = await _customer_ticket(db, redis)
    await login(client, "admin", "kefu-admin")
    panel = (await client.get(f"/mail/tickets/{ticket_id}")).text
    assert 'data-testid="mail-not-configured"' in panel and 'href="/admin/mail"' in panel
    assert 'data-testid="form-mail-reply' not in panel  # replies are written in the composer
    drawer = (await client.get(f"/tickets/{ticket_id}")).text
    assert 'data-testid="composer-route"' in drawer and "将通过邮件发送" not in drawer
    admin_page = (await client.get("/admin/mail")).text
    assert 'data-testid="mail-not-configured"' in admin_page

    token = await csrf_token(client, "/admin/mail")
    refused = await client.post(
        f"/mail/tickets/{ticket_id}/reply",
        data={"text": "您好", "_csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
    )
    assert refused.status_code == 422 and "邮件未配置" in refused.text
    assert await messages_of(db) == []

    # An agent is told too, without the admin's link.
    await login(client, "lead", "kefu-lead")
    panel = (await client.get(f"/mail/tickets/{ticket_id}")).text
    assert 'data-testid="mail-not-configured"' in panel and 'href="/admin/mail"' not in panel
