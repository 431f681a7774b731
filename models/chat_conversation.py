"""A live-chat conversation: a ticket from its first message, with its own transcript."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import ChatStatus


class ChatConversation(IdMixin, Base):
    __tablename__ = "chat_conversations"

    # The unguessable id in the widget's URLs; the row id never leaves the staff side.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # "web" (a widget) or "wecom" (微信客服).
    source: Mapped[str] = mapped_column(String(16), default="web")
    widget_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_widgets.id", ondelete="SET NULL"), index=True
    )
    # SHA-256 of the visitor's browser secret: the only proof a widget request is theirs.
    visitor_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # WeCom: the customer's external user id and the customer-service account it came in on.
    external_userid: Mapped[str | None] = mapped_column(String(64), index=True)
    open_kfid: Mapped[str | None] = mapped_column(String(64))
    wecom_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("wecom_accounts.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # Started by a visitor whose email or phone the site signed (see chat widgets' identity
    # secret): only such conversations follow the customer to another browser.
    identity_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[ChatStatus] = mapped_column(default=ChatStatus.QUEUED, index=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    accepted_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_customer_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # When the waiting chat was escalated to the department's leads (once).
    escalated_at: Mapped[datetime | None]
    # "visitor", "agent", "article" (a suggested answer solved it), "idle".
    ended_by: Mapped[str | None] = mapped_column(String(16))
    deflected_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL")
    )
    # Messages are numbered within the conversation; each side's read mark is a number.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    customer_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0)
