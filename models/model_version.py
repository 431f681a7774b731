"""A trained classifier version with its measurements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class ModelVersion(IdMixin, Base):
    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(40), unique=True)
    # training | candidate | current | retired | rejected | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    training_size: Mapped[int] = mapped_column(Integer, default=0)
    label_count: Mapped[int] = mapped_column(Integer, default=0)
    data_ref: Mapped[str | None] = mapped_column(String(64))
    library_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_path: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    triggered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]
