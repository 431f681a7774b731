"""Outgoing mail on real servers: the agent's reply from the drawer, retries when the SMTP
server fails, survey invitations, and the admin's mailbox pages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from models.db import unit_of_work
from models.enums import FollowUpMethod, TicketStatus
from models.mail_message import MailDirection, MailStatus
from models.services.mail import mailboxes, outbound
from models.services.tickets import commands
from tests.conftest import csrf_token, run_worker_burst
from tests.integration.mail_support import (
    ADMIN,
    TEAM,
    mail,
    make_mailbox,
    message_id_of,
    messages_of,
    poll,
    tickets_of,
)
from tests.integration.triage_support import LEAD
from tests.mailservers import Dovecot, SmtpCapture, free_port, running_smtp

pytestmark = pytest.mark.usefixtures("reference")


async def _email_ticket(
    db: Any, redis: Any, dovecot: Dovecot, smtp: SmtpCapture
) -> tuple[int, str, int, bytes]:
    """A ticket made from a customer's mail (its acknowledgement already sent):
    (mailbox id, dovecot user, ticket id, the raw mail)."""
    box, user = await make_mailbox(db, dovecot, smtp)
    raw = mail()
    dovecot.deliver(user, raw)
    await poll(db, redis, box)
    await run_worker_burst()
    [ticket] = await tickets_of(db)
    return box, user, ticket.id, raw


async def test_agent_reply_from_the_drawer_is_sent_in_the_thread(
    db: Any, redis: Any, dovecot: Dovecot, smtp_capture: SmtpCapture, client: Any, login: Any
) -> None:
    box, user, ticket_id, raw = await _email_ticket(db, redis, dovecot, smtp_capture)
    [ack] = smtp_capture.messages
    await login(client, "lead", "kefu-lead")
    drawer = (await client.get(f"/tickets/{ticket_id}")).text
    assert f'hx-get="/mail/tickets/{ticket_id}"' in drawer
    assert f'action="/tickets/{ticket_id}/compose"' in drawer  # the drawer's composer
    assert "将通过邮件发送至 l***@customer.example" in drawer

    token = client.cookies.get("kefu_csrf")
    response = await client.post(
        f"/tickets/{ticket_id}/compose",
        data={
            "kind": "reply",
            "method": "email",
            "discussed": "您好，订单已经发出，快递单号 SF123。",
            "_csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text[:300]
    await run_worker_burst()

    [reply] = smtp_capture.to("li.lei@customer.example")[1:]
    [ticket] = await tickets_of(db)
    assert f"[#{ticket.number}]" in str(reply["Subject"])
    assert str(reply["Subject"]).startswith("Re: 订单 12345 还没有发货")
    assert str(reply["Message-ID"]).endswith("@kefu-test.example>")
    assert reply["In-Reply-To"].strip("<>") == message_id_of(raw)
    references = str(reply["References"]).split()
    assert f"<{message_id_of(raw)}>" in references and str(ack["Message-ID"]) in references
    assert reply["From"].addresses[0].addr_spec == TEAM
    assert "订单已经发出，快递单号 SF123。" in reply.get_content()
    assert reply["Auto-Submitted"] is None  # a person wrote it
    async with db.sessionmaker() as s:
        follow_ups = await commands.follow_ups(s, ticket_id)
    [answer] = [f for f in follow_ups if f.method is FollowUpMethod.EMAIL and not f.by_customer]
    assert answer.discussed == "您好，订单已经发出，快递单号 SF123。" and answer.visible_to_customer
    sent = [m for m in await messages_of(db, MailDirection.OUT) if m.kind == "reply"]
    assert [(m.status, m.follow_up_id) for m in sent] == [(MailStatus.SENT, answer.id)]
    assert str(reply["Message-ID"]).strip("<>") == sent[0].message_id
    assert sent[0].raw is not None and b"li.lei@customer.example" not in sent[0].raw  # sealed

    # The customer answers the reply: threaded by its Message-ID (an outbound one).
    dovecot.deliver(
        user,
        mail(
            subject="Re: 收到",
            body="收到，谢谢！",
            headers={"In-Reply-To": str(reply["Message-ID"])},
        ),
    )
    report = await poll(db, redis, box)
    assert report.outcomes == {"threaded": 1}
    assert len(await tickets_of(db)) == 1


async def test_empty_reply_and_customer_without_email_are_refused(
    db: Any, redis: Any, client: Any, login: Any
) -> None:
    from tests.integration.triage_support import make_customer, make_ticket

    customer = await make_customer(db, "张三")  # registered by phone call, no email
    ticket_id = await make_ticket(db, redis, customer, "电话咨询退货流程")
    await login(client, "lead", "kefu-lead")
    token = client.cookies.get("kefu_csrf")
    empty = await client.post(
        f"/mail/tickets/{ticket_id}/reply",
        data={"text": "  ", "_csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
    )
    no_email = await client.post(
        f"/mail/tickets/{ticket_id}/reply", data={"text": "您好", "_csrf_token": token}
    )
    assert empty.status_code == 422 and no_email.status_code == 422
    assert "此客户没有电子邮箱地址" in no_email.text
    assert await messages_of(db) == []


async def test_smtp_failures_are_retried_with_backoff_and_shown(
    db: Any, redis: Any, dovecot: Dovecot, client: Any, login: Any
) -> None:
    with running_smtp() as smtp:
        box, _, ticket_id, _ = await _email_ticket(db, redis, dovecot, smtp)
    dead_port = str(free_port())
    async with unit_of_work(db) as s:
        form = mailboxes.form_for(await mailboxes.get(s, box))
        await mailboxes.update(s, ADMIN, box, replace(form, smtp_port=dead_port))
        queued = await outbound.queue_reply(s, LEAD, ticket_id, "稍等，我们正在核实。")
        mail_id = queued.id

    async with unit_of_work(db) as s:
        first = await outbound.deliver(s, mail_id)
    assert first.status is MailStatus.QUEUED and first.retry_in is not None
    [row] = [m for m in await messages_of(db) if m.id == mail_id]
    assert row.attempts == 1 and row.reason and row.next_attempt_at is not None
    await login(client, "admin", "kefu-admin")
    page = (await client.get("/admin/mail")).text
    assert f'data-testid="mail-row-{mail_id}"' in page and row.reason.split(":")[0] in page

    with running_smtp() as smtp:  # the server is back
        async with unit_of_work(db) as s:
            await mailboxes.update(s, ADMIN, box, replace(form, smtp_port=str(smtp.port)))
        async with unit_of_work(db) as s:
            second = await outbound.deliver(s, mail_id)
        async with unit_of_work(db) as s:
            third = await outbound.deliver(s, mail_id)  # a duplicate job: nothing sent
        assert second.status is MailStatus.SENT and third.status is MailStatus.SENT
        [sent] = smtp.to("li.lei@customer.example")
        assert "稍等，我们正在核实。" in sent.get_content()


async def test_survey_invitation_is_mailed_once_to_customers_with_email(
    db: Any, redis: Any, dovecot: Dovecot, smtp_capture: SmtpCapture
) -> None:
    await _email_ticket(db, redis, dovecot, smtp_capture)
    [ticket] = await tickets_of(db)
    ticket_id = ticket.id
    async with unit_of_work(db) as s:
        for target in (
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
        ):
            await commands.move(
                s,
                LEAD,
                ticket_id,
                target,
                expected_version=None,
                resolution="已补发" if target is TicketStatus.COMPLETED else None,
            )

    await redis.enqueue_job("poll_mailboxes")
    await run_worker_burst()
    await redis.enqueue_job("poll_mailboxes", _job_id="again")
    await run_worker_burst()

    invitations = [
        m for m in smtp_capture.to("li.lei@customer.example") if "/survey/" in m.get_content()
    ]
    assert len(invitations) == 1
    [ticket] = await tickets_of(db)
    assert ticket.number in str(invitations[0]["Subject"])
    assert invitations[0]["Auto-Submitted"] == "auto-replied"


async def test_acknowledgements_are_rate_limited_per_sender(
    db: Any, redis: Any, dovecot: Dovecot, smtp_capture: SmtpCapture
) -> None:
    box, user = await make_mailbox(db, dovecot, smtp_capture)
    for n in range(outbound.ACK_LIMIT_PER_HOUR + 2):
        dovecot.deliver(user, mail(subject=f"问题 {n}", body=f"第 {n} 个问题"))
    await poll(db, redis, box)
    await run_worker_burst()
    assert len(await tickets_of(db)) == outbound.ACK_LIMIT_PER_HOUR + 2
    assert len(smtp_capture.envelopes) == outbound.ACK_LIMIT_PER_HOUR


async def test_admin_manages_mailboxes_and_tests_the_connection(
    db: Any, dovecot: Dovecot, smtp_capture: SmtpCapture, client: Any, login: Any
) -> None:
    user, password = dovecot.add_user()
    await login(client, "agent", "kefu-agent")
    assert (await client.get("/admin/mail")).status_code == 403
    client.cookies.clear()
    await login(client, "admin", "kefu-admin")
    index = (await client.get("/admin")).text
    assert 'href="/admin/mail"' in index

    token = await csrf_token(client, "/admin/mail")
    form = {
        "name": "售后邮箱",
        "address": "after@kefu-test.example",
        "imap_host": dovecot.host,
        "imap_port": str(dovecot.port),
        "imap_security": "none",
        "imap_user": user,
        "imap_password": password,
        "folder": "INBOX",
        "smtp_host": smtp_capture.host,
        "smtp_port": str(smtp_capture.port),
        "smtp_security": "none",
        "enabled": "1",
        "_csrf_token": token,
    }
    bad = await client.post(
        "/admin/mail/mailboxes", data={**form, "imap_port": "99999", "address": "nope"}
    )
    assert bad.status_code == 422 and "请输入有效的邮箱地址" in bad.text and "65535" in bad.text
    created = await client.post("/admin/mail/mailboxes", data=form)
    assert created.status_code in (200, 302, 303)
    async with db.sessionmaker() as s:
        [row] = (await mailboxes.admin_view(s, ADMIN)).mailboxes
        stored = await mailboxes.get(s, row.id)
    assert stored.imap_password_enc and password not in stored.imap_password_enc
    assert mailboxes.decrypt_secret(stored.imap_password_enc) == password

    ok = await client.post(f"/admin/mail/mailboxes/{row.id}/test", data={"_csrf_token": token})
    assert ok.status_code == 200 and 'data-testid="mail-test-result"' in ok.text
    assert "两台服务器都接受了连接" in ok.text

    # Editing with a blank password keeps the stored one; a wrong one shows the IMAP error.
    edit = (await client.get(f"/admin/mail/mailboxes/{row.id}")).text
    assert "售后邮箱" in edit and password not in edit
    await client.post(
        f"/admin/mail/mailboxes/{row.id}", data={**form, "imap_password": "", "name": "售后"}
    )
    async with db.sessionmaker() as s:
        kept = await mailboxes.get(s, row.id)
    assert kept.name == "售后" and mailboxes.decrypt_secret(kept.imap_password_enc) == password
    await client.post(f"/admin/mail/mailboxes/{row.id}", data={**form, "imap_password": "bad"})
    failed = await client.post(f"/admin/mail/mailboxes/{row.id}/test", data={"_csrf_token": token})
    assert "连接测试失败" in failed.text and "AUTHENTICATIONFAILED" in failed.text
