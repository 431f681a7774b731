"""Saved board views: a named set of board filters, personal or shared with a team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class BoardView(IdMixin, Base):
    __tablename__ = "board_views"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_board_views_owner_name"),)

    name: Mapped[str] = mapped_column(String(60))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # A team view is listed for everyone in its department (everyone, without a department).
    team: Mapped[bool] = mapped_column(Boolean, default=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    # The board's URL parameters (BoardFilters.query_string()).
    query: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
