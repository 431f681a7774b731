"""A signed-in staff session, kept in the database so it outlives a Redis restart.

The browser holds a random token; only its SHA-256 digest is stored, so a copy of the table
signs nobody in. ``role`` is the role the session was issued for: when the user's role
changes, the next request rotates the session id.

A ``pending_2fa`` row is half a sign-in: the password was right, the second factor is still
due. It signs nobody in; the code step (``/login/code``) reads it, counts its wrong codes in
``attempts`` and, on a right code, replaces it with a full session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.enums import Role


class UserSession(Base):
    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    pending_2fa: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Where a pending sign-in goes once the code is right (a same-site path).
    next_path: Mapped[str | None] = mapped_column(String(512))
