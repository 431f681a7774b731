"""The org chart: who supervises each department, which department it reports to, and who
the admins are — the escalation ladder above any ticket.

Loaded in one query per use (the SLA tick loads it once per tick); :class:`Org` answers
from memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.department import Department
from models.enums import Role
from models.user import User

# A guard against a parent loop typed into the departments.
MAX_DEPTH = 20


@dataclass(frozen=True)
class Org:
    """Departments (supervisor, parent) and the active admins."""

    departments: dict[int, tuple[int | None, int | None]]
    admins: list[int]

    def supervisor(self, department_id: int | None) -> int | None:
        return self.departments.get(department_id or -1, (None, None))[0]

    def ladder(self, department_id: int | None) -> list[list[int]]:
        """The escalation rungs above a department: its supervisor, each ancestor's
        supervisor, then the admins — without repeating anyone."""
        rungs: list[list[int]] = []
        seen: set[int] = set()
        current, hops = department_id, 0
        while current is not None and current in self.departments and hops < MAX_DEPTH:
            supervisor, parent = self.departments[current]
            if supervisor is not None and supervisor not in seen:
                rungs.append([supervisor])
                seen.add(supervisor)
            current, hops = parent, hops + 1
        admins = [a for a in self.admins if a not in seen]
        if admins:
            rungs.append(admins)
        return rungs

    def first_rung(self, department_id: int | None) -> list[int]:
        rungs = self.ladder(department_id)
        return rungs[0] if rungs else []


async def admin_ids(session: AsyncSession) -> list[int]:
    """The active admins, in id order."""
    stmt = select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True))
    return list((await session.scalars(stmt.order_by(User.id))).all())


async def load_org(session: AsyncSession) -> Org:
    rows = (
        await session.execute(select(Department.id, Department.supervisor_id, Department.parent_id))
    ).all()
    return Org({r.id: (r.supervisor_id, r.parent_id) for r in rows}, await admin_ids(session))
