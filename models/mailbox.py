"""A mailbox the team receives inquiries in (IMAP) and answers from (SMTP)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class MailSecurity(StrEnum):
    """How a mail connection is protected: TLS from the start, upgraded, or plain (loopback)."""

    SSL = "ssl"
    STARTTLS = "starttls"
    NONE = "none"


class Mailbox(IdMixin, Base):
    """Connection settings (passwords encrypted like contacts) and the polling state.

    ``uid_validity``/``last_uid`` say which messages were already fetched; ``failures`` and
    ``next_poll_at`` carry the exponential backoff after a connection problem.
    """

    __tablename__ = "mailboxes"

    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(254), unique=True)
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[MailSecurity] = mapped_column(default=MailSecurity.SSL)
    imap_user: Mapped[str] = mapped_column(String(255))
    imap_password_enc: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    # Empty SMTP host: replies go through the KEFU_SMTP_* server.
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int] = mapped_column(Integer, default=465)
    smtp_security: Mapped[MailSecurity] = mapped_column(default=MailSecurity.SSL)
    smtp_user: Mapped[str | None] = mapped_column(String(255))
    smtp_password_enc: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL")
    )
    uid_validity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
