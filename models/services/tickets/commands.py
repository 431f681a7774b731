"""Record 2: creating tickets, moving them through the state machine, editing, following up.

Every change bumps the ticket's version (optimistic concurrency), writes an audit event and
records a board event that is published once the transaction commits.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from models.base import utcnow
from models.customer import Customer
from models.db import record_event, record_job
from models.enums import (
    Channel,
    FollowUpMethod,
    Priority,
    RequestType,
    TicketStatus,
    TypeSource,
    Urgency,
)
from models.followup import FollowUp
from models.label import Label
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import new_token, token_hash
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import triage_job
from models.services.common.numbering import next_number
from models.services.common.priority import compute_priority, priority_rank
from models.services.knowledge import lifecycle
from models.services.sla import policy
from models.services.tickets import surveys
from models.services.tickets.transitions import rule_for
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User

TITLE_MAX = 60
TEXT_MAX_DEFAULT = 5000
DEADLINE_FIELDS = ("first_response_due", "acknowledge_due", "resolution_due")
TRACKING_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass(frozen=True)
class TicketInput:
    customer_id: int
    description: str
    channel: Channel
    urgency: Urgency = Urgency.NORMAL
    order_number: str | None = None
    idempotency_key: str | None = None
    department_id: int | None = None
    assignee_id: int | None = None
    with_tracking_token: bool = False


@dataclass(frozen=True)
class FollowUpInput:
    method: FollowUpMethod
    discussed: str
    customer_feedback: str | None = None
    next_step: str | None = None
    next_owner_id: int | None = None
    next_due_at: datetime | None = None
    done: bool = False
    visible_to_customer: bool = False


def clean_text(value: str, field: str, *, required: bool = True, limit: int | None = None) -> str:
    limit = limit or get_settings().description_max_length
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: N_("Required.")}
        )
    if len(text) > limit:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={field: N_("Too long.")},
            limit=limit,
        )
    return text


def title_from(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else ""
    return first if len(first) <= TITLE_MAX else first[: TITLE_MAX - 1] + "…"


async def create(
    session: AsyncSession, actor: Actor, data: TicketInput
) -> tuple[Ticket, str | None]:
    """Register a pending ticket and ask the worker to triage it.

    Returns the ticket and, when asked for, the raw tracking token (only its hash is kept).
    A repeated idempotency key returns the ticket the first request created.
    """
    description = clean_text(data.description, "description")
    order_number = (data.order_number or "").strip()[:64] or None
    if data.idempotency_key:
        existing = await session.scalar(
            select(Ticket).where(Ticket.idempotency_key == data.idempotency_key)
        )
        if existing is not None:
            return existing, None
    customer = await session.get(Customer, data.customer_id)
    if customer is None:
        raise NotFound(N_("Customer not found."))
    now = utcnow()
    priority = compute_priority(data.urgency, customer.level)
    token = new_token() if data.with_tracking_token else None
    ticket = Ticket(
        number=await next_number(session, "TASK", 4, now, get_settings().timezone),
        customer_id=customer.id,
        title=title_from(description),
        description=description,
        order_number=order_number,
        channel=data.channel,
        urgency=data.urgency,
        priority=priority,
        priority_rank=priority_rank(priority, customer.level),
        department_id=data.department_id,
        assignee_id=data.assignee_id,
        owner_id=data.assignee_id,
        assigned_at=now if data.assignee_id else None,
        status=TicketStatus.PENDING,
        created_at=now,
        tracking_token_hash=token_hash(token) if token else None,
        idempotency_key=data.idempotency_key,
    )
    session.add(ticket)
    await session.flush()
    await policy.refresh_deadlines(session, ticket, customer.level, now=now)
    audit.record(
        session,
        actor,
        entity_type="ticket",
        entity_id=ticket.id,
        ticket_id=ticket.id,
        action="create",
        after={"number": ticket.number, "channel": str(data.channel)},
    )
    record_job(session, triage_job(ticket.id))
    record_event(session, "ticket.created", ticket_id=ticket.id, status=str(ticket.status))
    return ticket, token


async def get(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket:
    stmt = (
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(
            selectinload(Ticket.customer),
            selectinload(Ticket.assignee),
            selectinload(Ticket.department),
            selectinload(Ticket.collaborators),
        )
    )
    if for_update:
        stmt = stmt.with_for_update()
    ticket = await session.scalar(stmt)
    if ticket is None:
        raise NotFound(N_("Ticket not found."))
    return ticket


def can_work(actor: Actor, ticket: Ticket) -> bool:
    """Leads and admins work every ticket; agents those of their department or their own."""
    if actor.is_lead:
        return True
    if actor.user_id is None:
        return False
    if ticket.assignee_id == actor.user_id or ticket.owner_id == actor.user_id:
        return True
    return ticket.department_id is None or ticket.department_id == actor.department_id


def ensure_can_work(actor: Actor, ticket: Ticket) -> None:
    if not can_work(actor, ticket):
        raise Forbidden(N_("This ticket belongs to another department."))


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict(
            N_("%(number)s was changed by someone else; it now shows their change."),
            number=ticket.number,
            current=ticket,
        )


def _change(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    field: str,
    after: Any,
    action: str = "change",
) -> None:
    before = getattr(ticket, field)
    if before == after:
        return
    audit.record(
        session,
        actor,
        entity_type="ticket",
        entity_id=ticket.id,
        ticket_id=ticket.id,
        action=action,
        field=field,
        before=before,
        after=after,
    )
    setattr(ticket, field, after)


async def flush_versioned(session: AsyncSession, ticket: Ticket) -> None:
    """Flush; a concurrent writer that won the race turns into a 409, never a lost update."""
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(
            N_("%(number)s was changed by someone else; it now shows their change."),
            number=ticket.number,
        ) from exc


@asynccontextmanager
async def versioned(session: AsyncSession, ticket: Ticket) -> AsyncIterator[None]:
    """A block of changes to one ticket that must never overwrite a concurrent writer's.

    SQLAlchemy's version column makes the ticket's UPDATE match nothing if someone else
    committed first. Autoflush may send that UPDATE from any query inside the block, so the
    whole block (and its final flush) turns the lost race into a 409.
    """
    number = ticket.number  # the failed flush expires the row
    try:
        yield
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(
            N_("%(number)s was changed by someone else; it now shows their change."),
            number=number,
        ) from exc


async def _refresh_deadlines(
    session: AsyncSession, actor: Actor, ticket: Ticket, *, now: datetime | None = None
) -> None:
    """Recompute the SLA deadlines and audit every one that moved."""
    before = {name: getattr(ticket, name) for name in DEADLINE_FIELDS}
    await policy.refresh_deadlines(session, ticket, ticket.customer.level, now=now)
    for name, old in before.items():
        new = getattr(ticket, name)
        if old != new:
            audit.record(
                session,
                actor,
                entity_type="ticket",
                entity_id=ticket.id,
                ticket_id=ticket.id,
                action="deadline",
                field=name,
                before=old.isoformat() if old else None,
                after=new.isoformat() if new else None,
            )


def _updated(session: AsyncSession, ticket: Ticket, kind: str = "ticket.updated") -> None:
    """Tell every board (after commit) that this ticket's card changed."""
    record_event(
        session, kind, ticket_id=ticket.id, status=str(ticket.status), version=ticket.version
    )


async def _load_for_change(
    session: AsyncSession, actor: Actor, ticket_id: int, expected_version: int | None
) -> Ticket:
    """The ticket, if this actor may work it and nobody changed it since they looked."""
    ticket = await get(session, ticket_id)
    ensure_can_work(actor, ticket)
    check_version(ticket, expected_version)
    return ticket


async def move(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    target: TicketStatus,
    *,
    expected_version: int | None,
    resolution: str | None = None,
) -> Ticket:
    """Move a ticket to another state, if the state machine, the role and the version allow.

    Moving to completed needs the resolution, which becomes a follow-up record visible to
    the customer. Refusals raise before anything is written.
    """
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    source = TicketStatus(ticket.status)
    rule = rule_for(source, target, actor)
    async with versioned(session, ticket):
        now = utcnow()
        text = clean_text(resolution or "", "resolution") if rule.needs_resolution else None
        if text is not None:
            session.add(
                FollowUp(
                    ticket_id=ticket.id,
                    user_id=actor.user_id,
                    method=FollowUpMethod.ONLINE_CHAT,
                    discussed=text,
                    done=True,
                    visible_to_customer=True,
                    is_resolution=True,
                    at=now,
                )
            )
        _change(session, actor, ticket, "status", target, action="move")
        if rule.acknowledges:
            if ticket.assignee_id is None and actor.user_id is not None:
                _change(session, actor, ticket, "assignee_id", actor.user_id, action="assign")
                ticket.owner_id = ticket.owner_id or actor.user_id
                ticket.assigned_at = now
            ticket.acknowledged_at = ticket.acknowledged_at or now
            ticket.first_responded_at = ticket.first_responded_at or now
        if target is TicketStatus.AWAITING_CONFIRMATION:
            ticket.paused_since = now
        elif source is TicketStatus.AWAITING_CONFIRMATION:
            policy.close_pause(ticket, (await policy.load_rules(session)).calendar, now)
        if target is TicketStatus.COMPLETED:
            ticket.resolved_at = now
        elif target is TicketStatus.CLOSED:
            ticket.closed_at = now
        elif target is TicketStatus.IN_PROGRESS and source in (
            TicketStatus.COMPLETED,
            TicketStatus.CLOSED,
        ):
            ticket.resolved_at = None
            ticket.closed_at = None
        await _refresh_deadlines(session, actor, ticket, now=now)
    if target is TicketStatus.COMPLETED:
        await surveys.create_for_ticket(session, ticket, now=now)
    record_event(
        session,
        "ticket.moved",
        ticket_id=ticket.id,
        status=str(target),
        source=str(source),
        version=ticket.version,
    )
    return ticket


async def _active_user(session: AsyncSession, user_id: int, field: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise ValidationFailed(N_("Unknown staff member."), fields={field: N_("Unknown.")})
    return user


async def assign(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    assignee_id: int | None,
    *,
    expected_version: int | None,
) -> Ticket:
    """Hand the ticket to someone (or nobody); the new assignee's acknowledgement clock starts."""
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    if assignee_id is not None:
        await _active_user(session, assignee_id, "assignee_id")
    if ticket.assignee_id == assignee_id:
        return ticket
    async with versioned(session, ticket):
        now = utcnow()
        _change(session, actor, ticket, "assignee_id", assignee_id, action="assign")
        ticket.assigned_at = now if assignee_id else None
        ticket.acknowledged_at = None
        ticket.owner_id = ticket.owner_id or assignee_id
        await _refresh_deadlines(session, actor, ticket, now=now)
    _updated(session, ticket)
    return ticket


async def change_priority(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    priority: Priority,
    *,
    expected_version: int | None,
) -> Ticket:
    """Override the computed priority; the board order and the deadlines follow."""
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    if ticket.priority == priority:
        return ticket
    async with versioned(session, ticket):
        _change(session, actor, ticket, "priority", priority)
        ticket.priority_rank = priority_rank(priority, ticket.customer.level)
        await _refresh_deadlines(session, actor, ticket)
    _updated(session, ticket)
    return ticket


async def change_type(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    request_type: RequestType,
    *,
    expected_version: int | None,
) -> Ticket:
    """A person sets the type; a lead's change is also a correction the model learns from."""
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    previous = RequestType(ticket.request_type) if ticket.request_type else None
    source = TypeSource.LEAD if actor.is_lead else TypeSource.AGENT
    if previous is request_type and ticket.type_source == source:
        return ticket
    async with versioned(session, ticket):
        _change(session, actor, ticket, "request_type", request_type)
        _change(session, actor, ticket, "type_source", source)
        if actor.is_lead:
            session.add(
                Label(
                    ticket_id=ticket.id,
                    text=ticket.description,
                    category=request_type,
                    previous_category=previous,
                    source="lead",
                    created_by_id=actor.user_id,
                )
            )
        await _refresh_deadlines(session, actor, ticket)
    _updated(session, ticket)
    if actor.is_lead:
        await lifecycle.label_added(session)  # queues a retraining after N new labels
    return ticket


async def _set_collaborators(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    collaborators: list[User],
    *,
    action: str,
    before: int | None = None,
    after: int | None = None,
) -> Ticket:
    async with versioned(session, ticket):
        ticket.collaborators = collaborators
        ticket.updated_at = utcnow()  # a row update, so the version moves too
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=ticket.id,
            ticket_id=ticket.id,
            action=action,
            field="collaborators",
            before=before,
            after=after,
        )
    _updated(session, ticket)
    return ticket


async def add_collaborator(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    user_id: int,
    *,
    expected_version: int | None,
) -> Ticket:
    """Bring a colleague (often of another department) into the ticket."""
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    user = await _active_user(session, user_id, "user_id")
    if any(c.id == user.id for c in ticket.collaborators):
        return ticket
    return await _set_collaborators(
        session,
        actor,
        ticket,
        [*ticket.collaborators, user],
        action="collaborator_add",
        after=user.id,
    )


async def remove_collaborator(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    user_id: int,
    *,
    expected_version: int | None,
) -> Ticket:
    ticket = await _load_for_change(session, actor, ticket_id, expected_version)
    remaining = [c for c in ticket.collaborators if c.id != user_id]
    if len(remaining) == len(ticket.collaborators):
        return ticket
    return await _set_collaborators(
        session, actor, ticket, remaining, action="collaborator_remove", before=user_id
    )


async def add_follow_up(
    session: AsyncSession, actor: Actor, ticket_id: int, data: FollowUpInput
) -> FollowUp:
    """Record 3: a contact with the customer about this ticket."""
    ticket = await get(session, ticket_id)
    ensure_can_work(actor, ticket)
    discussed = clean_text(data.discussed, "discussed")
    feedback = clean_text(data.customer_feedback or "", "customer_feedback", required=False)
    next_step = clean_text(data.next_step or "", "next_step", required=False)
    if data.next_owner_id is not None:
        await _active_user(session, data.next_owner_id, "next_owner_id")
    follow_up = FollowUp(
        ticket_id=ticket.id,
        user_id=actor.user_id,
        method=data.method,
        discussed=discussed,
        customer_feedback=feedback or None,
        next_step=next_step or None,
        next_owner_id=data.next_owner_id,
        next_due_at=data.next_due_at,
        done=data.done,
        visible_to_customer=data.visible_to_customer,
    )
    async with versioned(session, ticket):
        session.add(follow_up)
        if ticket.first_responded_at is None:
            ticket.first_responded_at = utcnow()
    audit.record(
        session,
        actor,
        entity_type="follow_up",
        entity_id=follow_up.id,
        ticket_id=ticket.id,
        action="follow_up",
        after={"method": str(data.method)},
    )
    _updated(session, ticket)
    return follow_up


async def follow_ups(session: AsyncSession, ticket_id: int) -> list[FollowUp]:
    stmt = select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.at)
    return list((await session.scalars(stmt)).all())


async def by_tracking_token(session: AsyncSession, token: str) -> Ticket:
    """The ticket a tracking link opens; a malformed or wrong token is the same 404."""
    if not TRACKING_TOKEN_RE.match(token or ""):
        raise NotFound(N_("No inquiry matches this link."))
    ticket = await session.scalar(
        select(Ticket).where(Ticket.tracking_token_hash == token_hash(token))
    )
    if ticket is None:
        raise NotFound(N_("No inquiry matches this link."))
    return ticket
