"""One line of a live-chat transcript."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import ChatAuthor


class ChatMessage(IdMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_conversation_seq"),
        # A message sent twice (a retry after a lost answer) is stored once.
        UniqueConstraint(
            "conversation_id", "client_id", name="uq_chat_messages_conversation_client"
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(40))
    # WeCom's msgid: a callback delivered twice stores one message.
    external_msgid: Mapped[str | None] = mapped_column(String(64), unique=True)
    author: Mapped[ChatAuthor] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An agent's reply on a channel Kefu delivers to (WeCom): "pending", "sent" or "failed",
    # with the reason; None where the customer reads it in Kefu itself (the web widget).
    delivery: Mapped[str | None] = mapped_column(String(12))
    delivery_error: Mapped[str | None] = mapped_column(Text)
