"""One failed sign-in, counted per account name and per client address for throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class SignInFailure(IdMixin, Base):
    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_scope_key_at", "scope", "key", "failed_at"),)

    # "account" (the lower-cased name typed, whether or not it exists) or "ip".
    scope: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(128))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
