"""Departments: where work is routed and who supervises it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdMixin

if TYPE_CHECKING:
    from models.user import User


class Department(IdMixin, Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    supervisor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, ondelete="SET NULL")
    )
    # The next rung of the escalation ladder above this department's supervisor.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))

    supervisor: Mapped[User | None] = relationship(foreign_keys=[supervisor_id])
    parent: Mapped[Department | None] = relationship(remote_side="Department.id")
