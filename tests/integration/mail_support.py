"""Helpers for the email-channel tests: a mailbox on the test dovecot, polling, messages."""

from __future__ import annotations

from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from sqlalchemy import select

from models.db import unit_of_work
from models.enums import Role
from models.mail_message import MailDirection, MailMessage
from models.services.common.actor import Actor
from models.services.mail import inbound, mailboxes
from models.settings import get_settings
from models.ticket import Ticket
from tests.mailservers import Dovecot, SmtpCapture, free_port

ADMIN = Actor(user_id=None, label="test-admin", role=Role.ADMIN)
TEAM = "support@kefu-test.example"


async def make_mailbox(
    db: Any, dovecot: Dovecot, smtp: SmtpCapture | None = None, *, address: str = TEAM
) -> tuple[int, str]:
    """A mailbox on a fresh dovecot user (SMTP: the capture server); returns (id, user)."""
    user, password = dovecot.add_user()
    async with unit_of_work(db) as s:
        box = await mailboxes.create(
            s,
            ADMIN,
            mailboxes.MailboxInput(
                name="客服中心",
                address=address,
                imap_host=dovecot.host,
                imap_port=str(dovecot.port),
                imap_security="none",
                imap_user=user,
                imap_password=password,
                smtp_host=smtp.host if smtp else "",
                smtp_port=str(smtp.port) if smtp else "25",
                smtp_security="none",
            ),
        )
        return box.id, user


async def make_smtp_mailbox(db: Any, smtp_port: int) -> tuple[int, mailboxes.MailboxInput]:
    """A mailbox whose SMTP server is on this loopback port (its IMAP side is never polled):
    replies can be written; returns (id, the input it was made with)."""
    data = mailboxes.MailboxInput(
        name="客服中心",
        address=TEAM,
        imap_host="127.0.0.1",
        imap_port=str(free_port()),
        imap_security="none",
        imap_user="support",
        imap_password="secret",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_port),
        smtp_security="none",
    )
    async with unit_of_work(db) as s:
        box = await mailboxes.create(s, ADMIN, data)
        return box.id, data


async def poll(db: Any, redis: Any, mailbox_id: int) -> inbound.PollReport:
    return await inbound.poll_mailbox(db, redis, get_settings().event_channel, mailbox_id)


def mail(
    *,
    sender: str = "li.lei@customer.example",
    name: str = "李雷",
    subject: str = "订单 12345 还没有发货",
    body: str = "你好，我上周下的订单 12345 还没有发货，请帮忙查一下。",
    headers: dict[str, str] | None = None,
    to: str = TEAM,
) -> bytes:
    """A plain UTF-8 message from a customer, with a fresh Message-ID."""
    msg = EmailMessage()
    msg["From"] = formataddr((str(Header(name, "utf-8")), sender))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def message_id_of(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"]).strip().strip("<>")


async def tickets_of(db: Any) -> list[Ticket]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Ticket).order_by(Ticket.id))).all())


async def messages_of(db: Any, direction: MailDirection | None = None) -> list[MailMessage]:
    async with db.sessionmaker() as s:
        stmt = select(MailMessage).order_by(MailMessage.id)
        if direction is not None:
            stmt = stmt.where(MailMessage.direction == direction)
        return list((await s.scalars(stmt)).all())
