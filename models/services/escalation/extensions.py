"""The people's side of the SLA on one ticket: acknowledging an assignment, recording why a
ticket is overdue, and extension requests that a lead approves or rejects.

Every change is audited. An approved extension moves the resolution deadline to the requested
instant and keeps it there through later deadline refreshes (``Ticket.extension_seconds``);
a rejected one changes nothing but the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import record_event
from models.enums import ExtensionStatus
from models.extension import ExtensionRequest
from models.services.admin.org import load_org
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import (
    N_,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from models.services.notify import notifications
from models.services.sla import policy
from models.services.sla.deadlines import SlaState, sla_state
from models.services.tickets import commands
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User

REASON_MAX = 2000
MAX_EXTENSION = timedelta(days=90)
INVALID = N_("Please correct the highlighted fields.")
GAP = N_("This time does not exist in the team's timezone (the clocks go forward then).")
STATE_LABELS = {
    SlaState.NONE: N_("Not applicable"),
    SlaState.OK: N_("On track"),
    SlaState.AT_RISK: N_("At risk"),
    SlaState.BREACHED: N_("Breached"),
    SlaState.MET: N_("Met"),
}


@dataclass(frozen=True)
class DeadlineRow:
    """One deadline as the SLA panel shows it."""

    label: str  # msgid
    due: datetime | None
    state: SlaState
    state_label: str  # msgid
    remaining_seconds: float | None


@dataclass(frozen=True)
class ExtensionItem:
    id: int
    ticket_id: int
    ticket_number: str
    requested_by: str
    reason: str
    current_due: datetime | None
    requested_due: datetime
    status: ExtensionStatus
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    created_at: datetime


@dataclass(frozen=True)
class SlaPanel:
    """The SLA region of a ticket: deadlines, overdue reason, extension requests."""

    ticket_id: int
    number: str
    deadlines: list[DeadlineRow]
    overdue: bool
    overdue_since: datetime | None
    overdue_reason: str | None
    paused: bool
    can_acknowledge: bool
    can_work: bool
    can_request_extension: bool
    can_decide: bool
    pending: ExtensionItem | None
    history: list[ExtensionItem] = field(default_factory=list)
    suggested_due: str = ""


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def local_input(moment: datetime | None) -> str:
    """An instant as an ``<input type="datetime-local">`` value in the team's timezone."""
    return moment.astimezone(_zone()).strftime("%Y-%m-%dT%H:%M") if moment else ""


def parse_local(text: str, field_name: str) -> datetime:
    """A ``datetime-local`` value (team's timezone) as an aware instant (UTC)."""
    try:
        naive = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationFailed(INVALID, fields={field_name: N_("Enter a date and time.")}) from None
    if not 1970 <= naive.year <= 9998:  # far dates overflow on conversion to UTC
        raise ValidationFailed(INVALID, fields={field_name: N_("Enter a date and time.")})
    if naive.tzinfo is not None:
        return naive
    # A repeated wall time (clocks going back) means its first occurrence.
    moment = naive.replace(tzinfo=_zone()).astimezone(UTC)
    if moment.astimezone(_zone()).replace(tzinfo=None) != naive:
        # Skipped when the clocks went forward: no instant shows this minute.
        raise ValidationFailed(INVALID, fields={field_name: GAP})
    return moment


def _reason(text: str, field_name: str = "reason") -> str:
    reason = (text or "").strip()
    if not reason:
        raise ValidationFailed(INVALID, fields={field_name: N_("Required.")})
    if len(reason) > REASON_MAX:
        raise ValidationFailed(INVALID, fields={field_name: N_("Too long.")})
    return reason


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


def _items(
    requests: list[ExtensionRequest], numbers: dict[int, str], names: dict[int, str]
) -> list[ExtensionItem]:
    return [
        ExtensionItem(
            r.id,
            r.ticket_id,
            numbers.get(r.ticket_id, ""),
            names.get(r.requested_by_id, "?"),
            r.reason,
            r.current_due,
            r.requested_due,
            ExtensionStatus(r.status),
            names.get(r.decided_by_id or -1),
            r.decided_at,
            r.decision_note,
            r.created_at,
        )
        for r in requests
    ]


def _deadline_rows(ticket: Ticket, now: datetime) -> list[DeadlineRow]:
    open_ = ticket.status in policy.OPEN_STATES
    done_at = ticket.resolved_at or ticket.closed_at
    specs = [
        (
            N_("First-response deadline"),
            ticket.first_response_due,
            ticket.first_responded_at is not None,
            ticket.first_responded_at,
        ),
        (
            N_("Acknowledgement deadline"),
            ticket.acknowledge_due,
            ticket.acknowledged_at is not None,
            ticket.acknowledged_at,
        ),
        (N_("Resolution deadline"), ticket.resolution_due, not open_, done_at),
    ]
    rows = []
    for label, due, done, at in specs:
        if ticket.paused_since is not None and not done:
            status = sla_state(due, ticket.paused_since, done=False)
        else:
            status = sla_state(due, now, done=done, done_at=at, started_at=ticket.created_at)
        remaining = status.remaining.total_seconds() if status.remaining is not None else None
        rows.append(DeadlineRow(label, due, status.state, STATE_LABELS[status.state], remaining))
    return rows


async def panel(
    session: AsyncSession, actor: Actor, ticket_id: int, *, now: datetime | None = None
) -> SlaPanel:
    """Everything the SLA region of the ticket drawer shows, with what this actor may do."""
    now = now or utcnow()
    ticket = await commands.get(session, ticket_id)
    requests = list(
        (
            await session.scalars(
                select(ExtensionRequest)
                .where(ExtensionRequest.ticket_id == ticket.id)
                .order_by(ExtensionRequest.id.desc())
            )
        ).all()
    )
    people: set[int | None] = {r.requested_by_id for r in requests}
    names = await _names(session, people | {r.decided_by_id for r in requests})
    items = _items(requests, {ticket.id: ticket.number}, names)
    pending = next((i for i in items if i.status is ExtensionStatus.PENDING), None)
    can_work = commands.can_work(actor, ticket)
    open_ = ticket.status in policy.OPEN_STATES
    suggested = max(ticket.resolution_due or now, now) + timedelta(days=1)
    return SlaPanel(
        ticket_id=ticket.id,
        number=ticket.number,
        deadlines=_deadline_rows(ticket, now),
        overdue=ticket.overdue_since is not None,
        overdue_since=ticket.overdue_since,
        overdue_reason=ticket.overdue_reason,
        paused=ticket.paused_since is not None,
        can_acknowledge=open_
        and ticket.acknowledged_at is None
        and ticket.assignee_id is not None
        and (ticket.assignee_id == actor.user_id or actor.is_lead),
        can_work=can_work,
        can_request_extension=open_ and can_work and pending is None,
        can_decide=_may_decide(actor, requests),
        pending=pending,
        history=[i for i in items if i is not pending],
        suggested_due=local_input(suggested),
    )


def _may_decide(actor: Actor, requests: list[ExtensionRequest]) -> bool:
    """Leads decide pending requests, except their own (admins may decide any)."""
    pending = next((r for r in requests if r.status is ExtensionStatus.PENDING), None)
    if pending is None or not actor.is_lead:
        return False
    return actor.is_admin or pending.requested_by_id != actor.user_id


async def acknowledge(session: AsyncSession, actor: Actor, ticket_id: int) -> Ticket:
    """The assignee (or a lead) confirms they have seen the assignment: escalation stops."""
    ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    if ticket.assignee_id is None:
        raise InvalidTransition(N_("Nobody is assigned to this ticket yet."))
    if ticket.assignee_id != actor.user_id and not actor.is_lead:
        raise Forbidden(N_("Only the assignee can acknowledge this ticket."))
    if ticket.acknowledged_at is not None:
        return ticket
    return await commands.acknowledge(session, actor, ticket)


async def record_overdue_reason(
    session: AsyncSession, actor: Actor, ticket_id: int, reason: str
) -> Ticket:
    """Why an overdue ticket is late (required of the assignee once it is marked overdue)."""
    ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    if ticket.overdue_since is None:
        raise InvalidTransition(N_("This ticket is not overdue."))
    return await commands.record_overdue_reason(session, actor, ticket, _reason(reason))


@dataclass(frozen=True)
class ExtensionInput:
    """An extension request from the form: the new deadline (``datetime-local`` text in the
    team's timezone, or an aware datetime) and the reason."""

    requested_due: str | datetime
    reason: str


async def request_extension(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    data: ExtensionInput,
    *,
    now: datetime | None = None,
) -> ExtensionRequest:
    """File a request for a later resolution deadline; the department's lead is told."""
    now = now or utcnow()
    ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    if ticket.status not in policy.OPEN_STATES:
        raise InvalidTransition(N_("Only open tickets can have their deadline extended."))
    due = data.requested_due
    if not isinstance(due, datetime):
        due = parse_local(due, "requested_due")
    floor = max(now, ticket.resolution_due or now)
    if due <= floor:
        raise ValidationFailed(
            INVALID,
            fields={"requested_due": N_("The new deadline must be later than the current one.")},
        )
    if due > now + MAX_EXTENSION:
        raise ValidationFailed(
            INVALID, fields={"requested_due": N_("The new deadline must be within 90 days.")}
        )
    reason = _reason(data.reason)
    pending = await session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.ticket_id == ticket.id,
            ExtensionRequest.status == ExtensionStatus.PENDING,
        )
    )
    if pending is not None:
        raise Conflict(
            N_("An extension request for this ticket is already waiting for a decision.")
        )
    request = ExtensionRequest(
        ticket_id=ticket.id,
        requested_by_id=actor.user_id,
        reason=reason,
        current_due=ticket.resolution_due,
        requested_due=due,
        status=ExtensionStatus.PENDING,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="extension_request",
        entity_id=request.id,
        ticket_id=ticket.id,
        action="extension_requested",
        before=ticket.resolution_due.isoformat() if ticket.resolution_due else None,
        after={"requested_due": due.isoformat(), "reason": reason},
    )
    org = await load_org(session)
    leads = [u for u in org.first_rung(ticket.department_id) if u != actor.user_id]
    await notifications.notify(
        session,
        kind=notifications.KIND_EXTENSION,
        ticket_id=ticket.id,
        department_id=ticket.department_id,
        user_ids=leads or org.admins,
        params={"number": ticket.number, "who": actor.label},
        message=N_(
            "%(who)s asks to extend the deadline of %(number)s. Please approve or "
            "reject the request."
        ),
    )
    record_event(session, "ticket.updated", ticket_id=ticket.id, version=ticket.version)
    return request


def parse_decision(value: str) -> bool:
    """``approve`` → True, ``reject`` → False; anything else is refused (never a default)."""
    if value not in ("approve", "reject"):
        raise ValidationFailed(INVALID, fields={"decision": N_("Choose approve or reject.")})
    return value == "approve"


async def decide(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    *,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> ExtensionRequest:
    """A lead approves (the resolution deadline moves to the requested instant) or rejects
    (nothing moves) a pending request; audited either way, the requester is told."""
    if not actor.is_lead:
        raise Forbidden(N_("Only a lead can decide extension requests."))
    now = now or utcnow()
    request = await session.get(ExtensionRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound(N_("Extension request not found."))
    if request.status is not ExtensionStatus.PENDING:
        raise Conflict(N_("This request was already decided."))
    if request.requested_by_id == actor.user_id and not actor.is_admin:
        raise Forbidden(N_("You cannot decide your own request."))
    ticket = await commands.get(session, request.ticket_id)
    if approve and ticket.status not in policy.OPEN_STATES:
        raise InvalidTransition(N_("Only open tickets can have their deadline extended."))
    text = (note or "").strip()[:REASON_MAX] or None
    request.status = ExtensionStatus.APPROVED if approve else ExtensionStatus.REJECTED
    request.decided_by_id = actor.user_id
    request.decided_at = now
    request.decision_note = text
    audit.record(
        session,
        actor,
        entity_type="extension_request",
        entity_id=request.id,
        ticket_id=ticket.id,
        action="extension_approved" if approve else "extension_rejected",
        after={"note": text},
    )
    if approve:
        seconds = await _extension_for(session, ticket, request.requested_due, now)
        await commands.extend_resolution(session, actor, ticket, seconds, now=now)
    await session.flush()
    await notifications.notify(
        session,
        kind=notifications.KIND_EXTENSION,
        ticket_id=ticket.id,
        user_ids=[request.requested_by_id],
        params={"number": ticket.number},
        message=(
            N_("Your extension request for %(number)s was approved.")
            if approve
            else N_("Your extension request for %(number)s was rejected.")
        ),
    )
    if not approve:  # an approval's change to the ticket already told the board
        record_event(session, "ticket.updated", ticket_id=ticket.id, version=ticket.version)
    return request


async def _extension_for(
    session: AsyncSession, ticket: Ticket, due: datetime, now: datetime
) -> int:
    """The extension, in whole seconds on top of the policy's deadline, that puts the
    resolution deadline in the requested minute of the team's timezone.

    The policy's deadline carries the sub-second part of the registration instant; the
    extension is measured from it as recomputed now and rounded so the deadline lands in the
    requested minute (never earlier than asked when that is possible). Truncating the
    difference instead put the deadline a fraction of a second before a whole requested
    minute, so the panel showed the minute before the one approved.
    """
    base = await commands.policy_resolution_due(session, ticket, now=now)
    if base is None:  # pragma: no cover - an open ticket always has a resolution deadline
        return ticket.extension_seconds or 0
    exact = (due - base).total_seconds()
    seconds = math.ceil(exact)
    if local_input(base + timedelta(seconds=seconds)) != local_input(due):
        seconds = math.floor(exact)
    return seconds


async def pending_requests(session: AsyncSession, actor: Actor) -> list[ExtensionItem]:
    """The requests waiting for a decision: a lead sees their department's, an admin all."""
    if not actor.is_lead:
        raise Forbidden(N_("Only a lead can decide extension requests."))
    stmt = (
        select(ExtensionRequest, Ticket.number)
        .join(Ticket, Ticket.id == ExtensionRequest.ticket_id)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING)
        .order_by(ExtensionRequest.created_at)
    )
    if not actor.is_admin:
        stmt = stmt.where(Ticket.department_id == actor.department_id)
    rows = (await session.execute(stmt)).all()
    requests = [r for r, _ in rows]
    names = await _names(session, {r.requested_by_id for r in requests})
    return _items(requests, {r.ticket_id: n for r, n in rows}, names)
