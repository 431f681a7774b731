"""The log of every delivery of a notification to an external channel, attempt by attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.notification_preference import DeliveryChannel


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet
    RETRYING = "retrying"  # failed, another attempt is scheduled
    SENT = "sent"
    FAILED = "failed"  # gave up: permanent error or attempts exhausted


class NotificationDelivery(IdMixin, Base):
    """One message to one channel. ``dedupe_key`` makes creating it idempotent.

    The message is kept as msgid + params with the locale to render it in, so a retry sends
    exactly what the first attempt would have sent.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # The sweeper finds deliveries whose job was lost.
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), index=True
    )
    preference_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_preferences.id", ondelete="SET NULL"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    channel: Mapped[DeliveryChannel] = mapped_column()
    target: Mapped[str] = mapped_column(String(200))  # masked, for display
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_code: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
