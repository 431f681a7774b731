"""Record 2: the one write path for a ticket — creating, moving, editing, following up, and
every change other services make to a ticket (triage, a customer's level, the SLA panel, a
mail reply, the SLA tick's flags).

Every command runs inside :func:`models.services.tickets.write.change`: it checks the version
(a stale one is the same :class:`Conflict` everywhere), recomputes the priority rank and the
deadlines, audits each field that actually changed (nothing when nothing changed) and records
the board event, published once the transaction commits. No other module assigns a ticket's
columns; ``tests/integration/tickets/test_write_path.py`` holds them to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.attachment import Attachment
from models.base import utcnow
from models.customer import Customer
from models.db import record_event, record_job
from models.enums import (
    Channel,
    CustomerLevel,
    FollowUpMethod,
    Priority,
    RequestType,
    TicketStatus,
    TypeSource,
    Urgency,
)
from models.followup import FollowUp
from models.i18n import render
from models.label import Label
from models.services.common import audit, search
from models.services.common.actor import Actor
from models.services.common.crypto import new_token, token_hash
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import triage_job
from models.services.common.numbering import next_number
from models.services.common.priority import compute_priority, priority_rank
from models.services.customers import registry
from models.services.knowledge import lifecycle
from models.services.notify import notifications
from models.services.sla import policy
from models.services.sla.deadlines import BusinessCalendar
from models.services.tickets import mentions, surveys
from models.services.tickets.transitions import TRANSITIONS, Rule, rule_for
from models.services.tickets.write import DEADLINE_FIELDS as DEADLINE_FIELDS
from models.services.tickets.write import Change, change, check_version, customer_level
from models.services.tickets.write import OverdueFlag as OverdueFlag
from models.services.tickets.write import clear_customer_reply as clear_customer_reply
from models.services.tickets.write import mark_overdue as mark_overdue
from models.services.tickets.write import reschedule_sla as reschedule_sla
from models.services.tickets.write import stale as stale
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User
from triage.text import drop_salutations

TITLE_MAX = 60
TEXT_MAX_DEFAULT = 5000
TRACKING_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
EXCERPT = 120


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
    """The description's first line of substance: a letter's greeting ("您好：", "Hi team,")
    would title every such ticket alike on the board."""
    body = drop_salutations(description.strip())
    first = body.splitlines()[0].strip() if body else ""
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
    await search.bulk_index_tickets(session, [(ticket.id, search.ticket_fields(ticket))])
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
    await _tell(
        session,
        actor,
        ticket,
        notifications.KIND_ASSIGNED,
        N_("%(actor)s assigned %(number)s to you: %(title)s"),
        [data.assignee_id],
        title=ticket.title,
    )
    return ticket, token


# What get() loads with a ticket; a ticket this session already holds with all of them
# loaded is returned as it is (a drawer asked for it three times, 5 statements each).
_WITH = ("customer", "assignee", "department", "collaborators")


async def get(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket:
    if not for_update:
        held = session.identity_map.get(session.identity_key(Ticket, ticket_id))
        if isinstance(held, Ticket):
            state = inspect(held)
            if (
                not state.expired
                and not state.expired_attributes
                and state.unloaded.isdisjoint(_WITH)
            ):
                return held
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


async def _load_for_change(
    session: AsyncSession, actor: Actor, ticket_id: int, expected_version: int | None
) -> Ticket:
    """The ticket, if this actor may work it and nobody changed it since they looked."""
    ticket = await get(session, ticket_id)
    ensure_can_work(actor, ticket)
    check_version(ticket, expected_version)
    return ticket


def _apply_move(
    session: AsyncSession,
    edit: Change,
    source: TicketStatus,
    target: TicketStatus,
    rule: Rule,
    calendar: BusinessCalendar,
    resolution: str | None,
) -> None:
    """The state machine's side of a move, inside a change (the clocks a move starts/stops)."""
    ticket, actor, now = edit.ticket, edit.actor, edit.now
    if resolution is not None:
        session.add(
            FollowUp(
                ticket_id=ticket.id,
                user_id=actor.user_id,
                method=FollowUpMethod.ONLINE_CHAT,
                discussed=resolution,
                done=True,
                visible_to_customer=True,
                is_resolution=True,
                at=now,
            )
        )
    edit.set("status", target)
    if rule.acknowledges:
        if ticket.assignee_id is None and actor.user_id is not None:
            edit.set("assignee_id", actor.user_id)
            edit.set("owner_id", ticket.owner_id or actor.user_id)
            edit.set("assigned_at", now)
        edit.set("acknowledged_at", ticket.acknowledged_at or now)
        edit.set("first_responded_at", ticket.first_responded_at or now)
    if target is TicketStatus.AWAITING_CONFIRMATION:
        edit.set("paused_since", now)
    elif source is TicketStatus.AWAITING_CONFIRMATION and ticket.paused_since is not None:
        paused = ticket.paused_since
        edit.set("paused_seconds", ticket.paused_seconds + int((now - paused).total_seconds()))
        edit.set(
            "paused_business_seconds",
            ticket.paused_business_seconds + int(calendar.between(paused, now).total_seconds()),
        )
        edit.set("paused_since", None)
    if target is TicketStatus.COMPLETED:
        edit.set("resolved_at", now)
    elif target is TicketStatus.CLOSED:
        edit.set("closed_at", now)
    elif target is TicketStatus.IN_PROGRESS and source in (
        TicketStatus.COMPLETED,
        TicketStatus.CLOSED,
    ):
        edit.set("resolved_at", None)
        edit.set("closed_at", None)
    edit.notify("ticket.moved", source=str(source))


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
    text = clean_text(resolution or "", "resolution") if rule.needs_resolution else None
    calendar = (await policy.load_rules(session)).calendar
    async with change(session, actor, ticket) as edit:
        _apply_move(session, edit, source, target, rule, calendar, text)
    if target is TicketStatus.COMPLETED:
        await surveys.create_for_ticket(session, ticket, now=edit.now)
    return ticket


async def _active_user(session: AsyncSession, user_id: int, field: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise ValidationFailed(N_("Unknown staff member."), fields={field: N_("Unknown.")})
    return user


async def _tell(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    kind: str,
    message: str,
    user_ids: list[int | None],
    **params: str,
) -> None:
    """Tell these people about what the actor just did to the ticket — never the actor."""
    told = [i for i in user_ids if i is not None and i != actor.user_id]
    if not told:
        return
    who = await session.get(User, actor.user_id) if actor.user_id is not None else None
    await notifications.notify(
        session,
        kind=kind,
        message=message,
        params={
            "number": ticket.number,
            "actor": who.display_name if who else actor.label,
            **params,
        },
        user_ids=told,
        ticket_id=ticket.id,
    )


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


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
    async with change(session, actor, ticket) as edit:
        edit.set("assignee_id", assignee_id)
        edit.set("assigned_at", edit.now if assignee_id else None)
        edit.set("acknowledged_at", None)
        edit.set("owner_id", ticket.owner_id or assignee_id)
    await _tell(
        session,
        actor,
        ticket,
        notifications.KIND_ASSIGNED,
        N_("%(actor)s assigned %(number)s to you: %(title)s"),
        [assignee_id],
        title=ticket.title,
    )
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
    async with change(session, actor, ticket) as edit:
        edit.set("priority", priority)
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
    async with change(session, actor, ticket) as edit:
        edit.set("request_type", request_type)
        edit.set("type_source", source)
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
    async with change(session, actor, ticket) as edit:
        ticket.collaborators = collaborators
        edit.touch()
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
    await _set_collaborators(
        session,
        actor,
        ticket,
        [*ticket.collaborators, user],
        action="collaborator_add",
        after=user.id,
    )
    await _tell(
        session,
        actor,
        ticket,
        notifications.KIND_COLLABORATOR_ADDED,
        N_("%(actor)s added you as a collaborator on %(number)s: %(title)s"),
        [user.id],
        title=ticket.title,
    )
    return ticket


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
    """Record 3: a contact with the customer about this ticket (the first one is the first
    response)."""
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
    async with change(session, actor, ticket) as edit:
        session.add(follow_up)
        edit.set("first_responded_at", ticket.first_responded_at or edit.now)
        edit.notify()
    audit.record(
        session,
        actor,
        entity_type="follow_up",
        entity_id=follow_up.id,
        ticket_id=ticket.id,
        action="follow_up",
        after={"method": str(data.method)},
    )
    texts = (discussed, feedback, next_step)
    if "@" in "".join(texts):
        await _tell(
            session,
            actor,
            ticket,
            notifications.KIND_MENTIONED,
            N_("%(actor)s mentioned you on %(number)s: %(excerpt)s"),
            list(mentions.mentioned(texts, await mentions.active_staff(session))),
            excerpt=_excerpt(discussed),
        )
    return follow_up


async def add_customer_reply(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    follow_up: FollowUp,
    details: dict[str, Any] | None = None,
) -> bool:
    """The customer's message (any channel) as a follow-up: the ticket's version moves, it is
    marked "customer replied" until someone working it opens it, and a ticket awaiting their
    confirmation or completed goes back to work — one change, one event. ``details`` go on
    the follow-up's audit entry (a sender warning, for one). Returns whether it reopened."""
    source = TicketStatus(ticket.status)
    reopen = source in (TicketStatus.AWAITING_CONFIRMATION, TicketStatus.COMPLETED)
    # The customer's own word reopens the case, whichever channel relays it (reopening a
    # completed ticket by hand stays a lead's decision).
    rule = TRANSITIONS[(source, TicketStatus.IN_PROGRESS)] if reopen else None
    calendar = (await policy.load_rules(session)).calendar
    async with change(session, actor, ticket) as edit:
        session.add(follow_up)
        edit.touch()
        edit.set("customer_replied_at", follow_up.at or edit.now)
        edit.notify(by_customer=True)
        if rule is not None:
            _apply_move(session, edit, source, TicketStatus.IN_PROGRESS, rule, calendar, None)
    audit.record(
        session,
        actor,
        entity_type="follow_up",
        entity_id=follow_up.id,
        ticket_id=ticket.id,
        action="follow_up",
        after={"method": str(follow_up.method), **(details or {})},
    )
    if rule is not None:
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=ticket.id,
            ticket_id=ticket.id,
            action="customer_reopened",
            before=str(source),
        )
    return rule is not None


# --- the customer's confirmation ---------------------------------------------------------

NOT_AWAITING = N_("This inquiry is no longer awaiting your confirmation.")


def ensure_awaiting_confirmation(ticket: Ticket) -> None:
    """A confirmation (or its absence) only answers a ticket that waits for it: 409 else."""
    if TicketStatus(ticket.status) is not TicketStatus.AWAITING_CONFIRMATION:
        raise Conflict(NOT_AWAITING)


async def _complete_confirmation(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    note: FollowUp,
    action: str,
    now: datetime | None,
    after: Any = None,
) -> Ticket:
    """Complete a ticket awaiting confirmation without a new resolution: the one the agent
    proposed stands. ``note`` says in the timeline (and on the tracking page) why."""
    rule = TRANSITIONS[(TicketStatus.AWAITING_CONFIRMATION, TicketStatus.COMPLETED)]
    calendar = (await policy.load_rules(session)).calendar
    async with change(session, actor, ticket, now=now) as edit:
        note.at = edit.now
        session.add(note)
        _apply_move(
            session,
            edit,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
            rule,
            calendar,
            None,
        )
    audit.record(
        session,
        actor,
        entity_type="ticket",
        entity_id=ticket.id,
        ticket_id=ticket.id,
        action=action,
        after=after,
    )
    await surveys.create_for_ticket(session, ticket, now=edit.now)
    return ticket


async def confirm_solved(session: AsyncSession, actor: Actor, ticket: Ticket) -> Ticket:
    """The customer confirms the proposed solution: the ticket is completed and its survey
    opens. Refused (409, nothing written) unless the ticket awaits their confirmation."""
    ensure_awaiting_confirmation(ticket)
    text = render(N_("The customer confirmed the problem is solved."), {}, _locale())
    note = _confirmation_note(ticket, text, by_customer=True)
    return await _complete_confirmation(
        session, actor, ticket, note, "customer_confirmed", None, after="solved"
    )


async def complete_unconfirmed(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    *,
    waiting_since: datetime,
    hours: int,
    now: datetime,
) -> bool:
    """The silence rule: a ticket still waiting (since ``waiting_since``) for a confirmation
    that never came is completed. Returns False — nothing written — when the ticket stopped
    waiting or waits again since another instant (the job may run late, or twice)."""
    if (
        TicketStatus(ticket.status) is not TicketStatus.AWAITING_CONFIRMATION
        or ticket.paused_since != waiting_since
    ):
        return False
    text = render(
        N_("The customer did not confirm within %(hours)s hours; completed automatically."),
        {"hours": hours},
        _locale(),
    )
    note = _confirmation_note(ticket, text, by_customer=False)
    await _complete_confirmation(
        session, actor, ticket, note, "confirmation_timeout", now, after={"hours": hours}
    )
    return True


def _confirmation_note(ticket: Ticket, text: str, *, by_customer: bool) -> FollowUp:
    """The timeline entry, visible to the customer, that says why a confirmation ended."""
    return FollowUp(
        ticket_id=ticket.id,
        user_id=None,
        by_customer=by_customer,
        method=FollowUpMethod.ONLINE_CHAT,
        discussed=text,
        visible_to_customer=True,
        done=True,
    )


def _locale() -> str:
    return get_settings().default_locale


async def set_tracking(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    token: str | None,
    *,
    api_key_id: int | None = None,
) -> Ticket:
    """The tracking link the registering channel hands out (only its hash is kept; None: no
    link) and the API client that registered the ticket."""
    async with change(session, actor, ticket) as edit:
        edit.set("tracking_token_hash", token_hash(token) if token else None)
        if api_key_id is not None:
            edit.set("api_key_id", api_key_id)
    return ticket


async def route_new(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    *,
    department_id: int | None = None,
    repeat_of_id: int | None = None,
    customer_replied_at: datetime | None = None,
) -> Ticket:
    """What a channel knows about a ticket it just registered: the department its mailbox
    serves (only if none was chosen), the earlier ticket it repeats and — a customer's
    message that opened it — the "customer replied" mark."""
    async with change(session, actor, ticket) as edit:
        if department_id is not None and ticket.department_id is None:
            edit.set("department_id", department_id)
        if repeat_of_id is not None:
            edit.set("is_repeat", True)
            edit.set("repeat_of_id", repeat_of_id)
        if customer_replied_at is not None:
            edit.set("customer_replied_at", customer_replied_at)
    return ticket


# --- merging a duplicate ------------------------------------------------------------------

MERGE_SELF = N_("A ticket cannot be merged into itself.")
MERGE_INTO_CLOSED = N_("%(number)s is closed or merged; merge into an open ticket.")
MERGE_ALREADY = N_("%(number)s is already merged into %(primary)s.")
MERGE_OTHER_CUSTOMER = N_(
    "%(duplicate)s and %(primary)s belong to different customers; confirm to merge them anyway."
)


async def merge_check(
    session: AsyncSession,
    actor: Actor,
    duplicate_id: int,
    primary_id: int,
    *,
    other_customer_confirmed: bool = False,
    expected_version: int | None = None,
) -> tuple[Ticket, Ticket]:
    """The two tickets of a merge, if it may be made (see :func:`merge`); writes nothing."""
    if duplicate_id == primary_id:
        raise ValidationFailed(MERGE_SELF)
    duplicate = await _load_for_change(session, actor, duplicate_id, expected_version)
    primary = await get(session, primary_id)
    ensure_can_work(actor, primary)
    if duplicate.merged_into_id is not None:
        into = await session.get(Ticket, duplicate.merged_into_id)
        raise Conflict(MERGE_ALREADY, number=duplicate.number, primary=into.number if into else "")
    if primary.merged_into_id is not None or TicketStatus(primary.status) is TicketStatus.CLOSED:
        raise ValidationFailed(MERGE_INTO_CLOSED, number=primary.number)
    if duplicate.customer_id != primary.customer_id and not other_customer_confirmed:
        raise Conflict(MERGE_OTHER_CUSTOMER, duplicate=duplicate.number, primary=primary.number)
    return duplicate, primary


async def merge(
    session: AsyncSession,
    actor: Actor,
    duplicate_id: int,
    primary_id: int,
    *,
    other_customer_confirmed: bool = False,
    expected_version: int | None = None,
) -> Ticket:
    """Merge a duplicate ticket into its primary; returns the primary.

    The duplicate's follow-ups, attachments and labels move to the primary (a note on the
    primary's timeline names where they came from and keeps the duplicate's description),
    its collaborators join the primary's; the duplicate is closed with ``merged_into_id`` set,
    so its number and links lead to the primary from now on. The primary's SLA is left as it
    is (its deadlines follow its own registration). Both tickets must be workable by the actor.
    Refused before anything is written: into itself, into a closed or merged ticket, a
    duplicate already merged, and — unless confirmed — tickets of two different customers
    (a mistaken merge would show one customer's conversation to another).
    """
    duplicate, primary = await merge_check(
        session,
        actor,
        duplicate_id,
        primary_id,
        other_customer_confirmed=other_customer_confirmed,
        expected_version=expected_version,
    )
    moved: dict[str, int] = {}
    for name, row in (("follow_ups", FollowUp), ("attachments", Attachment), ("labels", Label)):
        values: dict[str, Any] = {"ticket_id": primary.id}
        if row is FollowUp:  # each keeps its "merged from" mark (a later merge keeps the first)
            values["merged_from_id"] = func.coalesce(FollowUp.merged_from_id, duplicate.id)
        result = await session.execute(
            update(row)
            .where(row.ticket_id == duplicate.id)  # type: ignore[attr-defined]
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        moved[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    note = render(
        N_(
            "Merged from %(number)s (%(follow_ups)s follow-ups, %(attachments)s attachments): "
            "%(description)s"
        ),
        {"number": duplicate.number, "description": duplicate.description, **moved},
        _locale(),
    )
    async with change(session, actor, primary) as edit:
        session.add(
            FollowUp(
                ticket_id=primary.id,
                user_id=actor.user_id,
                method=FollowUpMethod.ONLINE_CHAT,
                discussed=note,
                done=True,
                at=edit.now,
            )
        )
        known = {c.id for c in primary.collaborators}
        joining = [c for c in duplicate.collaborators if c.id not in known]
        if joining:
            primary.collaborators = [*primary.collaborators, *joining]
        edit.touch()
        edit.notify("ticket.merged", duplicate=duplicate.number)
    source = TicketStatus(duplicate.status)
    async with change(session, actor, duplicate) as edit:
        edit.set("merged_into_id", primary.id)
        edit.set("status", TicketStatus.CLOSED)
        edit.set("closed_at", edit.now)
        edit.set("paused_since", None)
        edit.notify("ticket.moved", source=str(source))
    for on, action, other in (
        (duplicate, "merged_into", primary),
        (primary, "merged_from", duplicate),
    ):
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=on.id,
            ticket_id=on.id,
            action=action,
            after=other.number,
        )
    return primary


async def resolve_merged(session: AsyncSession, ticket: Ticket) -> Ticket:
    """The ticket a message or a link for ``ticket`` belongs to: itself, or — merged — the
    primary it was merged into (followed to the end of a chain of merges)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen:
        seen.add(ticket.merged_into_id)
        ticket = await get(session, ticket.merged_into_id)
    return ticket


# --- triage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Triaged:
    """What triage decided for a ticket (the rules are in :mod:`.triage`)."""

    priority: Priority
    request_type: RequestType | None = None  # None: a person's type is kept
    confidence: float | None = None
    model_version: str | None = None
    department_id: int | None = None
    repeat_of_id: int | None = None


async def record_triage(
    session: AsyncSession, actor: Actor, ticket: Ticket, result: Triaged, now: datetime
) -> Ticket:
    """Write triage's verdict; the board hears ``ticket.triaged`` once."""
    async with change(session, actor, ticket, now=now) as edit:
        if result.request_type is not None:
            edit.set("request_type", result.request_type)
            edit.set("type_source", TypeSource.MODEL)
            edit.set("type_confidence", result.confidence)
            edit.set("model_version", result.model_version)
        edit.set("priority", result.priority)
        if result.department_id is not None and ticket.department_id is None:
            edit.set("department_id", result.department_id)
        if result.repeat_of_id is not None:
            edit.set("is_repeat", True)
            edit.set("repeat_of_id", result.repeat_of_id)
        edit.set("triaged_at", now)
        request_type = ticket.request_type
        edit.notify("ticket.triaged", request_type=str(request_type) if request_type else None)
    return ticket


# --- a customer's level -------------------------------------------------------------------


async def change_customer_level(
    session: AsyncSession, actor: Actor, customer_id: int, level: CustomerLevel
) -> Customer:
    """Change a customer's level (audited) and re-rank their open tickets through the write
    path: each gets the new level's place on the board and its SLA targets, every moved
    deadline audited. A ticket's priority follows the level only while it still is the
    computed one: a priority a person set by hand is kept."""
    customer, old = await registry.set_level(session, actor, customer_id, level)
    if old is None:
        return customer
    open_tickets = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer.id, Ticket.status.in_(policy.OPEN_STATES))
            .options(selectinload(Ticket.customer))
            .order_by(Ticket.id)
        )
    ).all()
    for ticket in open_tickets:
        request_type = RequestType(ticket.request_type) if ticket.request_type else None
        async with change(session, actor, ticket, level=level) as edit:
            if ticket.priority == compute_priority(ticket.urgency, old, request_type):
                edit.set("priority", compute_priority(ticket.urgency, level, request_type))
    return customer


async def reassign_customer(
    session: AsyncSession, actor: Actor, ticket: Ticket, customer: Customer
) -> Ticket:
    """The ticket now belongs to another customer record (a customer merge): its rank and
    SLA targets follow that customer's level, and its timeline says from whom to whom.
    Reassigning to the customer it already has changes nothing."""
    previous = ticket.customer_id
    if previous == customer.id:
        return ticket
    before = await session.get(Customer, previous)
    async with change(session, actor, ticket, level=CustomerLevel(customer.level)) as edit:
        edit.set("customer_id", customer.id)
        edit.touch()
        audit.record(
            session,
            actor,
            entity_type="ticket",
            entity_id=ticket.id,
            ticket_id=ticket.id,
            action="change",
            field="customer",
            before=before.number if before else None,
            after=customer.number,
        )
    return ticket


# --- the SLA panel ------------------------------------------------------------------------


async def acknowledge(
    session: AsyncSession, actor: Actor, ticket: Ticket, *, now: datetime | None = None
) -> Ticket:
    """The assignment is acknowledged: escalation stops (the caller decided who may)."""
    async with change(session, actor, ticket, now=now) as edit:
        edit.set("acknowledged_at", ticket.acknowledged_at or edit.now)
    return ticket


async def record_chat_reply(session: AsyncSession, actor: Actor, ticket: Ticket) -> Ticket:
    """An agent answered in a live chat: the first answer is the ticket's first response and
    acknowledges the assignment (the chat transcript itself is not a follow-up record)."""
    if ticket.first_responded_at is not None and ticket.acknowledged_at is not None:
        return ticket
    async with change(session, actor, ticket) as edit:
        edit.set("first_responded_at", ticket.first_responded_at or edit.now)
        edit.set("acknowledged_at", ticket.acknowledged_at or edit.now)
    return ticket


async def record_overdue_reason(
    session: AsyncSession, actor: Actor, ticket: Ticket, reason: str
) -> Ticket:
    """Why an overdue ticket is late."""
    async with change(session, actor, ticket) as edit:
        edit.set("overdue_reason", reason)
    return ticket


async def policy_resolution_due(
    session: AsyncSession, ticket: Ticket, *, now: datetime
) -> datetime | None:
    """The resolution deadline the policy alone gives the ticket now (no extension), for an
    extension measured from it; the ticket is left as it was."""
    saved = {name: getattr(ticket, name) for name in (*DEADLINE_FIELDS, "extension_seconds")}
    level = await customer_level(session, ticket)
    ticket.extension_seconds = 0
    with session.no_autoflush:
        await policy.refresh_deadlines(session, ticket, level, now=now)
    base = ticket.resolution_due
    for name, value in saved.items():
        setattr(ticket, name, value)
    return base


async def extend_resolution(
    session: AsyncSession, actor: Actor, ticket: Ticket, extension_seconds: int, *, now: datetime
) -> Ticket:
    """An approved extension: ``extension_seconds`` on top of the policy's resolution deadline,
    kept through later refreshes; the ticket stops being overdue unless its first response is
    still late."""
    async with change(session, actor, ticket, now=now) as edit:
        edit.set("extension_seconds", extension_seconds)
        first_late = (
            ticket.first_responded_at is None
            and ticket.first_response_due is not None
            and ticket.first_response_due <= now
        )
        if not first_late:
            edit.set("overdue_since", None)
    return ticket


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
    # A merged duplicate's link shows the primary's tracking page.
    return await resolve_merged(session, ticket)
