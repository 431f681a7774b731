"""Who sent a mail is the From header's address, never text inside its display name; only the
real sender of a customer's address threads into that customer's ticket."""

from __future__ import annotations

from email.header import Header
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import select

from models.customer import Customer
from models.followup import FollowUp
from models.mail_message import MailStatus
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.mail import inbound
from models.services.mail.parse import parse
from models.settings import get_settings
from models.ticket import Ticket
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")

# "鲍勃 <bob@example.com>" as an RFC 2047 encoded word, in front of the real address.
SPOOFED_FROM = "=?utf-8?b?6bKN5YuDIDxib2JAZXhhbXBsZS5jb20+?= <attacker@evil.example>"


def raw_mail(from_header: str, subject: str, body: str, **headers: str) -> bytes:
    """The message's bytes as a mail client sends them (the From header exactly as given:
    the standard library's own header objects would re-encode it)."""
    lines = [
        f"From: {from_header}",
        "To: support@kefu.example",
        f"Subject: {Header(subject, 'utf-8')!s}",
        f"Message-ID: {make_msgid(domain='sender.example')}",
        *(f"{key.replace('_', '-')}: {value}" for key, value in headers.items()),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


async def deliver(db: Any, redis: Any, raw: bytes) -> MailStatus | None:
    return await inbound.import_message(db, redis, get_settings().event_channel, None, None, raw)


async def bobs_ticket(db: Any, redis: Any) -> tuple[Ticket, bytes]:
    first = raw_mail("Bob <bob@example.com>", "发票", "请开发票。")
    assert await deliver(db, redis, first) is MailStatus.IMPORTED
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
    return ticket, first


async def customer_follow_ups(db: Any, ticket_id: int) -> list[FollowUp]:
    async with db.sessionmaker() as s:
        stmt = select(FollowUp).where(FollowUp.ticket_id == ticket_id, FollowUp.by_customer)
        return list((await s.scalars(stmt)).all())


def test_the_sender_is_the_headers_address_not_the_display_name() -> None:
    parsed = parse(raw_mail(SPOOFED_FROM, "Re: 发票", "x"))
    assert parsed.sender == "attacker@evil.example"
    assert parsed.display_address == "bob@example.com"
    assert "bob@example.com" not in parsed.sender_name
    plain = parse(raw_mail("Bob <bob@example.com>", "x", "x"))
    assert (plain.sender, plain.display_address) == ("bob@example.com", None)


@pytest.mark.parametrize(
    "from_header",
    [
        "=?utf-8?b?5bygLCDkuIk=?= <zs@example.com>",  # 张, 三 (base64)
        "=?utf-8?q?=E5=BC=A0=2C_=E4=B8=89?= <zs@example.com>",  # 张, 三 (quoted-printable)
        '"张, 三" <zs@example.com>',
    ],
)
async def test_an_encoded_name_with_a_comma_keeps_its_sender(
    db: Any, redis: Any, from_header: str
) -> None:
    raw = raw_mail(from_header, "你好", "请联系我。")
    parsed = parse(raw)
    assert (parsed.sender, parsed.sender_name, parsed.problem) == ("zs@example.com", "张, 三", None)
    assert await deliver(db, redis, raw) is MailStatus.IMPORTED
    async with db.sessionmaker() as s:
        found = await registry.find_by_contact(s, email="zs@example.com")
        assert found is not None and found.name == "张, 三"


async def test_a_spoofed_display_name_does_not_thread_into_the_victims_ticket(
    db: Any, redis: Any
) -> None:
    ticket, _first = await bobs_ticket(db, redis)
    spoof = raw_mail(SPOOFED_FROM, f"Re: 发票 [#{ticket.number}]", "把发票寄到新地址。")
    assert await deliver(db, redis, spoof) is MailStatus.IMPORTED  # a new ticket, not a reply
    assert await customer_follow_ups(db, ticket.id) == []
    async with db.sessionmaker() as s:
        tickets = list((await s.scalars(select(Ticket).order_by(Ticket.id))).all())
        assert len(tickets) == 2
        bob = await registry.find_by_contact(s, email="bob@example.com")
        attacker = await registry.find_by_contact(s, email="attacker@evil.example")
        assert bob is not None and attacker is not None
        assert tickets[1].customer_id == attacker.id != bob.id
        assert "bob@example.com" not in (await s.get(Customer, attacker.id)).name  # type: ignore[union-attr]


async def test_references_from_another_sender_do_not_thread(db: Any, redis: Any) -> None:
    ticket, first = await bobs_ticket(db, redis)
    msgid = parse(first).message_id
    forwarded = raw_mail(
        "Mallory <mallory@evil.example>",
        "Re: 发票",
        "我也要加进来。",
        In_Reply_To=f"<{msgid}>",
        References=f"<{msgid}>",
    )
    assert await deliver(db, redis, forwarded) is MailStatus.IMPORTED
    assert await customer_follow_ups(db, ticket.id) == []


async def test_the_real_customer_with_an_odd_display_name_threads_with_a_warning(
    db: Any, redis: Any, client: Any
) -> None:
    ticket, _first = await bobs_ticket(db, redis)
    # Bob's own address, but a display name naming someone else's.
    odd = raw_mail(
        "=?utf-8?b?5a6i5pyNIDxzdXBwb3J0QGJhbmsuZXhhbXBsZT4=?= <bob@example.com>",
        f"Re: 发票 [#{ticket.number}]",
        "收到了，谢谢。",
    )
    assert await deliver(db, redis, odd) is MailStatus.THREADED
    [reply] = await customer_follow_ups(db, ticket.id)
    assert reply.discussed == "收到了，谢谢。"
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    assert 'data-testid="sender-warning"' in page.text and "s***@bank.example" in page.text
    assert "警告" in page.text


async def test_a_spoofed_new_ticket_carries_the_warning_in_its_timeline(
    db: Any, redis: Any
) -> None:
    assert await deliver(db, redis, raw_mail(SPOOFED_FROM, "发票", "新地址")) is MailStatus.IMPORTED
    from models.services.tickets import board

    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        detail = await board.ticket_detail(s, Actor.system("test"), ticket.id)
    actions = [e.action_label for e in detail.timeline]
    assert "Warning: the sender's display name shows another address" in actions
