"""Record 4: the satisfaction survey sent when a ticket is completed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import RequestType


class Survey(IdMixin, Base):
    __tablename__ = "surveys"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_type: Mapped[RequestType | None] = mapped_column()
    speed_score: Mapped[int | None] = mapped_column(SmallInteger)
    solution_score: Mapped[int | None] = mapped_column(SmallInteger)
    attitude_score: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    suggestion: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)  # encrypted when given
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None] = mapped_column(index=True)
    # Answered on the phone: the staff member who recorded it (None: the customer, online).
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
