"""Record 3: the follow-up log of every contact about a ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import FollowUpMethod


class FollowUp(IdMixin, Base):
    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_ticket_at", "ticket_id", "at"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # None when the customer wrote it (portal "add information", email reply).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    by_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[FollowUpMethod] = mapped_column()
    discussed: Mapped[str] = mapped_column(Text)
    customer_feedback: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    next_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown to the customer on the tracking page.
    visible_to_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    is_resolution: Mapped[bool] = mapped_column(Boolean, default=False)
    # Written on a duplicate merged into this ticket: the duplicate (its number is shown).
    merged_from_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
