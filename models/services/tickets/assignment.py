"""Auto-assignment: hand a department's new tickets to the agents who are at work.

Off by default, configured per department (:class:`models.AssignmentSettings`). A ticket
goes to one of the department's active staff who is on duty (their own switch), while the
business calendar says the desk is open, and who holds fewer open tickets than the cap:

* VIP and strategic customers' tickets only to the named senior agents, when some are named
  (and they come first when the waiting tickets are drained);
* a returning customer back to the agent of their previous ticket, when the department wants
  it and that agent is eligible;
* otherwise round robin (the next agent after the one the cursor names) or least open (the
  fewest open tickets, ties to the longest-standing account).

The assignment itself is :func:`models.services.tickets.commands.assign` — the one write path —
so an auto-assigned ticket gets the same ``assigned_at`` and acknowledgement deadline (and
escalation when nobody acknowledges it) as one a lead assigned. Each decision is audited on the
ticket with its reason (action ``auto_assign``), the "left unassigned" one only when a ticket
first arrives (the drain retrying every minute would otherwise fill the timeline).

Concurrency: every decision for a department first writes its settings row (a no-op UPDATE),
which is the department's mutex — PostgreSQL's row lock, SQLite's single writer — and then
reads the caps and the ticket afresh, so two workers never push an agent past the cap nor
assign one ticket twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.assignment_settings import AssignmentSettings
from models.base import utcnow
from models.customer import Customer
from models.db import record_job
from models.department import Department
from models.enums import CustomerLevel, Role, TicketStatus
from models.services.common import audit, jobs
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.sla import policy
from models.services.tickets import commands
from models.ticket import Ticket
from models.user import User

ROUND_ROBIN = "round_robin"
LEAST_OPEN = "least_open"
STRATEGIES = (ROUND_ROBIN, LEAST_OPEN)
STRATEGY_LABELS = {ROUND_ROBIN: N_("Round robin"), LEAST_OPEN: N_("Least open tickets")}
CAP_MIN, CAP_MAX = 1, 200
SENIOR_LEVELS = (CustomerLevel.VIP, CustomerLevel.STRATEGIC)
DRAIN_BATCH = 200

# The system acting with a lead's authority to hand out work (commands.assign checks it).
AUTO = Actor(user_id=None, label="auto-assign", role=Role.LEAD)


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    open_count: int


@dataclass(frozen=True)
class Decision:
    """What auto-assignment decided for one ticket (``reason`` is what the audit keeps)."""

    ticket_id: int
    assignee_id: int | None
    reason: dict[str, Any]
    nobody_free: bool = False  # nobody at all on duty and under the cap: stop draining


# --- the department's mutex and its candidates --------------------------------------------


async def _lock(session: AsyncSession, department_id: int) -> AssignmentSettings | None:
    """Take the department's assignment mutex; its settings if auto-assignment is on."""
    table = AssignmentSettings
    await session.execute(
        update(table)
        .where(table.department_id == department_id)
        .values(cursor_user_id=table.cursor_user_id, updated_at=table.updated_at)
        .execution_options(synchronize_session=False)
    )
    settings = await session.scalar(
        select(table)
        .where(table.department_id == department_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return settings if settings is not None and settings.enabled else None


async def open_counts(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    """Open tickets (pending, in progress, awaiting confirmation) each person holds."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.in_(user_ids), Ticket.status.in_(policy.OPEN_STATES))
        .group_by(Ticket.assignee_id)
    )
    counts: dict[int, int] = {uid: 0 for uid in user_ids}
    for uid, n in rows.all():
        if uid is not None:
            counts[uid] = n
    return counts


async def members(session: AsyncSession, department_id: int) -> list[User]:
    """The department's active staff, in the order round robin walks them."""
    return list(
        (
            await session.scalars(
                select(User)
                .where(User.department_id == department_id, User.is_active.is_(True))
                .order_by(User.id)
            )
        ).all()
    )


async def _candidates(session: AsyncSession, settings: AssignmentSettings) -> list[Candidate]:
    """On duty and under the cap, in user id order."""
    staff = [u for u in await members(session, settings.department_id) if u.on_duty]
    counts = await open_counts(session, [u.id for u in staff])
    return [
        Candidate(u.id, u.display_name, counts[u.id]) for u in staff if counts[u.id] < settings.cap
    ]


async def _previous_agent(session: AsyncSession, ticket: Ticket) -> int | None:
    """The agent of the customer's most recent earlier ticket that had one."""
    return await session.scalar(
        select(Ticket.assignee_id)
        .where(
            Ticket.customer_id == ticket.customer_id,
            Ticket.id != ticket.id,
            Ticket.assignee_id.is_not(None),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    )


def choose(
    settings: AssignmentSettings,
    pool: list[Candidate],
    *,
    senior_only: bool,
    previous_id: int | None,
) -> tuple[Candidate | None, dict[str, Any]]:
    """Pick from the eligible ``pool`` (already restricted to seniors when ``senior_only``)."""
    reason: dict[str, Any] = {"vip": senior_only}
    if not pool:
        return None, {**reason, "reason": "nobody"}
    if settings.return_to_previous and previous_id is not None:
        for candidate in pool:
            if candidate.user_id == previous_id:
                return candidate, {**reason, "reason": "returning"}
    if settings.strategy == LEAST_OPEN:
        pick = min(pool, key=lambda c: (c.open_count, c.user_id))
        return pick, {**reason, "reason": LEAST_OPEN, "open": pick.open_count}
    cursor = settings.cursor_user_id
    after = [c for c in pool if cursor is not None and c.user_id > cursor]
    pick = after[0] if after else pool[0]
    return pick, {**reason, "reason": ROUND_ROBIN, "after": cursor}


# --- deciding for one ticket ----------------------------------------------------------------


async def _fresh_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    """The ticket re-read inside the mutex (on PostgreSQL a row another transaction is
    changing is skipped: the drain tries it again next time)."""
    return await session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(selectinload(Ticket.customer))
        .with_for_update(of=Ticket, skip_locked=True)
        .execution_options(populate_existing=True)
    )


def _waiting(ticket: Ticket) -> bool:
    return ticket.assignee_id is None and ticket.status == TicketStatus.PENDING


async def auto_assign(
    session: AsyncSession,
    ticket_id: int,
    *,
    now: datetime | None = None,
    audit_unassigned: bool = True,
) -> Decision | None:
    """Assign one waiting ticket by its department's settings; None when there is nothing to
    decide (auto-assignment off, no department, already assigned or no longer pending)."""
    now = now or utcnow()
    department_id = await session.scalar(select(Ticket.department_id).where(Ticket.id == ticket_id))
    if department_id is None:
        return None
    settings = await _lock(session, department_id)
    if settings is None:
        return None
    ticket = await _fresh_ticket(session, ticket_id)
    if ticket is None or ticket.department_id != department_id or not _waiting(ticket):
        return None
    calendar = (await policy.load_rules(session)).calendar
    if not calendar.is_open(now):
        pool: list[Candidate] = []
        closed = True
    else:
        pool = await _candidates(session, settings)
        closed = False
    nobody_free = not pool
    senior_only = CustomerLevel(ticket.customer.level) in SENIOR_LEVELS and bool(
        settings.senior_ids
    )
    if senior_only:
        seniors = set(settings.senior_ids)
        pool = [c for c in pool if c.user_id in seniors]
    previous = await _previous_agent(session, ticket) if settings.return_to_previous else None
    pick, reason = choose(settings, pool, senior_only=senior_only, previous_id=previous)
    if closed:
        reason["reason"] = "closed"
    decision = Decision(ticket.id, pick.user_id if pick else None, reason, nobody_free)
    if pick is None:
        if audit_unassigned:
            _audit(session, ticket.id, None, reason)
        return decision
    await commands.assign(session, AUTO, ticket.id, pick.user_id, expected_version=ticket.version)
    if reason["reason"] == ROUND_ROBIN:
        settings.cursor_user_id = pick.user_id
    _audit(session, ticket.id, pick.user_id, reason)
    await session.flush()
    return decision


def _audit(
    session: AsyncSession, ticket_id: int, assignee_id: int | None, reason: dict[str, Any]
) -> None:
    audit.record(
        session,
        AUTO,
        entity_type="ticket",
        entity_id=ticket_id,
        ticket_id=ticket_id,
        action="auto_assign",
        after={"assignee": assignee_id, **reason},
    )


async def drain(
    session: AsyncSession, *, department_id: int | None = None, now: datetime | None = None
) -> int:
    """Assign the waiting tickets of enabled departments while someone has room: VIP and
    strategic customers first, then by priority, then the oldest. Returns how many."""
    now = now or utcnow()
    stmt = select(AssignmentSettings.department_id).where(AssignmentSettings.enabled.is_(True))
    if department_id is not None:
        stmt = stmt.where(AssignmentSettings.department_id == department_id)
    assigned = 0
    for dept in (await session.scalars(stmt.order_by(AssignmentSettings.department_id))).all():
        for ticket_id in await waiting_tickets(session, dept):
            decision = await auto_assign(session, ticket_id, now=now, audit_unassigned=False)
            if decision is None:
                continue
            if decision.assignee_id is not None:
                assigned += 1
            elif decision.nobody_free:
                break
    return assigned


async def waiting_tickets(
    session: AsyncSession, department_id: int, *, limit: int = DRAIN_BATCH
) -> list[int]:
    """The department's unassigned pending tickets in the order they are handed out."""
    senior_first = case((Customer.level.in_(SENIOR_LEVELS), 0), else_=1)
    return list(
        (
            await session.scalars(
                select(Ticket.id)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(
                    Ticket.department_id == department_id,
                    Ticket.merged_into_id.is_(None),  # (always true of a pending ticket)
                    Ticket.assignee_id.is_(None),
                    Ticket.status == TicketStatus.PENDING,
                )
                .order_by(senior_first, Ticket.priority_rank, Ticket.created_at, Ticket.id)
                .limit(limit)
            )
        ).all()
    )


# --- what the timeline shows --------------------------------------------------------------


def reason_note(after: Any, names: dict[int, str]) -> list[tuple[str, dict[str, Any]]]:
    """An ``auto_assign`` audit entry as the drawer shows it: (msgid, params) parts."""
    if not isinstance(after, dict):
        return []
    assignee = after.get("assignee")
    parts: list[tuple[str, dict[str, Any]]] = []
    if assignee is None:
        parts.append((N_("Auto-assignment: left unassigned"), {}))
    else:
        parts.append((N_("Auto-assigned to %(agent)s"), {"agent": names.get(assignee, "#")}))
    if after.get("vip"):
        parts.append((N_("VIP/strategic customer: senior agents only"), {}))
    reason = after.get("reason")
    if reason == ROUND_ROBIN:
        previous = after.get("after")
        if previous is None:
            parts.append((N_("round robin"), {}))
        else:
            name = names.get(previous, f"#{previous}")
            parts.append((N_("round robin: next after %(name)s"), {"name": name}))
    elif reason == LEAST_OPEN:
        parts.append((N_("least open: %(n)s open"), {"n": after.get("open", 0)}))
    elif reason == "returning":
        parts.append((N_("returning customer: previous agent"), {}))
    elif reason == "closed":
        parts.append((N_("outside business hours"), {}))
    elif reason == "nobody":
        parts.append((N_("no one on duty and under the cap"), {}))
    return parts


# --- the on-duty switch -----------------------------------------------------------------


async def set_on_duty(session: AsyncSession, actor: Actor, on: bool) -> User:
    """An agent goes on or off duty (audited); going on duty drains their department."""
    if actor.user_id is None:
        raise Forbidden(N_("You do not have permission to do that."))
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound(N_("Unknown staff member."))
    if user.on_duty == on:
        return user
    audit.record(
        session,
        actor,
        entity_type="user",
        entity_id=user.id,
        action="on_duty",
        field="on_duty",
        before=user.on_duty,
        after=on,
    )
    user.on_duty = on
    await session.flush()
    if on and user.department_id is not None:
        record_job(session, jobs.drain_assignments_job(user.department_id))
    return user


# --- the settings page ----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    role: Role
    on_duty: bool
    open_count: int
    senior: bool


@dataclass(frozen=True)
class DepartmentAssignment:
    """One department's auto-assignment form, with who is on duty."""

    department: Department
    enabled: bool
    strategy: str
    cap: int
    return_to_previous: bool
    members: list[Member] = field(default_factory=list)
    may_edit: bool = False

    @property
    def on_duty(self) -> list[Member]:
        return [m for m in self.members if m.on_duty]


def may_edit(actor: Actor, department_id: int) -> bool:
    """Admins configure every department; a lead their own."""
    return actor.is_admin or (actor.is_lead and actor.department_id == department_id)


async def _settings_row(session: AsyncSession, department_id: int) -> AssignmentSettings | None:
    return await session.scalar(
        select(AssignmentSettings).where(AssignmentSettings.department_id == department_id)
    )


async def department_view(
    session: AsyncSession, actor: Actor, department: Department
) -> DepartmentAssignment:
    row = await _settings_row(session, department.id)
    staff = await members(session, department.id)
    counts = await open_counts(session, [u.id for u in staff])
    seniors = set(row.senior_ids) if row else set()
    return DepartmentAssignment(
        department=department,
        enabled=bool(row and row.enabled),
        strategy=row.strategy if row else ROUND_ROBIN,
        cap=row.cap if row else 10,
        return_to_previous=bool(row and row.return_to_previous),
        members=[
            Member(u.id, u.display_name, Role(u.role), u.on_duty, counts[u.id], u.id in seniors)
            for u in staff
        ],
        may_edit=may_edit(actor, department.id),
    )


async def settings_page(session: AsyncSession, actor: Actor) -> list[DepartmentAssignment]:
    """Every department's settings (a lead edits only their own)."""
    departments = (await session.scalars(select(Department).order_by(Department.id))).all()
    return [await department_view(session, actor, d) for d in departments]


@dataclass(frozen=True)
class SettingsInput:
    enabled: bool
    strategy: str
    cap: str
    return_to_previous: bool
    senior_ids: list[str]


async def save_settings(
    session: AsyncSession, actor: Actor, department_id: int, data: SettingsInput
) -> DepartmentAssignment:
    """Validate and store one department's settings (audited); nothing is written on an
    error. Turning it on drains the department's waiting tickets."""
    department = await session.get(Department, department_id)
    if department is None:
        raise NotFound(N_("Unknown department."))
    if not may_edit(actor, department_id):
        raise Forbidden(N_("You do not have permission to do that."))
    errors: dict[str, str] = {}
    if data.strategy not in STRATEGIES:
        errors["strategy"] = N_("Choose one of the options.")
    try:
        cap = int(data.cap.strip())
    except ValueError:
        cap = 0
    if not CAP_MIN <= cap <= CAP_MAX:
        errors["cap"] = N_("Enter a whole number from 1 to 200.")
    staff = {u.id for u in await members(session, department_id)}
    seniors: list[int] = []
    for raw in data.senior_ids:
        try:
            uid = int(raw)
        except ValueError:
            uid = -1
        if uid not in staff:
            errors["senior_ids"] = N_("Senior agents must be active members of the department.")
            break
        if uid not in seniors:
            seniors.append(uid)
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    row = await _settings_row(session, department_id)
    if row is None:
        row = AssignmentSettings(department_id=department_id, senior_ids=[])
        session.add(row)
        before: dict[str, Any] = {}
    else:
        before = _plain_settings(row)
    row.enabled = data.enabled
    row.strategy = data.strategy
    row.cap = cap
    row.return_to_previous = data.return_to_previous
    row.senior_ids = sorted(seniors)
    await session.flush()
    after = _plain_settings(row)
    if before != after:
        audit.record(
            session,
            actor,
            entity_type="assignment_settings",
            entity_id=row.id,
            action="change",
            before=before or None,
            after=after,
        )
    if row.enabled and not before.get("enabled"):
        record_job(session, jobs.drain_assignments_job(department_id))
    return await department_view(session, actor, department)


def _plain_settings(row: AssignmentSettings) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "strategy": row.strategy,
        "cap": row.cap,
        "return_to_previous": row.return_to_previous,
        "senior_ids": list(row.senior_ids or []),
    }


async def on_duty(session: AsyncSession, actor: Actor) -> bool:
    """Whether this staff member is on duty (the top bar's switch)."""
    if actor.user_id is None:
        return False
    return bool(await session.scalar(select(User.on_duty).where(User.id == actor.user_id)))
