"""Every mail that went through a mailbox, in or out: threading, dedupe, quarantine, sending."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class MailDirection(StrEnum):
    IN = "in"
    OUT = "out"


class MailStatus(StrEnum):
    IMPORTED = "imported"  # became a new ticket
    THREADED = "threaded"  # added to an existing ticket as a follow-up
    IGNORED = "ignored"  # auto-reply, bounce, list traffic, our own mail
    QUARANTINED = "quarantined"  # oversized, malformed or refused: kept for an admin
    QUEUED = "queued"  # outgoing, waiting for (another) attempt
    SENT = "sent"
    FAILED = "failed"  # outgoing, given up


class MailMessage(IdMixin, Base):
    """One message. ``dedupe_key`` is unique: two pollers importing the same inbound message
    (same mailbox and Message-ID, or same raw bytes when it has none) collide on it, so a
    message becomes at most one ticket.

    The other party's address is stored encrypted with a keyed hash (the per-sender loop
    guard counts by it). Outgoing messages keep their exact bytes in ``raw`` so a retry
    sends the very same message (same Message-ID); quarantined inbound ones keep theirs in a
    file under ``<data_dir>/mail-quarantine``.
    """

    __tablename__ = "mail_messages"
    __table_args__ = (
        Index("ix_mail_messages_message_id", "message_id"),
        Index("ix_mail_messages_status", "status", "direction"),
        Index("ix_mail_messages_party", "party_hash", "created_at"),
    )

    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True
    )
    message_id: Mapped[str | None] = mapped_column(String(500))
    direction: Mapped[MailDirection] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16), default="inbound")
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    follow_up_id: Mapped[int | None] = mapped_column(
        ForeignKey("follow_ups.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(500), default="")
    # The other party: the sender of an inbound message, the recipient of an outbound one.
    party_enc: Mapped[str | None] = mapped_column(Text)
    party_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MailStatus] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    raw_size: Mapped[int] = mapped_column(Integer, default=0)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
