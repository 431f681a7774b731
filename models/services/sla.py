"""Applies the SLA policy to tickets: deadlines on every change, and the board's SLA state.

The arithmetic is in :mod:`models.services.deadlines` (pure); this module loads the
admin-edited policy and calendar and writes the results onto the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import CustomerLevel, TicketStatus
from models.services.deadlines import (
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

_CACHE_KEY = "kefu_sla_rules"
OPEN_STATES = (TicketStatus.PENDING, TicketStatus.IN_PROGRESS,
               TicketStatus.AWAITING_CONFIRMATION)


@dataclass(frozen=True)
class Rules:
    policy: SlaPolicy
    calendar: BusinessCalendar
    escalation_ladder: tuple[int, ...]


DEFAULT_LADDER = (60, 120, 240)


async def load_rules(session: AsyncSession) -> Rules:
    """The default policy and calendar rows (or the shipped defaults), once per transaction."""
    cached = session.info.get(_CACHE_KEY)
    if isinstance(cached, Rules):
        return cached
    policy_row = await session.scalar(select(PolicyRow).where(PolicyRow.is_default.is_(True)))
    calendar_row = await session.scalar(
        select(CalendarRow).where(CalendarRow.is_default.is_(True))
    )
    policy = SlaPolicy.from_config(policy_row.config) if policy_row else DEFAULT_POLICY
    calendar = DEFAULT_CALENDAR
    if calendar_row is not None:
        calendar = BusinessCalendar.from_config(
            timezone=calendar_row.timezone, work_intervals=calendar_row.work_intervals,
            weekdays=calendar_row.weekdays, holidays=calendar_row.holidays,
            workdays=calendar_row.workdays,
        )
    ladder = tuple(policy_row.escalation_ladder) if policy_row and policy_row.escalation_ladder \
        else DEFAULT_LADDER
    rules = Rules(policy, calendar, ladder)
    session.info[_CACHE_KEY] = rules
    return rules


def paused_time(ticket: Ticket) -> PausedTime:
    return PausedTime(
        wall=timedelta(seconds=ticket.paused_seconds or 0),
        business=timedelta(seconds=ticket.paused_business_seconds or 0),
    )


def close_pause(ticket: Ticket, calendar: BusinessCalendar, now: datetime) -> None:
    """Resume the clock: add the finished pause to the ticket's paused totals."""
    if ticket.paused_since is None:
        return
    ticket.paused_seconds += int((now - ticket.paused_since).total_seconds())
    ticket.paused_business_seconds += int(
        calendar.between(ticket.paused_since, now).total_seconds()
    )
    ticket.paused_since = None


async def refresh_deadlines(
    session: AsyncSession, ticket: Ticket, level: CustomerLevel, *, now: datetime | None = None
) -> None:
    """Recompute every deadline from the ticket's current facts (pure, so always safe)."""
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
    ticket.resolution_due = deadlines.resolution_due
    ticket.reminder_due = deadlines.reminder_due


def card_state(ticket: Ticket, now: datetime) -> SlaStatus:
    """What a board card shows: the resolution clock, or PAUSED-as-OK while waiting."""
    if ticket.status not in OPEN_STATES:
        return sla_state(ticket.resolution_due, now, done=True,
                         done_at=ticket.resolved_at or ticket.closed_at)
    if ticket.paused_since is not None:
        return SlaStatus(SlaState.OK, None)
    # The first response is the sharper deadline until someone has answered.
    due = ticket.resolution_due
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        due = min(ticket.first_response_due, due) if due else ticket.first_response_due
    return sla_state(due, now, done=False, started_at=ticket.created_at)
