"""The SLA tick: every minute, act on whatever fell due — once, however many workers tick.

:func:`tick` is the one service the ``sla_tick`` cron job calls. It:

* wakes the tickets whose next SLA instant (``Ticket.sla_next_at``, indexed) has passed, works
  out which rules are due (:func:`models.services.sla.policy.ticket_triggers`) and acts: urgent
  reminders, the escalation ladder, overdue marking — then moves ``sla_next_at`` on;
* completes a ticket whose customer left its confirmation unanswered for the policy's silence
  (72 business hours by default), through the tickets commands, which offer the survey;
* turns newly submitted surveys with a score ≤ 3 into a supervisor follow-up task;
* after each working day's close, sends each agent and their lead the day's tickets that have
  no follow-up record;
* re-enqueues triage for tickets still untriaged two minutes after registration, and
  deliveries whose job was lost.

Exactly once: before acting, a worker inserts ``(ticket_id, rule, level)`` into
``sla_actions`` with ON CONFLICT DO NOTHING … RETURNING; only the rows it got back are its to
act on. A second worker ticking at the same moment gets nothing back and does nothing.

Writes: the tick changes a ticket's row only through the tickets command layer's bulk entries
(:func:`models.services.tickets.write.mark_overdue` for ``overdue_since``,
:func:`~models.services.tickets.write.reschedule_sla` for ``sla_next_at``), one statement for
many rows; their docstrings say why those two flag columns leave the version alone.

Cost: every query is a range over an index of instants (``sla_next_at``,
``surveys.submitted_at``, ``tickets.created_at``, the untriaged index) bounded by ``now``,
so a tick reads the tickets that are due, not the tickets stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import record_event, record_job
from models.enums import ExtensionStatus, FollowUpMethod, Role, TicketStatus
from models.extension import ExtensionRequest
from models.followup import FollowUp
from models.i18n import render
from models.services.admin.org import Org, load_org
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_
from models.services.common.jobs import triage_sweep_job
from models.services.notify import notifications
from models.services.sla import policy
from models.services.sla.deadlines import BusinessCalendar
from models.services.tickets import commands, surveys
from models.settings import get_settings
from models.sla_action import SlaAction
from models.survey import Survey
from models.ticket import Ticket
from models.user import User

BATCH = 500
MAX_TICKETS_PER_TICK = 20_000
UNTRIAGED_AFTER = timedelta(minutes=2)
UNTRIAGED_BATCH = 500
CSAT_LOOKBACK = timedelta(days=3)
FOLLOW_UP_WITHIN = timedelta(hours=24)
DIGEST_LOOKBACK = timedelta(hours=24)
DIGEST_LIST_MAX = 20
SYSTEM = Actor.system("sla")
OVERDUE_RULES = (policy.RULE_FIRST_RESPONSE, policy.RULE_RESOLUTION)

_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.version,
    Ticket.status,
    Ticket.paused_since,
    Ticket.assignee_id,
    Ticket.department_id,
    Ticket.reminder_due,
    Ticket.acknowledge_due,
    Ticket.acknowledged_at,
    Ticket.first_response_due,
    Ticket.first_responded_at,
    Ticket.resolution_due,
    Ticket.overdue_since,
    Ticket.extension_seconds,
    Ticket.sla_next_at,
)


@dataclass
class TickReport:
    """What one tick did (logged by the job, printed by the benchmark)."""

    now: datetime
    woken: int = 0
    reminders: int = 0
    escalations: int = 0
    overdue: int = 0
    low_csat_follow_ups: int = 0
    auto_completed: int = 0
    digest_tickets: int = 0
    digest_notifications: int = 0
    requeued_triage: int = 0
    requeued_deliveries: int = 0
    skipped: int = 0  # due actions another worker had already taken

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data


@dataclass(frozen=True)
class Claim:
    ticket_id: int
    rule: str
    level: int


async def claim(session: AsyncSession, wanted: Sequence[Claim], now: datetime) -> set[Claim]:
    """Insert-or-skip: record these actions as taken; return those this call recorded.

    ON CONFLICT DO NOTHING on the unique (ticket_id, rule, level): a concurrent worker that
    inserted the same row first (committed or not — PostgreSQL waits for it) wins it.
    """
    if not wanted:
        return set()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    got: set[Claim] = set()
    unique = list(dict.fromkeys(wanted))
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        stmt = (
            insert(SlaAction)
            .values(
                [
                    {"ticket_id": c.ticket_id, "rule": c.rule, "level": c.level, "fired_at": now}
                    for c in chunk
                ]
            )
            .on_conflict_do_nothing(index_elements=["ticket_id", "rule", "level"])
            .returning(SlaAction.ticket_id, SlaAction.rule, SlaAction.level)
        )
        got.update(Claim(*row) for row in (await session.execute(stmt)).all())
    return got


# --- who hears about a ticket ---------------------------------------------------------------


async def _members(
    session: AsyncSession, department_ids: Iterable[int | None]
) -> dict[int, list[int]]:
    ids = {d for d in department_ids if d is not None}
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(User.department_id, User.id).where(
                User.department_id.in_(ids),
                User.is_active.is_(True),
                User.role.in_([Role.AGENT, Role.LEAD]),
            )
        )
    ).all()
    members: dict[int, list[int]] = defaultdict(list)
    for department_id, user_id in rows:
        if department_id is not None:
            members[department_id].append(user_id)
    return members


async def _names(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


# --- the due tickets ------------------------------------------------------------------------


async def _resolution_levels(session: AsyncSession, rows: Sequence[Any]) -> dict[int, int]:
    """How many extensions were approved per ticket (only for tickets that have any)."""
    ids = [r.id for r in rows if (r.extension_seconds or 0) > 0]
    if not ids:
        return {}
    stmt = (
        select(ExtensionRequest.ticket_id, func.count())
        .where(
            ExtensionRequest.ticket_id.in_(ids), ExtensionRequest.status == ExtensionStatus.APPROVED
        )
        .group_by(ExtensionRequest.ticket_id)
    )
    return {tid: int(n) for tid, n in (await session.execute(stmt)).all()}


async def _due_batch(
    session: AsyncSession, now: datetime, after: tuple[datetime, int] | None
) -> Sequence[Any]:
    stmt = select(*_TICKET_COLUMNS).where(Ticket.sla_next_at <= now)
    if after is not None:
        stmt = stmt.where(
            or_(
                Ticket.sla_next_at > after[0],
                and_(Ticket.sla_next_at == after[0], Ticket.id > after[1]),
            )
        )
    stmt = stmt.order_by(Ticket.sla_next_at, Ticket.id).limit(BATCH)
    return (await session.execute(stmt)).all()


async def _act(
    session: AsyncSession,
    row: Any,
    action: Claim,
    org: Org,
    members: dict[int, list[int]],
    names: dict[int, str],
    now: datetime,
    report: TickReport,
) -> None:
    params: dict[str, Any] = {"number": row.number}
    if action.rule == policy.RULE_REMINDER:
        recipients = [
            row.assignee_id,
            org.supervisor(row.department_id),
            *members.get(row.department_id or -1, []),
        ]
        if not any(recipients):
            recipients = list(org.admins)
        await notifications.notify(
            session,
            kind=notifications.KIND_REMINDER,
            ticket_id=row.id,
            department_id=row.department_id,
            user_ids=recipients,
            params=params,
            key=f"sla:{row.id}:{action.rule}:{action.level}",
            message=N_(
                "Urgent ticket %(number)s is still pending 30 minutes after "
                "registration. Please start on it now."
            ),
        )
        report.reminders += 1
    elif action.rule == policy.RULE_ESCALATION:
        rungs = org.ladder(row.department_id)
        if action.level > len(rungs):
            return  # the ladder has no rung this high: nothing more to climb
        params.update(level=action.level, assignee=names.get(row.assignee_id or -1, "?"))
        await notifications.notify(
            session,
            kind=notifications.KIND_ESCALATION,
            ticket_id=row.id,
            department_id=row.department_id,
            user_ids=rungs[action.level - 1],
            params=params,
            key=f"sla:{row.id}:{action.rule}:{action.level}",
            message=N_(
                "Escalation level %(level)s: ticket %(number)s was assigned to "
                "%(assignee)s and has not been acknowledged in time."
            ),
        )
        report.escalations += 1
    else:
        recipients = [row.assignee_id] if row.assignee_id else org.first_rung(row.department_id)
        message = (
            N_(
                "Ticket %(number)s missed its first-response deadline. Record the reason; "
                "you may request an extension."
            )
            if action.rule == policy.RULE_FIRST_RESPONSE
            else N_(
                "Ticket %(number)s missed its resolution deadline. Record the reason; "
                "you may request an extension."
            )
        )
        await notifications.notify(
            session,
            kind=notifications.KIND_OVERDUE,
            ticket_id=row.id,
            department_id=row.department_id,
            user_ids=recipients,
            params=params,
            key=f"sla:{row.id}:{action.rule}:{action.level}",
            message=message,
        )
        report.overdue += 1


async def _due_tickets(
    session: AsyncSession, rules: policy.Rules, org: Org, now: datetime, report: TickReport
) -> None:
    after: tuple[datetime, int] | None = None
    while report.woken < MAX_TICKETS_PER_TICK:
        rows = await _due_batch(session, now, after)
        if not rows:
            return
        after = (rows[-1].sla_next_at, rows[-1].id)
        report.woken += len(rows)
        levels = await _resolution_levels(session, rows)
        wanted: list[Claim] = []
        updates: list[dict[str, Any]] = []
        by_id = {r.id: r for r in rows}
        for row in rows:
            triggers = policy.ticket_triggers(
                row,
                rules.escalation_ladder,
                resolution_level=levels.get(row.id, 0),
                silence_ends=policy.confirmation_due(row, rules),
            )
            wanted += [Claim(row.id, t.rule, t.level) for t in triggers if t.at <= now]
            updates.append(
                {"tid": row.id, "ver": row.version, "nxt": policy.next_after(triggers, now)}
            )
        got = await claim(session, wanted, now)
        report.skipped += len(set(wanted)) - len(got)
        if got:
            members = await _members(
                session,
                [by_id[c.ticket_id].department_id for c in got if c.rule == policy.RULE_REMINDER],
            )
            names = await _names(session, [by_id[c.ticket_id].assignee_id for c in got])
            ordered = sorted(got, key=lambda c: (c.ticket_id, c.rule, c.level))
            await commands.mark_overdue(
                session,
                SYSTEM,
                [
                    commands.OverdueFlag(c.ticket_id, c.rule, by_id[c.ticket_id].version)
                    for c in ordered
                    if c.rule in OVERDUE_RULES
                ],
                now,
            )
            for action in ordered:
                if action.rule == policy.RULE_CONFIRMATION:
                    row = by_id[action.ticket_id]
                    if await _complete_unconfirmed(session, rules, row, now):
                        report.auto_completed += 1
                    continue
                await _act(
                    session, by_id[action.ticket_id], action, org, members, names, now, report
                )
        await commands.reschedule_sla(session, updates)
        if len(rows) < BATCH:
            return


async def _complete_unconfirmed(
    session: AsyncSession, rules: policy.Rules, row: Any, now: datetime
) -> bool:
    """The customer never answered "solved / not solved": the ticket is completed for them,
    the timeline says why, and the survey is offered (the command re-checks the wait)."""
    silence = rules.policy.confirmation_silence
    ticket = await commands.get(session, row.id)
    return await commands.complete_unconfirmed(
        session,
        SYSTEM,
        ticket,
        waiting_since=row.paused_since,
        hours=silence.minutes // 60,
        now=now,
    )


# --- low satisfaction -----------------------------------------------------------------------


async def _low_csat(session: AsyncSession, org: Org, now: datetime, report: TickReport) -> None:
    """A submitted survey with any score ≤ 3 → a follow-up task for the supervisor, once."""
    low = surveys.low_score_clause()  # the survey service's definition of "any score ≤ 3"
    done = exists().where(
        SlaAction.ticket_id == Survey.ticket_id, SlaAction.rule == policy.RULE_LOW_CSAT
    )
    rows = (
        await session.execute(
            select(
                Survey.ticket_id,
                Survey.speed_score,
                Survey.solution_score,
                Survey.attitude_score,
                Ticket.number,
                Ticket.department_id,
                Ticket.assignee_id,
            )
            .join(Ticket, Ticket.id == Survey.ticket_id)
            .where(
                Survey.submitted_at > now - CSAT_LOOKBACK, Survey.submitted_at <= now, low, ~done
            )
            .order_by(Survey.submitted_at)
        )
    ).all()
    got = await claim(session, [Claim(r.ticket_id, policy.RULE_LOW_CSAT, 0) for r in rows], now)
    locale = get_settings().default_locale
    for row in rows:
        if Claim(row.ticket_id, policy.RULE_LOW_CSAT, 0) not in got:
            continue
        owner = org.supervisor(row.department_id) or next(iter(org.first_rung(None)), None)
        params = {
            "number": row.number,
            "speed": row.speed_score or "-",
            "solution": row.solution_score or "-",
            "attitude": row.attitude_score or "-",
        }
        follow_up = FollowUp(
            ticket_id=row.ticket_id,
            at=now,
            user_id=None,
            by_customer=False,
            method=FollowUpMethod.PHONE,
            discussed=render(
                N_(
                    "Low satisfaction scores (speed %(speed)s, solution %(solution)s, "
                    "attitude %(attitude)s): call the customer back."
                ),
                params,
                locale,
            ),
            next_step=render(N_("Supervisor follow-up call within 24 hours."), {}, locale),
            next_owner_id=owner,
            next_due_at=now + FOLLOW_UP_WITHIN,
            done=False,
        )
        session.add(follow_up)
        await session.flush()
        audit.record(
            session,
            SYSTEM,
            entity_type="follow_up",
            entity_id=follow_up.id,
            ticket_id=row.ticket_id,
            action="low_csat_follow_up",
            after={"next_owner_id": owner},
        )
        await notifications.notify(
            session,
            kind=notifications.KIND_LOW_CSAT,
            ticket_id=row.ticket_id,
            department_id=row.department_id,
            user_ids=[owner],
            params=params,
            key=f"sla:{row.ticket_id}:{policy.RULE_LOW_CSAT}:0",
            message=N_(
                "The customer of %(number)s gave low satisfaction scores (speed "
                "%(speed)s, solution %(solution)s, attitude %(attitude)s). Please "
                "follow up within 24 hours."
            ),
        )
        record_event(session, "ticket.updated", ticket_id=row.ticket_id)
        report.low_csat_follow_ups += 1


# --- the end-of-day list --------------------------------------------------------------------


def last_close(
    calendar: BusinessCalendar, now: datetime, lookback: timedelta = DIGEST_LOOKBACK
) -> datetime | None:
    """The latest working-day close at or before ``now``, if within ``lookback``."""
    today = now.astimezone(calendar.zone).date()
    for back in range(0, 8):
        close = calendar.closing_time(today - timedelta(days=back))
        if close is not None and close <= now:
            return close if now - close <= lookback else None
    return None


def previous_close(calendar: BusinessCalendar, close: datetime) -> datetime:
    """The working-day close before ``close`` (the start of the day's digest window)."""
    day: date = close.astimezone(calendar.zone).date()
    for back in range(1, 32):
        earlier = calendar.closing_time(day - timedelta(days=back))
        if earlier is not None:
            return earlier
    return close - timedelta(days=1)


def _numbers(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:DIGEST_LIST_MAX])
    return shown + (" …" if len(numbers) > DIGEST_LIST_MAX else "")


async def _digest(
    session: AsyncSession, rules: policy.Rules, org: Org, now: datetime, report: TickReport
) -> None:
    """After a working day closes: each agent's tickets registered that day (since the
    previous close) without any follow-up record, to the agent and to their lead."""
    close = last_close(rules.calendar, now)
    if close is None:
        return
    start = previous_close(rules.calendar, close)
    followed = exists().where(FollowUp.ticket_id == Ticket.id)
    listed = exists().where(
        SlaAction.ticket_id == Ticket.id, SlaAction.rule == policy.RULE_NO_FOLLOW_UP
    )
    rows = (
        await session.execute(
            select(Ticket.id, Ticket.number, Ticket.assignee_id, Ticket.department_id)
            .where(Ticket.created_at > start, Ticket.created_at <= close, ~followed, ~listed)
            .order_by(Ticket.id)
        )
    ).all()
    got = await claim(session, [Claim(r.id, policy.RULE_NO_FOLLOW_UP, 0) for r in rows], now)
    mine = [r for r in rows if Claim(r.id, policy.RULE_NO_FOLLOW_UP, 0) in got]
    if not mine:
        return
    report.digest_tickets += len(mine)
    by_agent: dict[int, list[str]] = defaultdict(list)
    by_lead: dict[int, list[str]] = defaultdict(list)
    for row in mine:
        if row.assignee_id is not None:
            by_agent[row.assignee_id].append(row.number)
        for lead in org.first_rung(row.department_id):
            if lead != row.assignee_id:
                by_lead[lead].append(row.number)
    day = close.astimezone(rules.calendar.zone).date().isoformat()
    for user_id, numbers in sorted(by_agent.items()):
        await notifications.notify(
            session,
            kind=notifications.KIND_DIGEST,
            user_ids=[user_id],
            key=f"digest:{day}:u{user_id}",
            params={"count": len(numbers), "numbers": _numbers(numbers), "day": day},
            message=N_(
                "%(day)s: %(count)s of your tickets registered today have no "
                "follow-up record: %(numbers)s"
            ),
        )
        report.digest_notifications += 1
    for user_id, numbers in sorted(by_lead.items()):
        await notifications.notify(
            session,
            kind=notifications.KIND_DIGEST,
            user_ids=[user_id],
            key=f"digest:{day}:l{user_id}",
            params={"count": len(numbers), "numbers": _numbers(numbers), "day": day},
            message=N_(
                "%(day)s: %(count)s tickets registered today in your team have no "
                "follow-up record: %(numbers)s"
            ),
        )
        report.digest_notifications += 1


# --- sweepers -------------------------------------------------------------------------------


async def _untriaged(session: AsyncSession, now: datetime, report: TickReport) -> None:
    """Tickets still untriaged two minutes after registration: enqueue triage again under
    the same job id (arq ignores it while the first job is queued or running)."""
    ids = (
        await session.scalars(
            select(Ticket.id)
            .where(Ticket.triaged_at.is_(None), Ticket.created_at <= now - UNTRIAGED_AFTER)
            .order_by(Ticket.created_at)
            .limit(UNTRIAGED_BATCH)
        )
    ).all()
    for ticket_id in ids:
        # A fresh job id per ten-minute window (see triage_sweep_job).
        record_job(session, triage_sweep_job(ticket_id, now))
    report.requeued_triage = len(ids)


async def tick(session: AsyncSession, now: datetime | None = None) -> TickReport:
    """One SLA tick at ``now`` (default: the current instant). The caller commits."""
    now = now or utcnow()
    report = TickReport(now)
    rules = await policy.load_rules(session)
    org = await load_org(session)
    await _due_tickets(session, rules, org, now, report)
    await _low_csat(session, org, now, report)
    await _digest(session, rules, org, now, report)
    await _untriaged(session, now, report)
    report.requeued_deliveries = await notifications.requeue_lost_deliveries(session, now)
    return report


async def schedule_unscheduled(session: AsyncSession) -> int:
    """Give open tickets that have no next check (rows inserted in bulk, e.g. by the demo
    filler or an import) their ``sla_next_at``. Idempotent; returns how many were set."""
    rules = await policy.load_rules(session)
    set_count, last_id = 0, 0
    while True:
        rows = (
            await session.execute(
                select(*_TICKET_COLUMNS)
                .where(
                    Ticket.id > last_id,
                    Ticket.sla_next_at.is_(None),
                    Ticket.status.in_(policy.OPEN_STATES),
                    Ticket.merged_into_id.is_(None),  # (always true of an open ticket)
                    # Paused tickets have nothing to check, except the wait for a confirmation.
                    or_(
                        Ticket.paused_since.is_(None),
                        Ticket.status == TicketStatus.AWAITING_CONFIRMATION,
                    ),
                )
                .order_by(Ticket.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return set_count
        last_id = rows[-1].id
        updates = [
            {"tid": r.id, "ver": r.version, "nxt": at}
            for r in rows
            if (at := policy.next_check_at(r, rules)) is not None
        ]
        await commands.reschedule_sla(session, updates)
        set_count += len(updates)
