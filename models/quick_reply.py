"""A quick reply (快捷回复): a saved answer an agent inserts into a reply, with variables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class ReplyScope(StrEnum):
    """Team replies are managed by leads and admins; personal ones by their owner."""

    TEAM = "team"
    PERSONAL = "personal"


class ReplyLanguage(StrEnum):
    ZH_CN = "zh_CN"
    EN = "en"
    ANY = "any"


class QuickReply(IdMixin, Base):
    __tablename__ = "quick_replies"

    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[ReplyLanguage] = mapped_column(default=ReplyLanguage.ANY)
    scope: Mapped[ReplyScope] = mapped_column(index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    shortcut: Mapped[str | None] = mapped_column(String(32))
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
