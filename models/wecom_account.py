"""A WeCom customer-service account (微信客服) Kefu receives and answers chats on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class WeComAccount(IdMixin, Base):
    __tablename__ = "wecom_accounts"
    __table_args__ = (UniqueConstraint("corp_id", "open_kfid", name="uq_wecom_accounts_corp_kf"),)

    name: Mapped[str] = mapped_column(String(100))
    corp_id: Mapped[str] = mapped_column(String(64))
    # The customer-service account (open_kfid, "wk…") whose messages come here.
    open_kfid: Mapped[str] = mapped_column(String(64))
    # The app secret, the callback token and EncodingAESKey, sealed with the contacts' keyring.
    secret_enc: Mapped[str] = mapped_column(Text)
    token_enc: Mapped[str] = mapped_column(Text)
    aes_key_enc: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # WeCom's API address (a private deployment or a proxy may differ).
    base_url: Mapped[str] = mapped_column(String(200), default="https://qyapi.weixin.qq.com")
    # Where the last sync_msg stopped: the next one continues from here.
    cursor: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
