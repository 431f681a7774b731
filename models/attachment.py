"""A file a customer or an agent attached to a ticket (the bytes live in attachment storage)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class Attachment(IdMixin, Base):
    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_ticket_id", "ticket_id"),
        # Content addressing: the orphan sweep and de-duplication look blobs up by hash.
        Index("ix_attachments_sha256", "sha256"),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # The timeline entry the file came with (a customer's message, an agent's follow-up).
    follow_up_id: Mapped[int | None] = mapped_column(
        ForeignKey("follow_ups.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))  # sanitized, never a path
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_by_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))  # portal|tracking|intake|drawer|email|api
    # A re-encoded image or a PDF: safe to show inline; everything else is download-only.
    inline_safe: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
