"""Editable targets of the KPI dashboard (one row per KPI; absent rows use the defaults)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class KpiTarget(IdMixin, Base):
    __tablename__ = "kpi_targets"

    # A key of models.services.reports.kpi.KPIS, e.g. "satisfied_share".
    key: Mapped[str] = mapped_column(String(40), unique=True)
    # In the KPI's own unit: a share as a fraction (0.9), a time in hours, a rate per hour.
    value: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
