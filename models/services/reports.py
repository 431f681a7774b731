"""Record 5: the periodic problem summary, computed from tickets and surveys (never typed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import RequestType, TicketStatus
from models.survey import Survey
from models.ticket import Ticket


@dataclass(frozen=True)
class TypeSummary:
    request_type: RequestType
    count: int
    share: float
    avg_handling_hours: float | None
    avg_speed: float | None
    avg_solution: float | None
    avg_attitude: float | None
    resolution_rate: float | None


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 1) if seconds is not None else None


async def summary_by_type(
    session: AsyncSession, start: datetime, end: datetime
) -> list[TypeSummary]:
    """Per request type, for tickets registered in [start, end)."""
    in_period = (Ticket.created_at >= start) & (Ticket.created_at < end)
    resolved = Ticket.status.in_([TicketStatus.COMPLETED, TicketStatus.CLOSED])
    rows = (await session.execute(
        select(
            Ticket.request_type,
            func.count(Ticket.id),
            func.sum(case((resolved, 1), else_=0)),
        ).where(in_period, Ticket.request_type.is_not(None)).group_by(Ticket.request_type)
    )).all()
    handled = await session.execute(
        select(Ticket.request_type, Ticket.created_at, Ticket.resolved_at)
        .where(in_period, Ticket.resolved_at.is_not(None), Ticket.request_type.is_not(None))
    )
    durations: dict[RequestType, list[float]] = {}
    for request_type, created, resolved_at in handled:
        durations.setdefault(request_type, []).append((resolved_at - created).total_seconds())
    scores = {
        row[0]: row[1:]
        for row in (await session.execute(
            select(Survey.service_type, func.avg(Survey.speed_score),
                   func.avg(Survey.solution_score), func.avg(Survey.attitude_score))
            .join(Ticket, Ticket.id == Survey.ticket_id)
            .where(in_period, Survey.submitted_at.is_not(None))
            .group_by(Survey.service_type)
        )).all()
    }
    total = sum(count for _, count, _ in rows) or 1
    result = []
    for request_type in RequestType:
        count, done = next(((c, d or 0) for t, c, d in rows if t == request_type), (0, 0))
        spans = durations.get(request_type, [])
        speed, solution, attitude = scores.get(request_type, (None, None, None))
        result.append(TypeSummary(
            request_type=request_type,
            count=count,
            share=round(count / total, 4),
            avg_handling_hours=_hours(sum(spans) / len(spans)) if spans else None,
            avg_speed=round(float(speed), 2) if speed is not None else None,
            avg_solution=round(float(solution), 2) if solution is not None else None,
            avg_attitude=round(float(attitude), 2) if attitude is not None else None,
            resolution_rate=round(done / count, 4) if count else None,
        ))
    return result
