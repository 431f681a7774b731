"""A macro (宏): several changes to a ticket applied in one click, all or nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.quick_reply import ReplyScope


class Macro(IdMixin, Base):
    __tablename__ = "macros"

    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[ReplyScope] = mapped_column(index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # {"status", "priority", "request_type", "assignee" ("me" or a user id), "reply", "note"}:
    # each key optional; models.services.replies.macros validates and applies them.
    actions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
