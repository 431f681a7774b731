"""Bulk actions on selected tickets: assign, set priority, move, merge into one primary.

Each ticket goes through the write path on its own (its own savepoint), so one refused
ticket changes nothing about itself and stops nothing for the others; the answer says, per
ticket, whether it was done or refused and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Priority, TicketStatus
from models.services.common.actor import Actor
from models.services.common.errors import N_, DomainError, ValidationFailed
from models.services.tickets import commands, merge
from models.user import User

MAX_TICKETS = 200


class BulkKind(StrEnum):
    ASSIGN = "assign"
    PRIORITY = "priority"
    MOVE = "move"
    MERGE = "merge"


@dataclass(frozen=True)
class BulkAction:
    kind: BulkKind
    assignee_id: int | None = None
    priority: Priority | None = None
    status: TicketStatus | None = None
    resolution: str = ""
    primary_number: str = ""  # merge: the ticket the selected ones are merged into


@dataclass(frozen=True)
class Outcome:
    ticket_id: int
    number: str
    done: bool
    reason: str = ""  # msgid, when refused
    params: dict[str, Any] = field(default_factory=dict)


async def _check(session: AsyncSession, action: BulkAction, ticket_ids: list[int]) -> int | None:
    """Refuse the whole request for input no ticket could take (before touching any); for a
    merge, the primary's id."""
    if not ticket_ids:
        raise ValidationFailed(N_("Select at least one ticket."), fields={"ticket_ids": "x"})
    if len(ticket_ids) > MAX_TICKETS:
        raise ValidationFailed(
            N_("At most %(n)s tickets at a time."), fields={"ticket_ids": "x"}, n=MAX_TICKETS
        )
    if action.kind is BulkKind.PRIORITY and action.priority is None:
        raise ValidationFailed(N_("Choose a priority."), fields={"priority": N_("Required.")})
    if action.kind is BulkKind.MOVE and action.status is None:
        raise ValidationFailed(N_("Choose a state."), fields={"status": N_("Required.")})
    primary = None
    if action.kind is BulkKind.MERGE:
        try:
            primary = await merge.resolve_primary(session, action.primary_number)
        except DomainError as unknown:
            raise ValidationFailed(
                unknown.message, fields={"primary_number": unknown.message}
            ) from None
    if action.kind is BulkKind.ASSIGN and action.assignee_id is not None:
        user = await session.get(User, action.assignee_id)
        if user is None or not user.is_active:
            raise ValidationFailed(
                N_("Unknown staff member."), fields={"assignee_id": N_("Unknown.")}
            )
    return primary


async def _one(session: AsyncSession, actor: Actor, ticket_id: int, action: BulkAction) -> None:
    if action.kind is BulkKind.ASSIGN:
        await commands.assign(session, actor, ticket_id, action.assignee_id, expected_version=None)
    elif action.kind is BulkKind.MERGE:
        # A cross-customer merge needs the drawer's confirmation: refused and reported here.
        await merge.merge_by_number(session, actor, ticket_id, action.primary_number)
    elif action.kind is BulkKind.PRIORITY:
        assert action.priority is not None
        await commands.change_priority(
            session, actor, ticket_id, action.priority, expected_version=None
        )
    else:
        assert action.status is not None
        await commands.move(
            session,
            actor,
            ticket_id,
            action.status,
            expected_version=None,
            resolution=action.resolution or None,
        )


async def apply(
    session: AsyncSession, actor: Actor, ticket_ids: list[int], action: BulkAction
) -> list[Outcome]:
    """Apply the action to each ticket through the commands; one outcome per ticket."""
    ids = list(dict.fromkeys(ticket_ids))
    primary = await _check(session, action, ids)
    if primary is not None:
        # The primary may be among the selected: it is what the others merge into.
        ids = [i for i in ids if i != primary] or ids
    outcomes = []
    for ticket_id in ids:
        number = str(ticket_id)
        try:
            async with session.begin_nested():
                number = (await commands.get(session, ticket_id)).number
                await _one(session, actor, ticket_id, action)
        except DomainError as refused:
            outcomes.append(Outcome(ticket_id, number, False, refused.message, refused.params))
        else:
            outcomes.append(Outcome(ticket_id, number, True))
    return outcomes
