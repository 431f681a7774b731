"""Where each request type is routed; editable by admins."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin
from models.enums import RequestType


class RoutingRule(IdMixin, Base):
    __tablename__ = "routing_rules"

    request_type: Mapped[RequestType] = mapped_column(unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
