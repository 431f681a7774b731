"""Install-wide switches an admin (or the demo seeder) sets: one row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import ContactReveal


class SiteSetting(IdMixin, Base):
    __tablename__ = "site_settings"

    # Started by `kefu demo`: the demo accounts exist and the sign-in page says so.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Admins without two-factor sign-in are sent to enrolment before anything else.
    require_admin_2fa: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whose phone and email an agent may reveal (audited); leads and admins always may.
    agent_contact_reveal: Mapped[ContactReveal] = mapped_column(
        default=ContactReveal.DEPARTMENT, server_default=ContactReveal.DEPARTMENT.value
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
