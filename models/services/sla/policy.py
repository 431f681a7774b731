"""Applies the SLA policy to tickets: deadlines on every change, the board's SLA state, and
the instants at which the ``sla_tick`` has something to do for a ticket.

The arithmetic is in :mod:`models.services.sla.deadlines` (pure); this module loads the
admin-edited policy and calendar and writes the results onto the ticket. Which SLA actions a
ticket's facts call for, and when, is :func:`ticket_triggers` — pure as well, so the board,
the deadline refresh and the worker's tick agree on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import CustomerLevel, TicketStatus
from models.services.sla.deadlines import (
    DEFAULT_CALENDAR,
    DEFAULT_POLICY,
    BusinessCalendar,
    PausedTime,
    SlaPolicy,
    SlaState,
    SlaStatus,
    compute_deadlines,
    sla_state,
)
from models.sla_policy import BusinessCalendar as CalendarRow
from models.sla_policy import SlaPolicy as PolicyRow
from models.ticket import Ticket
from models.ticket_count import running_due

_CACHE_KEY = "kefu_sla_rules"
OPEN_STATES = (TicketStatus.PENDING, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)

# The SLA rules, as stored in SlaAction.rule (at most 32 characters).
RULE_REMINDER = "urgent_reminder"
RULE_ESCALATION = "escalation"
RULE_FIRST_RESPONSE = "first_response_overdue"
RULE_RESOLUTION = "resolution_overdue"
RULE_LOW_CSAT = "low_csat"
RULE_NO_FOLLOW_UP = "no_follow_up"
RULE_CONFIRMATION = "confirmation_silence"


@dataclass(frozen=True)
class Rules:
    policy: SlaPolicy
    calendar: BusinessCalendar
    escalation_ladder: tuple[int, ...]


DEFAULT_LADDER = (60, 120, 240)
"""Minutes each escalation rung waits before the next one (see :func:`ticket_triggers`)."""


def calendar_from_row(row: CalendarRow) -> BusinessCalendar:
    """The pure calendar a stored row describes."""
    return BusinessCalendar.from_config(
        timezone=row.timezone,
        work_intervals=row.work_intervals,
        weekdays=row.weekdays,
        holidays=row.holidays,
        workdays=row.workdays,
    )


async def load_rules(session: AsyncSession) -> Rules:
    """The default policy and calendar rows (or the shipped defaults), once per transaction.

    Reading them never autoflushes: callers load the rules in the middle of a change to a
    ticket, and an early flush would send two UPDATEs (two version bumps) for one change.
    """
    cached = session.info.get(_CACHE_KEY)
    if isinstance(cached, Rules):
        return cached
    with session.no_autoflush:
        policy_row = await session.scalar(select(PolicyRow).where(PolicyRow.is_default.is_(True)))
        calendar_row = await session.scalar(
            select(CalendarRow).where(CalendarRow.is_default.is_(True))
        )
    policy = SlaPolicy.from_config(policy_row.config) if policy_row else DEFAULT_POLICY
    calendar = calendar_from_row(calendar_row) if calendar_row is not None else DEFAULT_CALENDAR
    ladder = (
        tuple(policy_row.escalation_ladder)
        if policy_row and policy_row.escalation_ladder
        else DEFAULT_LADDER
    )
    rules = Rules(policy, calendar, ladder)
    session.info[_CACHE_KEY] = rules
    return rules


def forget_rules(session: AsyncSession) -> None:
    """Drop the cached rules (after an admin saved new ones in this transaction)."""
    session.info.pop(_CACHE_KEY, None)


def paused_time(ticket: Ticket) -> PausedTime:
    return PausedTime(
        wall=timedelta(seconds=ticket.paused_seconds or 0),
        business=timedelta(seconds=ticket.paused_business_seconds or 0),
    )


async def refresh_deadlines(
    session: AsyncSession, ticket: Ticket, level: CustomerLevel, *, now: datetime | None = None
) -> None:
    """Recompute every deadline from the ticket's current facts (pure, so always safe).

    Approved extensions (``extension_seconds``) stay on top of the policy's resolution
    deadline, and the ticket's next SLA check is rescheduled from the new facts.
    """
    rules = await load_rules(session)
    deadlines = compute_deadlines(
        policy=rules.policy,
        calendar=rules.calendar,
        registered_at=ticket.created_at or now or utcnow(),
        urgency=str(ticket.urgency),
        priority=str(ticket.priority),
        request_type=str(ticket.request_type) if ticket.request_type else None,
        customer_level=str(level),
        assigned_at=ticket.assigned_at,
        pauses=paused_time(ticket),
    )
    ticket.first_response_due = deadlines.first_response_due
    ticket.acknowledge_due = deadlines.acknowledge_due
    ticket.resolution_due = deadlines.resolution_due + timedelta(
        seconds=ticket.extension_seconds or 0
    )
    ticket.reminder_due = deadlines.reminder_due
    ticket.sla_next_at = next_check_at(ticket, rules)


def card_state(ticket: Ticket, now: datetime) -> SlaStatus:
    """What a board card shows: the resolution clock, or PAUSED-as-OK while waiting."""
    if ticket.status not in OPEN_STATES:
        return sla_state(
            ticket.resolution_due, now, done=True, done_at=ticket.resolved_at or ticket.closed_at
        )
    if ticket.paused_since is not None:
        return SlaStatus(SlaState.OK, None)
    # The first response is the sharper deadline until someone has answered.
    due = running_due(
        ticket.status,
        ticket.paused_since,
        ticket.first_responded_at,
        ticket.first_response_due,
        ticket.resolution_due,
    )
    return sla_state(due, now, done=False, started_at=ticket.created_at)


# --- what the tick does for a ticket, and when --------------------------------------------


class TicketFacts(Protocol):
    """The ticket columns the SLA rules read (an ORM row or a selected row both fit)."""

    status: TicketStatus
    paused_since: datetime | None
    assignee_id: int | None
    reminder_due: datetime | None
    acknowledge_due: datetime | None
    acknowledged_at: datetime | None
    first_response_due: datetime | None
    first_responded_at: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True, order=True)
class Trigger:
    """One SLA action a ticket calls for at instant ``at``: (rule, level) fires once."""

    at: datetime
    rule: str
    level: int


def escalation_instants(acknowledge_due: datetime, ladder: Sequence[int]) -> list[datetime]:
    """When each escalation level falls due: level 1 at the acknowledgement deadline, each
    further level ``ladder[i]`` minutes (wall clock) after the one before."""
    instants = [acknowledge_due]
    for minutes in ladder:
        instants.append(instants[-1] + timedelta(minutes=minutes))
    return instants


def confirmation_due(ticket: TicketFacts, rules: Rules) -> datetime | None:
    """When a ticket awaiting the customer's confirmation is completed for them (the
    policy's silence, counted on the calendar from when it started waiting); else None."""
    if TicketStatus(ticket.status) is not TicketStatus.AWAITING_CONFIRMATION:
        return None
    if ticket.paused_since is None:
        return None
    silence = rules.policy.confirmation_silence
    return rules.calendar.add(ticket.paused_since, silence.duration, business=silence.business)


def confirmation_level(paused_since: datetime) -> int:
    """The level a silence rule fires at: the minute the wait began, so each wait for a
    confirmation (a ticket may wait again after the customer said "not solved") fires once."""
    return int(paused_since.timestamp() // 60)


def ticket_triggers(
    ticket: TicketFacts,
    ladder: Sequence[int],
    *,
    resolution_level: int = 0,
    silence_ends: datetime | None = None,
) -> list[Trigger]:
    """Every SLA action the ticket's current facts call for, due or not, in time order.

    * ``urgent_reminder``: an urgent ticket still pending at its reminder instant;
    * ``escalation`` levels 1…: assigned, not acknowledged, at the acknowledgement deadline
      and then up the ladder;
    * ``first_response_overdue``: nobody has answered by the first-response deadline;
    * ``resolution_overdue``: still open at the resolution deadline; its level counts the
      approved extensions, so each extended deadline can fall due once more.

    Closed or completed tickets call for nothing, and neither do paused ones: their clock
    stands still until they resume (which recomputes the deadlines) — apart from
    ``confirmation_silence`` at ``silence_ends`` (see :func:`confirmation_due`), when a ticket
    awaiting the customer's confirmation has heard nothing back.
    """
    status = TicketStatus(ticket.status)
    if status not in OPEN_STATES:
        return []
    if ticket.paused_since is not None:
        if status is TicketStatus.AWAITING_CONFIRMATION and silence_ends is not None:
            level = confirmation_level(ticket.paused_since)
            return [Trigger(silence_ends, RULE_CONFIRMATION, level)]
        return []
    found: list[Trigger] = []
    if status is TicketStatus.PENDING and ticket.reminder_due is not None:
        found.append(Trigger(ticket.reminder_due, RULE_REMINDER, 0))
    if (
        ticket.assignee_id is not None
        and ticket.acknowledge_due is not None
        and ticket.acknowledged_at is None
    ):
        for level, at in enumerate(escalation_instants(ticket.acknowledge_due, ladder), 1):
            found.append(Trigger(at, RULE_ESCALATION, level))
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        found.append(Trigger(ticket.first_response_due, RULE_FIRST_RESPONSE, 0))
    if ticket.resolution_due is not None:
        found.append(Trigger(ticket.resolution_due, RULE_RESOLUTION, resolution_level))
    return sorted(found)


def next_check_at(ticket: TicketFacts, rules: Rules) -> datetime | None:
    """The earliest trigger instant, past or future (a past one is re-checked by the next
    tick, whose insert-or-skip knows whether it already fired); None when nothing is left."""
    found = ticket_triggers(
        ticket, rules.escalation_ladder, silence_ends=confirmation_due(ticket, rules)
    )
    return found[0].at if found else None


def next_after(triggers: Sequence[Trigger], now: datetime) -> datetime | None:
    """The first trigger instant strictly after ``now`` (everything up to ``now`` has been
    attempted by the tick that asks)."""
    return min((t.at for t in triggers if t.at > now), default=None)
