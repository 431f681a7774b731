"""Staff accounts: admins, leads and agents."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdMixin, utcnow
from models.enums import Role

if TYPE_CHECKING:
    from models.department import Department


class User(IdMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The on/off-duty switch auto-assignment reads. Off by default: nobody is handed work
    # before they said they are at their desk (a new account, or every account after the
    # upgrade that added it).
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Set by an admin's reset: the next sign-in must choose a new password before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None]
    # TOTP (RFC 6238): the secret sealed with the contact keyring; enabled once confirmed.
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last accepted time step, so a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # SHA-256 hashes of the unused recovery codes.
    recovery_codes: Mapped[list[str] | None] = mapped_column(JSON)
    # The notification kinds this person keeps out of their bell (their channels choose for
    # themselves through each channel's kinds); empty: every kind rings the bell.
    bell_muted_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The board this person last looked at ({"query": URL parameters}), restored on /board.
    board_prefs: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # Live chat: the "available for chats" switch, how many chats at once, and when the
    # person's chat inbox last showed signs of life (an available agent whose inbox went
    # quiet is not offered chats).
    chat_available: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    chat_capacity: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    chat_seen_at: Mapped[datetime | None]

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
