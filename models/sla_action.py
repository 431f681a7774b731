"""One row per SLA action taken, so each (ticket, rule, level) fires exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class SlaAction(IdMixin, Base):
    __tablename__ = "sla_actions"
    __table_args__ = (UniqueConstraint("ticket_id", "rule", "level", name="uq_sla_action"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer, default=0)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
