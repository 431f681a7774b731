"""Inbound mail on real servers: dovecot on loopback (IMAP), aiosmtpd for what we send back,
the real worker for triage and sending, both database backends."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.mail_message import MailDirection, MailStatus
from models.services.customers import registry
from models.services.mail import inbound as mail_inbound
from models.services.mail import mailboxes
from models.services.tickets import commands
from models.ticket import Ticket
from tests.conftest import run_worker_burst
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
from tests.integration.triage_support import LEAD, burst, triage_runtime
from tests.mailservers import Dovecot, SmtpCapture, free_port

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    async with triage_runtime() as rt:
        yield rt


async def _move(db: Any, ticket_id: int, *targets: TicketStatus) -> None:
    for target in targets:
        async with unit_of_work(db) as s:
            await commands.move(
                s,
                LEAD,
                ticket_id,
                target,
                expected_version=None,
                resolution="已处理" if target is TicketStatus.COMPLETED else None,
            )


async def _follow_ups(db: Any, ticket_id: int) -> list[FollowUp]:
    async with db.sessionmaker() as s:
        return await commands.follow_ups(s, ticket_id)


async def test_new_mail_becomes_a_triaged_ticket_and_is_acknowledged_once(
    db: Any, redis: Any, dovecot: Dovecot, smtp_capture: SmtpCapture, runtime: Any
) -> None:
    box, user = await make_mailbox(db, dovecot, smtp_capture)
    raw = mail(subject="牙刷坏了", body="上周买的电动牙刷用了两天就坏了，充不进电，想申请换货。")
    dovecot.deliver(user, raw)

    report = await poll(db, redis, box)
    await burst(runtime)  # triage + the acknowledgement, on the real worker

    assert report.outcomes == {"imported": 1}
    [ticket] = await tickets_of(db)
    assert ticket.channel is Channel.EMAIL
    assert ticket.description.startswith("牙刷坏了\n\n上周买的电动牙刷")
    assert ticket.triaged_at is not None and ticket.request_type is not None
    async with db.sessionmaker() as s:
        customer = await s.get(Customer, ticket.customer_id)
        assert customer is not None and customer.name == "李雷"
        assert registry.decrypt(customer.email_enc) == "li.lei@customer.example"
    [ack] = smtp_capture.to("li.lei@customer.example")
    assert f"[#{ticket.number}]" in str(ack["Subject"])
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"].strip("<>") == message_id_of(raw)
    assert ticket.number in ack.get_content()

    # Polling again (and the same message seen again) changes nothing and sends nothing.
    dovecot.deliver(user, raw)
    again = await poll(db, redis, box)
    await run_worker_burst()
    assert again.duplicates == 1
    assert len(await tickets_of(db)) == 1
    assert len(smtp_capture.envelopes) == 1
    [inbound] = await messages_of(db, MailDirection.IN)
    assert inbound.status is MailStatus.IMPORTED and inbound.ticket_id == ticket.id


async def test_reply_threads_into_the_ticket_and_reopens_it(
    db: Any, redis: Any, dovecot: Dovecot, smtp_capture: SmtpCapture
) -> None:
    box, user = await make_mailbox(db, dovecot, smtp_capture)
    first = mail()
    dovecot.deliver(user, first)
    await poll(db, redis, box)
    [ticket] = await tickets_of(db)
    await _move(db, ticket.id, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)

    reply = mail(
        subject="Re: 订单 12345 还没有发货",
        body="还是没有收到。\n\n在 2026年11月22日 10:00，客服中心 写道：\n> 已为您催促发货",
        headers={
            "In-Reply-To": f"<{message_id_of(first)}>",
            "References": f"<{message_id_of(first)}>",
        },
    )
    dovecot.deliver(user, reply)
    report = await poll(db, redis, box)

    assert report.outcomes == {"threaded": 1}
    assert len(await tickets_of(db)) == 1
    async with db.sessionmaker() as s:
        fresh = await s.get(Ticket, ticket.id)
        assert fresh is not None and fresh.status is TicketStatus.IN_PROGRESS
    [follow_up] = [f for f in await _follow_ups(db, ticket.id) if f.by_customer]
    assert follow_up.method is FollowUpMethod.EMAIL
    assert follow_up.discussed == "还是没有收到。"  # the quoted history is trimmed


async def test_reply_by_ticket_number_in_the_subject(db: Any, redis: Any, dovecot: Dovecot) -> None:
    box, user = await make_mailbox(db, dovecot)
    dovecot.deliver(user, mail())
    await poll(db, redis, box)
    [ticket] = await tickets_of(db)
    await _move(
        db,
        ticket.id,
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
    )

    # No In-Reply-To (a new message from a phone), only the number in the subject.
    dovecot.deliver(
        user,
        mail(
            subject=f"关于 [#{ticket.number}] 的补充",
            body="补充一下：收货地址是北京市海淀区。\n-- \n李雷\n138 0000 0000",
        ),
    )
    # The same number from a stranger must not touch the customer's ticket.
    dovecot.deliver(
        user,
        mail(
            sender="stranger@elsewhere.example",
            name="Stranger",
            subject=f"Re: [#{ticket.number}]",
            body="Let me in.",
        ),
    )
    report = await poll(db, redis, box)

    assert report.outcomes == {"threaded": 1, "imported": 1}
    all_tickets = await tickets_of(db)
    assert len(all_tickets) == 2
    async with db.sessionmaker() as s:
        fresh = await s.get(Ticket, ticket.id)
        assert fresh is not None and fresh.status is TicketStatus.IN_PROGRESS  # reopened
    texts = [f.discussed for f in await _follow_ups(db, ticket.id) if f.by_customer]
    assert texts == ["补充一下：收货地址是北京市海淀区。"]  # signature trimmed


async def test_reply_to_a_closed_ticket_opens_a_repeat(
    db: Any, redis: Any, dovecot: Dovecot
) -> None:
    box, user = await make_mailbox(db, dovecot)
    first = mail()
    dovecot.deliver(user, first)
    await poll(db, redis, box)
    [ticket] = await tickets_of(db)
    await _move(
        db,
        ticket.id,
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
        TicketStatus.CLOSED,
    )

    dovecot.deliver(
        user,
        mail(
            subject="Re: 订单 12345",
            body="又出问题了。",
            headers={"In-Reply-To": f"<{message_id_of(first)}>"},
        ),
    )
    await poll(db, redis, box)

    old, new = await tickets_of(db)
    assert old.status is TicketStatus.CLOSED
    assert new.is_repeat and new.repeat_of_id == old.id and new.customer_id == old.customer_id


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto-Submitted": "auto-replied"}, "li.lei@customer.example"),
        ({"X-Autoreply": "yes"}, "li.lei@customer.example"),
        ({"Precedence": "bulk"}, "news@shop.example"),
        ({"List-Id": "<deals.shop.example>"}, "deals@shop.example"),
        ({"Return-Path": "<>"}, "li.lei@customer.example"),
        ({}, "MAILER-DAEMON@mx.customer.example"),
        ({}, TEAM),
    ],
    ids=["auto-submitted", "x-autoreply", "bulk", "list", "bounce", "mailer-daemon", "own"],
)
async def test_robots_are_ignored_and_never_answered(
    db: Any,
    redis: Any,
    dovecot: Dovecot,
    smtp_capture: SmtpCapture,
    headers: dict[str, str],
    sender: str,
) -> None:
    box, user = await make_mailbox(db, dovecot, smtp_capture)
    dovecot.deliver(user, mail(sender=sender, subject="自动回复：我正在休假", headers=headers))

    report = await poll(db, redis, box)
    await run_worker_burst()

    assert report.outcomes == {"ignored": 1}
    assert await tickets_of(db) == []
    assert smtp_capture.envelopes == []
    [row] = await messages_of(db)
    assert row.status is MailStatus.IGNORED and row.reason


async def test_two_pollers_at_once_make_one_ticket(db: Any, redis: Any, dovecot: Dovecot) -> None:
    box, user = await make_mailbox(db, dovecot)
    dovecot.deliver(user, mail())
    dovecot.deliver(
        user,
        mail(
            sender="han.meimei@customer.example",
            name="韩梅梅",
            subject="发票",
            body="请帮我开一张发票。",
        ),
    )

    first, second = await asyncio.gather(poll(db, redis, box), poll(db, redis, box))

    assert len(await tickets_of(db)) == 2
    assert first.duplicates + second.duplicates == 2
    assert len(await messages_of(db, MailDirection.IN)) == 2


def _encoded(subject_header: str, body: bytes, charset: str, ctype: str = "text/plain") -> bytes:
    return (
        "From: =?utf-8?b?546L5LqU?= <wang.wu@customer.example>\r\n"
        f"To: {TEAM}\r\nSubject: {subject_header}\r\n"
        "Message-ID: <enc-{}@customer.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {ctype}; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii").replace(b"{}", str(abs(hash(subject_header + ctype))).encode()) + body


async def test_chinese_subjects_and_bodies_in_every_encoding(
    db: Any, redis: Any, dovecot: Dovecot
) -> None:
    box, user = await make_mailbox(db, dovecot)
    subject_b = "=?GBK?B?" + base64.b64encode("退款申请".encode("gbk")).decode() + "?="
    subject_q = "=?utf-8?Q?" + "".join(f"={b:02X}" for b in "物流查询".encode()) + "?="
    dovecot.deliver(user, _encoded(subject_b, "我要退款，订单号 A100。\r\n".encode("gbk"), "gbk"))
    dovecot.deliver(user, _encoded(subject_q, "快递到哪里了？\r\n".encode(), "utf-8"))
    html = (
        "<html><head><style>p{color:red}</style><title>x</title></head><body>"
        "<p>您好，</p><p>发票抬头写错了<br>请重开。</p><div>谢谢&amp;祝好</div></body></html>"
    )
    dovecot.deliver(user, _encoded("HTML only", html.encode("gb18030"), "gb2312", "text/html"))

    await poll(db, redis, box)

    descriptions = {t.title: t.description for t in await tickets_of(db)}
    assert descriptions["退款申请"] == "退款申请\n\n我要退款，订单号 A100。"
    assert descriptions["物流查询"] == "物流查询\n\n快递到哪里了？"
    expected_html = "HTML only\n\n您好，\n\n发票抬头写错了\n请重开。\n\n谢谢&祝好"
    assert descriptions["HTML only"] == expected_html


async def test_malicious_html_is_stored_as_text_and_rendered_inert(
    db: Any, redis: Any, dovecot: Dovecot, client: Any, login: Any
) -> None:
    box, user = await make_mailbox(db, dovecot)
    html = (
        "<p>Hi<script>alert('x')</script></p><img src=x onerror=\"alert('y')\">"
        "<p>&lt;img src=x onerror=alert(1)&gt; is what I typed</p>"
    )
    raw = (
        f"From: eve@customer.example\r\nTo: {TEAM}\r\nSubject: <b>bold</b>\r\n"
        "Message-ID: <evil@customer.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    dovecot.deliver(user, raw)
    await poll(db, redis, box)

    [ticket] = await tickets_of(db)
    assert "script" not in ticket.description and "alert('x')" not in ticket.description
    assert "<img src=x onerror=alert(1)> is what I typed" in ticket.description
    await login(client, "lead", "kefu-lead")
    page = (await client.get(f"/tickets/{ticket.id}")).text
    assert "&lt;img src=x onerror=alert(1)&gt; is what I typed" in page
    assert "<img src=x onerror" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


async def test_oversized_mail_is_quarantined_listed_and_released(
    db: Any,
    redis: Any,
    dovecot: Dovecot,
    client: Any,
    login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models.settings import reset_settings

    box, user = await make_mailbox(db, dovecot)
    monkeypatch.setenv("KEFU_MAIL_MAX_BYTES", "2000")
    reset_settings()
    try:
        dovecot.deliver(user, mail(subject="大附件", body="数据如下：\n" + "很长的日志行\n" * 400))
        report = await poll(db, redis, box)
    finally:
        monkeypatch.delenv("KEFU_MAIL_MAX_BYTES")
        reset_settings()

    assert report.outcomes == {"quarantined": 1}
    assert await tickets_of(db) == []
    [row] = await messages_of(db)
    assert row.status is MailStatus.QUARANTINED and "too large" in (row.reason or "")
    kept = mail_inbound._raw_path(row).read_bytes()  # encrypted at rest, like contacts
    assert b"li.lei@customer.example" not in kept and "很长的日志行".encode() not in kept
    assert b"li.lei@customer.example" in (mail_inbound.raw_of(row) or b"")
    await login(client, "admin", "kefu-admin")
    page = (await client.get("/admin/mail")).text
    assert "大附件" in page and f"/admin/mail/quarantine/{row.id}/release" in page

    token = client.cookies.get("kefu_csrf")
    released = await client.post(
        f"/admin/mail/quarantine/{row.id}/release", data={"_csrf_token": token}
    )
    assert released.status_code in (200, 302, 303)
    [ticket] = await tickets_of(db)
    assert ticket.title == "大附件"
    [row] = await messages_of(db, MailDirection.IN)
    assert row.status is MailStatus.IMPORTED and row.ticket_id == ticket.id


async def test_malformed_mail_is_quarantined_and_can_be_deleted(
    db: Any, redis: Any, dovecot: Dovecot
) -> None:
    box, user = await make_mailbox(db, dovecot)
    dovecot.deliver(user, b"Subject: no sender at all\r\nMessage-ID: <m@x>\r\n\r\nhello\r\n")
    await poll(db, redis, box)
    [row] = await messages_of(db)
    assert row.status is MailStatus.QUARANTINED and row.reason == "no sender address"

    from models.services.common.errors import ValidationFailed
    from models.services.mail import inbound as mail_inbound

    async with unit_of_work(db) as s:
        with pytest.raises(ValidationFailed):
            await mail_inbound.release(s, ADMIN, row.id)
    async with unit_of_work(db) as s:
        await mail_inbound.delete(s, ADMIN, row.id)
    [row] = await messages_of(db)
    assert row.status is MailStatus.IGNORED and await tickets_of(db) == []


async def test_imap_failures_back_off_and_recover(db: Any, redis: Any, dovecot: Dovecot) -> None:
    box, user = await make_mailbox(db, dovecot)
    dovecot.deliver(user, mail())
    async with unit_of_work(db) as s:
        form = mailboxes.form_for(await mailboxes.get(s, box))
        await mailboxes.update(s, ADMIN, box, _replace(form, imap_password="wrong"))

    first = await poll(db, redis, box)
    second = await poll(db, redis, box)
    async with db.sessionmaker() as s:
        failed = await mailboxes.get(s, box)
    assert first.error and second.error and await tickets_of(db) == []
    assert failed.failures == 2 and failed.last_error
    assert failed.next_poll_at is not None and failed.last_polled_at is not None
    waited = (failed.next_poll_at - failed.last_polled_at).total_seconds()
    assert waited == mailboxes.backoff_seconds(2) > mailboxes.backoff_seconds(1)
    async with db.sessionmaker() as s:
        assert box not in await mailboxes.due_ids(s)

    # The server is down: nothing listens on the port.
    async with unit_of_work(db) as s:
        await mailboxes.update(s, ADMIN, box, _replace(form, imap_port=str(free_port())))
    down = await poll(db, redis, box)
    assert down.error and "Connection refused" in down.error

    async with unit_of_work(db) as s:  # fixed: the right port and password
        await mailboxes.update(s, ADMIN, box, _replace(form, imap_password=dovecot.users[user]))
    fixed = await poll(db, redis, box)
    async with db.sessionmaker() as s:
        healthy = await mailboxes.get(s, box)
    assert fixed.error is None and fixed.outcomes == {"imported": 1}
    assert healthy.failures == 0 and healthy.last_error is None and healthy.last_uid >= 1


def _replace(form: mailboxes.MailboxInput, **changes: Any) -> mailboxes.MailboxInput:
    from dataclasses import replace

    return replace(form, **changes)


async def test_the_cron_job_polls_due_mailboxes(db: Any, redis: Any, dovecot: Dovecot) -> None:
    box, user = await make_mailbox(db, dovecot)
    dovecot.deliver(user, mail())
    await redis.enqueue_job("poll_mailboxes")
    await run_worker_burst()
    [ticket] = await tickets_of(db)
    assert ticket.channel is Channel.EMAIL
    async with db.sessionmaker() as s:
        polled = await mailboxes.get(s, box)
        assert polled.last_polled_at is not None and polled.next_poll_at is not None
        assert box not in await mailboxes.due_ids(s)


async def test_attachments_are_stored_and_refused_ones_noted_without_losing_the_mail(
    db: Any, redis: Any, dovecot: Dovecot
) -> None:
    from email.message import EmailMessage

    from models.attachment import Attachment

    box, user = await make_mailbox(db, dovecot)
    msg = EmailMessage()
    msg["From"] = "li.lei@customer.example"
    msg["To"] = TEAM
    msg["Subject"] = "附件是日志"
    msg["Message-ID"] = "<with-files@customer.example>"
    msg.set_content("日志和安装包见附件。")
    msg.add_attachment(
        "第一行日志\n第二行日志\n".encode(), maintype="text", subtype="plain", filename="日志.txt"
    )
    msg.add_attachment(
        b"MZ\x90\x00\x03" + b"\x00" * 200,
        maintype="application",
        subtype="octet-stream",
        filename="setup.exe",
    )
    dovecot.deliver(user, msg.as_bytes())

    await poll(db, redis, box)

    [ticket] = await tickets_of(db)
    assert ticket.description == "附件是日志\n\n日志和安装包见附件。"
    async with db.sessionmaker() as s:
        stored = list((await s.scalars(select(Attachment))).all())
    assert [(a.filename, a.source, a.uploaded_by_customer) for a in stored] == [
        ("日志.txt", "email", True)
    ]
    notes = [f.discussed for f in await _follow_ups(db, ticket.id)]
    assert any("setup.exe" in n for n in notes)
    [row] = await messages_of(db, MailDirection.IN)
    assert row.status is MailStatus.QUARANTINED and row.ticket_id == ticket.id
    assert "setup.exe" in (row.reason or "")

    from models.services.mail import inbound as mail_inbound

    assert mail_inbound.raw_of(row) is not None  # the whole mail is kept for the admin
    async with unit_of_work(db) as s:
        await mail_inbound.release(s, ADMIN, row.id)
    [row] = await messages_of(db, MailDirection.IN)
    assert row.status is MailStatus.IMPORTED and len(await tickets_of(db)) == 1
