"""Who is acting: a signed-in user, or the system (worker, CLI, portal, API)."""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import Role


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    role: Role | None = None
    department_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user_id=None, label=label)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_lead(self) -> bool:
        """Leads, and admins who can do everything a lead can."""
        return self.role in (Role.LEAD, Role.ADMIN)

    @property
    def is_staff(self) -> bool:
        return self.role is not None
