"""A live-chat widget a company puts on its site with one script tag."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class ChatWidget(IdMixin, Base):
    __tablename__ = "chat_widgets"

    # The public identifier in the script tag (not a secret: anyone may open a chat).
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Where its conversations go (routing, queue, the agents offered them); None: anyone.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    color: Mapped[str] = mapped_column(String(7), default="#1677ff")
    greeting_zh: Mapped[str] = mapped_column(Text, default="")
    greeting_en: Mapped[str] = mapped_column(Text, default="")
    # The interface languages offered ("zh-CN", "en"); the visitor's browser picks among them.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"days": [0..6 (Monday = 0)], "start": "09:00", "end": "18:00", "timezone": "Asia/Shanghai"};
    # None: always open (while an agent is available).
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The sites allowed to embed it (space-separated origins); empty: any site.
    allowed_origins: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The key a site signs its signed-in customer's email or phone with (HMAC-SHA256), so the
    # widget may show them their earlier chats from any browser; encrypted. None: not set up.
    identity_secret_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
