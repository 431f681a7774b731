"""Where a user's or a department's notifications go besides the bell: email or a webhook."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class DeliveryChannel(StrEnum):
    """The external channels a notification can be delivered to."""

    EMAIL = "email"
    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉群机器人
    FEISHU = "feishu"  # 飞书群机器人
    SLACK = "slack"
    WEBHOOK = "webhook"  # generic JSON


class NotificationPreference(IdMixin, Base):
    """One channel of one user (personal) or of one department (a group robot, a list).

    ``kinds`` lists the notification kinds sent to this channel (empty: all of them). The
    target (an address, or a webhook URL that often embeds its access key) and the signing
    secret are stored encrypted; ``target_hint`` is the masked form shown in the UI.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (department_id IS NULL)", name="one_owner"),
    )

    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[DeliveryChannel] = mapped_column()
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_enc: Mapped[str | None] = mapped_column(Text)
    target_hint: Mapped[str] = mapped_column(String(200), default="")
    secret_enc: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
