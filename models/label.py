"""A lead's correction of a request type (or an imported labelled example)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import RequestType


class Label(IdMixin, Base):
    __tablename__ = "labels"

    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[RequestType] = mapped_column()
    previous_category: Mapped[RequestType | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(16), default="lead")  # lead | import
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # float32 vector of ``text`` by the embedder named beside it, filled in by the first
    # retraining that needs it, so later retrainings embed only new labels.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
