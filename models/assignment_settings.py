"""Per-department auto-assignment settings (off by default; edited on /admin/assignment)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class AssignmentSettings(IdMixin, Base):
    __tablename__ = "assignment_settings"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "round_robin" or "least_open" (models.services.tickets.assignment.STRATEGIES).
    strategy: Mapped[str] = mapped_column(
        String(16), default="round_robin", server_default="round_robin"
    )
    # Most open tickets (pending, in progress, awaiting confirmation) an agent may hold.
    cap: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    # VIP and strategic customers' tickets go only to these agents (empty: to anyone).
    senior_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # A returning customer goes back to the agent of their previous ticket, if eligible.
    return_to_previous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Round robin: the agent who got the last ticket (the next one goes to the one after).
    cursor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
