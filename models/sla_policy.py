"""Admin-editable SLA targets and the business calendar they may count in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class SlaPolicy(IdMixin, Base):
    __tablename__ = "sla_policies"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # The serialized targets (see models.services.sla.deadlines.SlaPolicy).
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Minutes after which an unacknowledged assignment climbs each further rung.
    escalation_ladder: Mapped[list[int]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BusinessCalendar(IdMixin, Base):
    __tablename__ = "business_calendars"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # [["09:00", "12:00"], ["13:30", "18:00"]]
    work_intervals: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)  # 0 = Monday
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    workdays: Mapped[list[str]] = mapped_column(JSON, default=list)  # 调休 make-up days
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
